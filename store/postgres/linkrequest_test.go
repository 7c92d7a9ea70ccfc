package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// TestLinkRequestToTheHolder: a replica that does not hold an account's
// lease hands a link request to the holder: the holder hears it (NOTIFY),
// takes it once, stores its outcome (a refusal's code and message), the
// requester reads that and deletes the row. With no live holder there is
// no request (the requester claims the lease itself).
func TestLinkRequestToTheHolder(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	ref := wagate.AccountRef{WorkspaceID: "ws", Phone: "+14155550001"}

	if _, _, err := r.b.RequestLink(ctx, ref, "scan"); wagate.ErrorCode(err) != wagate.EINVALID {
		t.Errorf("RequestLink of action scan: %v, want EINVALID", err)
	}
	if id, holder, err := r.b.RequestLink(ctx, ref, LinkActionQR); err != nil || holder != "" || id != 0 {
		t.Errorf("RequestLink with no lease held = %d, %q, %v; want no request and no holder", id, holder, err)
	}

	if err := r.a.ClaimLease(ctx, ref); err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(ctx)
	heard := make(chan struct{}, 8)
	done := make(chan error, 1)
	go func() { done <- r.a.ListenLinkRequests(lctx, func() { heard <- struct{}{} }) }()
	defer func() { stop(); <-done }()
	<-heard // listening

	id, holder, err := r.b.RequestLink(ctx, ref, LinkActionCode)
	if err != nil || holder != "a" || id == 0 {
		t.Fatalf("RequestLink = %d, %q, %v; want a request to replica a", id, holder, err)
	}
	<-heard // the request's notification
	if got, err := r.b.TakeLinkRequests(ctx); err != nil || len(got) != 0 {
		t.Errorf("b's TakeLinkRequests = %v, %v; want none (a holds the lease)", got, err)
	}
	got, err := r.a.TakeLinkRequests(ctx)
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Account != ref || got[0].Action != LinkActionCode || got[0].RequestedBy != "b" {
		t.Fatalf("a's TakeLinkRequests = %+v, %v; want b's request", got, err)
	}
	if again, err := r.a.TakeLinkRequests(ctx); err != nil || len(again) != 0 {
		t.Errorf("a's TakeLinkRequests again = %v, %v; want none (taken)", again, err)
	}
	if o, err := r.b.LinkRequestOutcome(ctx, id); err != nil || o.Done {
		t.Errorf("outcome before the holder ran it = %+v, %v; want not done", o, err)
	}
	refusal := wagate.Errorf(wagate.ECONFLICT, "account %s is linked and connected; unlink it first", ref.Phone)
	if err := r.a.FinishLinkRequest(ctx, id, refusal); err != nil {
		t.Fatal(err)
	}
	<-heard // the outcome's notification
	o, err := r.b.LinkRequestOutcome(ctx, id)
	if err != nil || !o.Done || o.ErrorCode != wagate.ECONFLICT || o.ErrorMessage != refusal.Message {
		t.Errorf("outcome = %+v, %v; want done with a's refusal", o, err)
	}
	if err := r.b.DeleteLinkRequest(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := r.b.LinkRequestOutcome(ctx, id); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("outcome after DeleteLinkRequest: %v, want ENOTFOUND", err)
	}

	// A request whose requester died is dropped by a later one.
	old, _, err := r.b.RequestLink(ctx, ref, LinkActionUnlink)
	if err != nil {
		t.Fatal(err)
	}
	r.clock.advance(linkRequestTTL + time.Second)
	if err := r.a.ClaimLease(ctx, ref); err != nil { // renewed: a still holds it
		t.Fatal(err)
	}
	if _, _, err := r.b.RequestLink(ctx, ref, LinkActionUnlink); err != nil {
		t.Fatal(err)
	}
	if _, err := r.b.LinkRequestOutcome(ctx, old); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("outcome of a request older than linkRequestTTL: %v, want ENOTFOUND (dropped)", err)
	}

	// The lease expired: no holder, no request.
	r.clock.advance(testTTL + time.Second)
	if id, holder, err := r.b.RequestLink(ctx, ref, LinkActionQR); err != nil || holder != "" || id != 0 {
		t.Errorf("RequestLink after the lease expired = %d, %q, %v; want no request and no holder", id, holder, err)
	}
}

