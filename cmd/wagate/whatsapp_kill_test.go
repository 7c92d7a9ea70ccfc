//go:build !nowhatsapp

package main

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// fakeWhatsAppTag is the test-only build tag of a wagate whose whatsapp
// accounts talk to a test's fake WhatsApp (fakewa.go).
const fakeWhatsAppTag = "wagatefakewa"

// buildFakeWhatsAppBinary compiles wagate with fakeWhatsAppTag.
func buildFakeWhatsAppBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wagate")
	if out, err := exec.Command("go", "build", "-tags", fakeWhatsAppTag, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %s: %v\n%s", fakeWhatsAppTag, err, out)
	}
	return bin
}

// await waits until ch is closed; the bound only keeps a broken build from
// hanging, no result depends on it.
func await(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// sentIDs are the WhatsApp ids of what the account's clients took, in order.
func sentIDs(wa *whatsapptest.WhatsApp, ref wagate.AccountRef) []string {
	var ids []string
	for _, s := range wa.SentBy(ref) {
		ids = append(ids, s.ID)
	}
	return ids
}

// TestWhatsAppKill9MidSend kills the real binary (SIGKILL) while a
// whatsapp account's message is in sending, at the three moments a crash
// can catch it on a fake WhatsApp that outlives the process, and checks
// the README's promises after each restart:
//  1. before anything was handed to WhatsApp (the recipient check hangs):
//     Confirm says not delivered, the message goes back to its place and
//     is handed over once;
//  2. handed over, the ack not yet stored: the receipt WhatsApp sends after
//     the restart confirms it, it becomes sent with WhatsApp's id and is
//     never handed over again;
//  3. handed over, and no word from WhatsApp after the restart: it fails
//     as interrupted and is refunded, never handed over again.
//
// The kill points are the fake's hooks (HoldLookups, HoldAcks), so the
// process is killed exactly there.
func TestWhatsAppKill9MidSend(t *testing.T) {
	bin := buildFakeWhatsAppBinary(t)
	wa := whatsapptest.New()
	srv, err := wa.Serve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Setenv(whatsapptest.EnvAddr, srv.Addr()) // the child inherits the environment
	dir := t.TempDir()
	const credits, phone = 10, "+14155550123"
	serve := func() (*process, *instance) {
		t.Helper()
		p := startProcess(t, bin, "--data", dir, "--send-interval", "50ms", "--send-jitter", "0s")
		return p, &instance{t: t, base: "http://" + p.addr}
	}
	kill := func(p *process) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.exit
	}
	inbound := func(in *instance, ws workspaceSetup) string { return in.base + path(ws.inboundURL) }
	text := func(s string) map[string]any {
		return map[string]any{"action": "send", "whatsapp_account_phone": phone, "phone": "+14155552671", "text": s}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // only keeps a broken build from hanging
	defer cancel()
	var ref wagate.AccountRef // the account, once its workspace exists
	// reconnected waits for the restarted process's session of the account
	// and plays WhatsApp for it: the receipts it held, then the connection.
	reconnected := func(old *whatsapptest.Client, receipts ...string) *whatsapptest.Client {
		t.Helper()
		c := wa.Connecting(ctx, ref, old)
		if c == nil {
			t.Fatal("after the restart the linked account's session did not connect")
		}
		for _, id := range receipts {
			c.Receipt(id, types.ReceiptTypeDelivered)
		}
		c.Connected()
		return c
	}

	p, in := serve()
	ws := createWorkspace(t, in, operatorToken(t, dir), credits)
	ref = wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
	c := linkByQR(t, in, ws, wa, phone)

	// 1. Killed in the recipient check: nothing was handed over.
	took, _ := c.HoldLookups()
	m1 := send(t, inbound(in, ws), text("m1"))
	await(t, "m1 in the recipient check", took)
	if got := messageStatus(t, in, ws, m1); got != "sending" {
		t.Fatalf("m1 is %s while WhatsApp holds the recipient check, want sending", got)
	}
	kill(p)
	if ids := sentIDs(wa, ref); len(ids) != 0 {
		t.Fatalf("WhatsApp took %v before the hand-over", ids)
	}
	p, in = serve()
	c = reconnected(c)
	waitFor(t, "m1 sent after the restart", func() bool { return messageStatus(t, in, ws, m1) == "sent" })
	got := getMessage(t, in, ws, m1)
	if len(got.Tries) != 2 || got.Tries[0].Result != "retry" || !strings.Contains(got.Tries[0].Error, "confirmed so after the restart") || got.Tries[1].Result != "sent" {
		t.Errorf("m1 = %+v; want a retry try saying the transport confirmed it was not sent, then sent", got)
	}

	// 2. Killed after the hand-over, before the ack was stored.
	took, _ = c.HoldAcks()
	m2 := send(t, inbound(in, ws), text("m2"))
	await(t, "m2 handed over", took)
	if got := messageStatus(t, in, ws, m2); got != "sending" {
		t.Fatalf("m2 is %s while WhatsApp holds the ack, want sending", got)
	}
	kill(p)
	p, in = serve()
	c = reconnected(c, whatsapp.MessageID(m2))
	waitFor(t, "m2 confirmed sent after the restart", func() bool { return messageStatus(t, in, ws, m2) == "sent" })
	_, m := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/messages/"+m2, ws.ownerToken, nil)
	tries, _ := m["tries"].([]any)
	last, _ := tries[len(tries)-1].(map[string]any)
	if len(tries) != 1 || str(last["provider_id"]) != whatsapp.MessageID(m2) || !strings.Contains(str(last["error"]), "confirmed that it was delivered") {
		t.Errorf("m2 = %v; want one sent try with provider id %s saying the transport confirmed it", m, whatsapp.MessageID(m2))
	}

	// 3. Killed after the hand-over; WhatsApp says nothing after the restart.
	took, _ = c.HoldAcks()
	m3 := send(t, inbound(in, ws), text("m3"))
	await(t, "m3 handed over", took)
	kill(p)
	p, in = serve()
	reconnected(c)
	waitFor(t, "m3 failed after the restart", func() bool { return messageStatus(t, in, ws, m3) == "failed" })
	if got := getMessage(t, in, ws, m3); !strings.HasPrefix(got.Error, "interrupted:") || len(got.Tries) != 1 || got.Tries[0].Result != "failed" {
		t.Errorf("m3 = %+v; want failed as interrupted, with one failed try", got)
	}

	// Each message was handed to WhatsApp exactly once, in order; the
	// failed one is refunded, the sent ones are not.
	want := []string{whatsapp.MessageID(m1), whatsapp.MessageID(m2), whatsapp.MessageID(m3)}
	if ids := sentIDs(wa, ref); !slices.Equal(ids, want) {
		t.Errorf("WhatsApp took %v, want %v: each message once", ids, want)
	}
	st, body := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id, ws.ownerToken, nil)
	mustStatus(t, "get workspace", st, http.StatusOK, body)
	if body["credits"] != float64(credits-2) {
		t.Errorf("credits = %v, want %d: m3 refunded, m1 and m2 not", body["credits"], credits-2)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.exit; err != nil {
		t.Fatalf("wagate exited with %v after SIGTERM", err)
	}
	if out, err := exec.Command(bin, "check", "--data", dir).CombinedOutput(); err != nil {
		t.Fatalf("wagate check after the crashes: %v\n%s", err, out)
	}
}

// TestFakeWhatsAppTagStaysOut: the fake WhatsApp reaches a binary only
// through the test-only tag; a build without it (every release build, make
// build) links none of it.
func TestFakeWhatsAppTagStaysOut(t *testing.T) {
	deps := func(tags ...string) []string {
		args := append([]string{"list", "-deps"}, tags...)
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	const fake = "github.com/wagate/wagate/sender/whatsapp/whatsapptest"
	if slices.Contains(deps(), fake) {
		t.Errorf("a build without -tags %s links %s", fakeWhatsAppTag, fake)
	}
	if !slices.Contains(deps("-tags", fakeWhatsAppTag), fake) {
		t.Errorf("-tags %s does not link %s: the kill test would run against WhatsApp", fakeWhatsAppTag, fake)
	}
}
