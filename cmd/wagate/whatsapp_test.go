package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/store"
)

func init() {
	// Tests never ask web.whatsapp.com for its version.
	whatsappTestConfig = func(c *whatsapp.Config) { c.SkipVersionCheck = true }
}

// TestWhatsAppAccountServe: through the real server, a whatsapp account
// nobody linked is reported unlinked (account object and /metrics), a
// request for it is a 409 that says how to link it, and its link page
// answers the owner with the state.
func TestWhatsAppAccountServe(t *testing.T) {
	if !whatsapp.Built {
		t.Log("built with -tags nowhatsapp: the transport is not wired")
		return
	}
	dir := t.TempDir()
	in := start(t, testConfig(dir, 10*time.Millisecond, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken,
		map[string]any{"phone": "+14155550123", "transport": "whatsapp", "settings": map[string]string{"typing": "true"}})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
	st, bad := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken,
		map[string]any{"phone": "+14155550124", "transport": "whatsapp", "settings": map[string]string{"access_token": "x"}})
	if st != http.StatusBadRequest || !strings.Contains(str(bad["message"]), `"typing"`) {
		t.Errorf("whatsapp account with a cloudapi setting = %d %v, want 400 naming the one setting", st, bad)
	}

	st, body := call(t, "POST", ws.inboundURL, "", map[string]any{"action": "send", "whatsapp_account_phone": "+14155550123", "phone": "+14155552671", "text": "hi"})
	if st != http.StatusConflict || !strings.Contains(str(body["message"]), "wagate account link +14155550123") {
		t.Errorf("send from an unlinked account = %d %v, want 409 saying how to link", st, body)
	}
	st, l := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/accounts/%2B14155550123/link", ws.ownerToken, nil)
	if st != http.StatusOK || l["state"] != "unlinked" || l["qr"] != "" {
		t.Errorf("GET link = %d %v, want unlinked", st, l)
	}
	// The Manager reported the account unlinked when the sender started
	// its session; the store keeps it for the account object.
	waitFor(t, "the stored link state", func() bool {
		_, list := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, nil)
		for _, a := range list["accounts"].([]any) {
			a := a.(map[string]any)
			if link, ok := a["link"].(map[string]any); ok && link["state"] == "unlinked" && link["since"] != nil {
				return true
			}
		}
		return false
	})
	resp, err := http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`wagate_whatsapp_accounts{state="unlinked"} 1`, `wagate_whatsapp_accounts{state="connected"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
}

// TestRelinkGraceRefund: a message queued while the account was
// disconnected waits; once the account is logged out for longer than
// --relink-grace the sweep fails it with a refund, and new sends are 409s.
func TestRelinkGraceRefund(t *testing.T) {
	if !whatsapp.Built {
		t.Log("built with -tags nowhatsapp: the transport is not wired")
		return
	}
	dir := t.TempDir()
	in := start(t, testConfig(dir, 10*time.Millisecond, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": "+14155550123", "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
	ref := wagate.AccountRef{WorkspaceID: ws.id, Phone: "+14155550123"}
	// Wait for the Manager's first report (unlinked) before the test's own states.
	waitFor(t, "the stored link state", func() bool {
		a, err := in.app.db.FindAccount(context.Background(), ref)
		return err == nil && a.Link.State == "unlinked"
	})
	ctx := context.Background()
	if err := in.app.db.SetAccountLink(ctx, ref, wagate.AccountLink{State: "disconnected", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"action": "send", "whatsapp_account_phone": "+14155550123", "phone": "+14155552671", "text": "hi"}
	id := send(t, ws.inboundURL, body)
	loggedOut := time.Now().Add(-25 * time.Hour)
	if err := in.app.db.SetAccountLink(ctx, ref, wagate.AccountLink{State: "logged_out", Since: loggedOut, Error: "removed on the phone"}); err != nil {
		t.Fatal(err)
	}
	if st, body := call(t, "POST", ws.inboundURL, "", body); st != http.StatusConflict {
		t.Errorf("send while logged out = %d %v, want 409", st, body)
	}
	log := zaptest.NewLogger(t)
	if n := sweepUnlinkedOnce(ctx, in.app.db, loggedOut.Add(-time.Second), log); n != 0 {
		t.Fatalf("sweep within the grace failed %d", n)
	}
	if got := messageStatus(t, in, ws, id); got != "queued" {
		t.Fatalf("message %s before the grace passed, want queued", got)
	}
	if n := sweepUnlinkedOnce(ctx, in.app.db, loggedOut.Add(time.Second), log); n != 1 {
		t.Fatalf("sweep after the grace failed %d, want 1", n)
	}
	if got := messageStatus(t, in, ws, id); got != "failed" {
		t.Fatalf("message %s after the grace, want failed", got)
	}
	st, w := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id, ws.ownerToken, nil)
	if st != http.StatusOK || w["credits"] != float64(10) {
		t.Errorf("credits after the refund = %v, want 10", w["credits"])
	}
}

// TestOnLinkKeepsLoggedOut: the "unlinked" that Start reports at each boot
// for an account without a device does not overwrite a stored logged_out
// (and its since, the start of the relink grace); other states are stored.
func TestOnLinkKeepsLoggedOut(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "wagate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	ws := &wagate.Workspace{ID: "ws_0123456789abcdef", Name: "acme", Webhook: wagate.Webhook{Token: strings.Repeat("t", 43), Enabled: true}}
	if err := db.CreateWorkspace(ctx, ws, &wagate.Token{Hash: wagate.HashToken(strings.Repeat("o", 43)), WorkspaceID: ws.ID, Role: wagate.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	a := &wagate.Account{WorkspaceID: ws.ID, Phone: "+14155550123", Transport: wagate.TransportWhatsApp, Active: true}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	w := &whatsappWiring{db: db, log: zaptest.NewLogger(t), links: newLinkHub()}
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	w.onLink(a.Ref(), whatsapp.Link{State: whatsapp.StateLoggedOut, Since: since, Error: "removed on the phone"})
	w.onLink(a.Ref(), whatsapp.Link{State: whatsapp.StateUnlinked, Since: since.Add(time.Hour)})
	got, err := db.FindAccount(ctx, a.Ref())
	if err != nil || got.Link.State != "logged_out" || !got.Link.Since.Equal(since) {
		t.Fatalf("after a boot's unlinked: %+v, %v; want logged_out since %v", got.Link, err, since)
	}
	w.onLink(a.Ref(), whatsapp.Link{State: whatsapp.StateLinking, Since: since.Add(2 * time.Hour), QR: "2@secret"})
	got, _ = db.FindAccount(ctx, a.Ref())
	if got.Link.State != "linking" {
		t.Fatalf("linking not stored: %+v", got.Link)
	}
}

// stopOnly is a Service of which the test calls only StopAccount.
type stopOnly struct {
	whatsapp.Service
	stops int
}

func (s *stopOnly) StopAccount(wagate.AccountRef) { s.stops++ }

// TestStopAccountStoresDisconnected: a session the sender stops (account
// paused) shows disconnected, saying why, instead of "connected"; a
// logged-out account keeps its state.
func TestStopAccountStoresDisconnected(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "wagate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	ws := &wagate.Workspace{ID: "ws_0123456789abcdef", Name: "acme", Webhook: wagate.Webhook{Token: strings.Repeat("t", 43), Enabled: true}}
	if err := db.CreateWorkspace(ctx, ws, &wagate.Token{Hash: wagate.HashToken(strings.Repeat("o", 43)), WorkspaceID: ws.ID, Role: wagate.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	a := &wagate.Account{WorkspaceID: ws.ID, Phone: "+14155550123", Transport: wagate.TransportWhatsApp, Active: true}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	fake := &stopOnly{}
	w := &whatsappWiring{svc: fake, db: db, log: zaptest.NewLogger(t), links: newLinkHub()}
	tr := w.transport()
	w.onLink(a.Ref(), whatsapp.Link{State: whatsapp.StateConnected, Since: time.Now()})
	tr.StopAccount(a.Ref())
	got, _ := db.FindAccount(ctx, a.Ref())
	if fake.stops != 1 || got.Link.State != "disconnected" || !strings.Contains(got.Link.Error, "paused") {
		t.Fatalf("after StopAccount: %d stops, link %+v; want disconnected, saying paused", fake.stops, got.Link)
	}
	w.onLink(a.Ref(), whatsapp.Link{State: whatsapp.StateLoggedOut, Since: time.Now()})
	tr.StopAccount(a.Ref())
	if got, _ := db.FindAccount(ctx, a.Ref()); got.Link.State != "logged_out" {
		t.Fatalf("a logged-out account after StopAccount: %+v", got.Link)
	}
}