// TestLinkRequestHandedAgain: a requester waiting for a holder that died
// (its lease expired, no longer a live replica) after taking the request
// hands it to the lease's new holder; the dead holder's late outcome is
// not stored (the new holder's is); a done request keeps its outcome; a
// request taken by a replica still live is left to it; with no holder
// left the request is deleted for the requester to run itself.
func TestLinkRequestHandedAgain(t *testing.T) {
	r := newReplicas(t)
	c := r.open("c")
	ctx := context.Background()
	ref := wagate.AccountRef{WorkspaceID: "ws", Phone: "+14155550001"}

	if err := r.a.ClaimLease(ctx, ref); err != nil {
		t.Fatal(err)
	}
	id, holder, err := r.b.RequestLink(ctx, ref, LinkActionQR)
	if err != nil || holder != "a" {
		t.Fatalf("RequestLink = %d, %q, %v; want a request to a", id, holder, err)
	}
	if h, err := r.b.RehandLinkRequest(ctx, id); err != nil || h != "a" {
		t.Errorf("RehandLinkRequest while a holds the lease = %q, %v; want a", h, err)
	}
	if got, err := r.a.TakeLinkRequests(ctx); err != nil || len(got) != 1 {
		t.Fatalf("a's TakeLinkRequests = %v, %v; want b's request", got, err)
	}

	// a dies: its lease expires and c claims the account.
	r.clock.advance(testTTL + time.Second)
	if err := c.ClaimLease(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if h, err := r.b.RehandLinkRequest(ctx, id); err != nil || h != "c" {
		t.Fatalf("RehandLinkRequest after a died = %q, %v; want c", h, err)
	}
	if err := r.a.FinishLinkRequest(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if o, err := r.b.LinkRequestOutcome(ctx, id); err != nil || o.Done {
		t.Errorf("outcome after the dead holder's late finish = %+v, %v; want not done (c's now)", o, err)
	}
	got, err := c.TakeLinkRequests(ctx)
	if err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("c's TakeLinkRequests = %+v, %v; want the request handed again", got, err)
	}
	refusal := wagate.Errorf(wagate.ECONFLICT, "account %s is linked and connected; unlink it first", ref.Phone)
	if err := c.FinishLinkRequest(ctx, id, refusal); err != nil {
		t.Fatal(err)
	}
	// Done: it stays c's, whoever holds the lease now.
	r.clock.advance(testTTL + time.Second)
	if h, err := r.b.RehandLinkRequest(ctx, id); err != nil || h != "c" {
		t.Errorf("RehandLinkRequest of a done request = %q, %v; want c", h, err)
	}
	if o, err := r.b.LinkRequestOutcome(ctx, id); err != nil || !o.Done || o.ErrorCode != wagate.ECONFLICT {
		t.Errorf("outcome = %+v, %v; want c's refusal", o, err)
	}

	// Taken by c, still a live replica, which freed the lease (a hand-over):
	// c may be running it, so it stays c's.
	if err := c.ClaimLease(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lease(ctx); err != nil { // registers c as live
		t.Fatal(err)
	}
	id, holder, err = r.b.RequestLink(ctx, ref, LinkActionUnlink)
	if err != nil || holder != "c" {
		t.Fatalf("RequestLink = %d, %q, %v; want a request to c", id, holder, err)
	}
	if got, err := c.TakeLinkRequests(ctx); err != nil || len(got) != 1 {
		t.Fatalf("c's TakeLinkRequests = %v, %v", got, err)
	}
	if _, err := c.pool.Exec(ctx, `UPDATE account_leases SET owner = '', expires_at = NULL WHERE phone = $1`, ref.Phone); err != nil {
		t.Fatal(err)
	}
	if h, err := r.b.RehandLinkRequest(ctx, id); err != nil || h != "c" {
		t.Errorf("RehandLinkRequest of a request taken by a live replica = %q, %v; want c", h, err)
	}

	// c dies too, and nobody holds the lease: the requester runs it.
	r.clock.advance(testTTL + time.Second)
	if h, err := r.b.RehandLinkRequest(ctx, id); err != nil || h != "" {
		t.Errorf("RehandLinkRequest with no holder left = %q, %v; want \"\"", h, err)
	}
	if _, err := r.b.LinkRequestOutcome(ctx, id); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("outcome after the request came back: %v, want ENOTFOUND (deleted)", err)
	}
	if _, err := r.b.RehandLinkRequest(ctx, id); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("RehandLinkRequest of a deleted request: %v, want ENOTFOUND", err)
	}
}
