package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/wagate/wagate"
)

// A whatsapp account's session (its WhatsApp Web connection) must run on
// one replica only, also while it has nothing to send: the lease round
// claims an idle account whose link state says a device is linked.

// linkedAccount creates an idle whatsapp account in link state (""
// leaves it without one) and active or paused.
func (r *replicas) linkedAccount(phone, state string, active bool) wagate.AccountRef {
	r.t.Helper()
	ctx := context.Background()
	ref := wagate.AccountRef{WorkspaceID: "ws", Phone: phone}
	if err := r.a.CreateAccount(ctx, &wagate.Account{WorkspaceID: "ws", Phone: phone, Transport: wagate.TransportWhatsApp, Active: active}); err != nil {
		r.t.Fatalf("CreateAccount: %v", err)
	}
	if state != "" {
		if err := r.a.SetAccountLink(ctx, ref, wagate.AccountLink{State: state, Since: r.clock.Now()}); err != nil {
			r.t.Fatalf("SetAccountLink: %v", err)
		}
	}
	return ref
}

func TestLeaseClaimsIdleLinkedAccountsOnce(t *testing.T) {
	r := newReplicas(t)
	linked := []wagate.AccountRef{
		r.linkedAccount("+14155550001", "connected", true),
		r.linkedAccount("+14155550002", "disconnected", true),
		r.linkedAccount("+14155550003", "banned", true),
	}
	idle := []wagate.AccountRef{
		r.linkedAccount("+14155550011", "", true),           // never linked
		r.linkedAccount("+14155550012", "unlinked", true),   // nothing to connect
		r.linkedAccount("+14155550013", "logged_out", true), // the phone removed the device
		r.linkedAccount("+14155550014", "connected", false), // paused: its session is stopped
		r.account("+14155550015", 0),                        // dryrun, no work
	}

	// Both live before they claim: each claims its share, and a second
	// round moves nothing (replicas.go).
	r.register(r.a, r.b)
	var held [2]map[wagate.AccountRef]wagate.AccountLease
	var wg sync.WaitGroup
	for i, db := range []*DB{r.a, r.b} {
		wg.Go(func() { held[i] = r.lease(db) })
	}
	wg.Wait()
	for _, ref := range linked {
		_, inA := held[0][ref]
		_, inB := held[1][ref]
		if inA == inB {
			t.Errorf("linked idle %s: held by a %v, by b %v; want exactly one replica", ref.Phone, inA, inB)
		}
		if l := held[0][ref]; inA && l.Ready {
			t.Errorf("linked idle %s: ready, want not ready (no queued message)", ref.Phone)
		}
		if r.a.HoldsLease(ref) != inA || r.b.HoldsLease(ref) != inB {
			t.Errorf("%s: HoldsLease a %v b %v, want %v %v", ref.Phone, r.a.HoldsLease(ref), r.b.HoldsLease(ref), inA, inB)
		}
	}
	for _, ref := range idle {
		if _, ok := held[0][ref]; ok {
			t.Errorf("%s claimed by a, want nobody (no session to hold, no work)", ref.Phone)
		}
		if _, ok := held[1][ref]; ok {
			t.Errorf("%s claimed by b, want nobody (no session to hold, no work)", ref.Phone)
		}
	}
	// The holder keeps them; the other never gets them while it renews.
	again := [2]map[wagate.AccountRef]wagate.AccountLease{r.lease(r.a), r.lease(r.b)}
	for i := range held {
		if len(again[i]) != len(held[i]) {
			t.Errorf("replica %d holds %d after a second round, want %d", i, len(again[i]), len(held[i]))
		}
	}
	// The holder's lease expiring (it died): the other takes the session.
	r.clock.advance(testTTL)
	if r.a.HoldsLease(linked[0]) || r.b.HoldsLease(linked[0]) {
		t.Errorf("HoldsLease after the expiry: a %v b %v, want false for both", r.a.HoldsLease(linked[0]), r.b.HoldsLease(linked[0]))
	}
	if got := r.lease(r.b); len(got) != len(linked) {
		t.Errorf("b holds %d after a's leases expired, want every linked account (%d)", len(got), len(linked))
	}
}

func TestClaimLeaseForLinking(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	ref := r.linkedAccount("+14155550001", "unlinked", true)

	// Nobody holds an unlinked idle account: the linking replica claims it.
	if err := r.a.ClaimLease(ctx, ref); err != nil {
		t.Fatalf("a's ClaimLease of a free lease: %v", err)
	}
	if !r.a.HoldsLease(ref) {
		t.Error("a does not hold the lease it claimed")
	}
	if err := r.a.ClaimLease(ctx, ref); err != nil {
		t.Errorf("a's ClaimLease of its own lease: %v", err)
	}
	// Another replica is told which one holds it.
	err := r.b.ClaimLease(ctx, ref)
	if wagate.ErrorCode(err) != wagate.ECONFLICT || !strings.Contains(wagate.ErrorMessage(err), "replica a") {
		t.Errorf("b's ClaimLease of a's lease: %v, want ECONFLICT naming replica a", err)
	}
	if r.b.HoldsLease(ref) {
		t.Error("b holds a lease it was refused")
	}
	// a's lease round keeps it (the claim is a's) though the account is
	// not linked yet, at the epoch of the claim.
	l, ok := r.lease(r.a)[ref]
	if !ok || l.Epoch != 1 {
		t.Errorf("a's lease round after the claim: held %v epoch %d, want held at epoch 1", ok, l.Epoch)
	}
	if !r.a.HoldsLease(ref) {
		t.Error("a lost the claimed lease in its lease round")
	}
}
