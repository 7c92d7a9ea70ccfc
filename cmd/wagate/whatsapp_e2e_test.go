//go:build !nowhatsapp

package main

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// useFakeWhatsApp makes the instances the test starts run the real
// Manager on wa's fake clients (and still skip the version check).
func useFakeWhatsApp(t *testing.T, wa *whatsapptest.WhatsApp) {
	prev := whatsappTestConfig
	whatsappTestConfig = func(c *whatsapp.Config) {
		c.SkipVersionCheck = true
		c.NewClient = wa.NewClient
	}
	t.Cleanup(func() { whatsappTestConfig = prev })
}

// storedLink is the account's link state as the account object shows it.
func storedLink(t *testing.T, in *instance, ws workspaceSetup, phone string) string {
	t.Helper()
	_, list := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, nil)
	accts, _ := list["accounts"].([]any)
	for _, a := range accts {
		a, _ := a.(map[string]any)
		if a["phone"] == phone {
			link, _ := a["link"].(map[string]any)
			return str(link["state"])
		}
	}
	return ""
}

func messageText(m *waE2E.Message) string {
	if t := m.GetConversation(); t != "" {
		return t
	}
	return m.GetExtendedTextMessage().GetText()
}

// linkByQR links the account through the link API: the fake shows a QR
// code, the page gets it, the account's phone scans it and the connection
// comes up. It returns the linked client.
func linkByQR(t *testing.T, in *instance, ws workspaceSetup, wa *whatsapptest.WhatsApp, phone string) *whatsapptest.Client {
	t.Helper()
	ref := wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if c := wa.Linking(ctx, ref); c != nil {
			c.ShowQR("2@fake-qr-code")
		}
	}()
	st, l := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts/"+strings.ReplaceAll(phone, "+", "%2B")+"/link", ws.ownerToken, map[string]any{"method": "qr"})
	if st != http.StatusAccepted || l["state"] != "linking" || l["qr"] != "2@fake-qr-code" {
		t.Fatalf("POST link = %d %v, want 202 linking with the fake's QR code", st, l)
	}
	c := wa.Linking(ctx, ref)
	c.Pair(phone)
	c.Connected()
	waitFor(t, "the account connected", func() bool { return storedLink(t, in, ws, phone) == "connected" })
	return c
}

// TestWhatsAppFakeEndToEnd: through the real server and the real Manager
// on a fake WhatsApp — link by QR code, the account shows connected, a
// text sent by the inbound URL reaches the client under the id derived
// from wagate's, its delivery receipt makes the message delivered, and
// once the phone logs the device out a new request is a 409 saying how to
// link again.
func TestWhatsAppFakeEndToEnd(t *testing.T) {
	wa := whatsapptest.New()
	useFakeWhatsApp(t, wa)
	dir := t.TempDir()
	in := start(t, testConfig(dir, 10*time.Millisecond, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	const phone = "+14155550123"
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
	c := linkByQR(t, in, ws, wa, phone)

	body := map[string]any{"action": "send", "whatsapp_account_phone": phone, "phone": "+14155552671", "text": "hello from wagate"}
	id := send(t, ws.inboundURL, body)
	waitFor(t, "the message sent", func() bool { return messageStatus(t, in, ws, id) == "sent" })
	sent := c.Sent()
	if len(sent) != 1 || sent[0].ID != whatsapp.MessageID(id) || sent[0].To.User != "14155552671" || messageText(sent[0].Message) != "hello from wagate" {
		t.Fatalf("the fake took %+v, want one text to 14155552671 with id %s", sent, whatsapp.MessageID(id))
	}

	c.Receipt(sent[0].ID, types.ReceiptTypeDelivered)
	waitFor(t, "the message delivered", func() bool {
		_, m := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/messages/"+id, ws.ownerToken, nil)
		return m["delivery"] == "delivered" && m["delivery_at"] != nil
	})

	c.LogOut()
	waitFor(t, "the account logged out", func() bool { return storedLink(t, in, ws, phone) == "logged_out" })
	st, ans := call(t, "POST", ws.inboundURL, "", body)
	if st != http.StatusConflict || !strings.Contains(str(ans["message"]), "wagate account link "+phone) {
		t.Fatalf("send after the logout = %d %v, want 409 saying how to link again", st, ans)
	}
	if n := len(c.Sent()); n != 1 {
		t.Errorf("the fake took %d messages, want still 1", n)
	}
}

// snapshotDir copies the data folder of a running wagate while nothing
// writes to it: the copy is what a kill -9 at that moment leaves on disk
// (SQLite's -shm index is left out: it is rebuilt from the -wal file).
func snapshotDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		if strings.HasSuffix(p, "-shm") || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWhatsAppRestartConfirmsByReceipt: wagate dies after handing a
// message to WhatsApp and before the ack (the data folder is copied at
// that moment, as a kill -9 leaves it). Started again on that folder, the
// account's session comes back, the message's delivery receipt arrives,
// and the recovery's Confirm makes the message sent with WhatsApp's id —
// it is never handed to WhatsApp a second time.
func TestWhatsAppRestartConfirmsByReceipt(t *testing.T) {
	wa := whatsapptest.New()
	useFakeWhatsApp(t, wa)
	dir := t.TempDir()
	in := start(t, testConfig(dir, 10*time.Millisecond, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	const phone = "+14155550123"
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
	c := linkByQR(t, in, ws, wa, phone)

	took, release := c.HoldAcks()
	id := send(t, ws.inboundURL, map[string]any{"action": "send", "whatsapp_account_phone": phone, "phone": "+14155552671", "text": "once only"})
	<-took
	if got := messageStatus(t, in, ws, id); got != "sending" {
		t.Fatalf("message %s while WhatsApp holds the ack, want sending", got)
	}
	crashed := t.TempDir()
	snapshotDir(t, dir, crashed)
	release()
	in.stop()

	// The confirm grace (a wait for receipts after the reconnect) passes at
	// once: the receipt is emitted before the connection comes up.
	ref := wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}
	whatsappTestConfig = func(cfg *whatsapp.Config) {
		cfg.SkipVersionCheck = true
		cfg.NewClient = wa.NewClient
		cfg.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Start returns after the recovery, which waits for the receipt: it
	// runs beside the test, which plays WhatsApp meanwhile.
	type startResult struct {
		app *App
		err error
	}
	started := make(chan startResult, 1)
	appCtx, appCancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	go func() {
		app, err := Start(appCtx, testConfig(crashed, 10*time.Millisecond, 0), out, zaptest.NewLogger(t))
		started <- startResult{app, err}
	}()
	t.Cleanup(func() {
		appCancel()
		if r := <-started; r.err == nil {
			started <- r
		}
	})
	c2 := wa.Connecting(ctx, ref, c)
	if c2 == nil {
		t.Fatal("after the restart the linked account's session did not connect")
	}
	waID := whatsapp.MessageID(id)
	c2.Receipt(waID, types.ReceiptTypeDelivered)
	c2.Connected()
	r := <-started
	if r.err != nil {
		started <- r
		t.Fatalf("Start after the crash: %v", r.err)
	}
	in2 := &instance{t: t, app: r.app, cancel: appCancel, out: out, base: "http://" + r.app.Addr()}
	t.Cleanup(in2.stop)
	started <- r
	waitFor(t, "the interrupted message confirmed sent", func() bool { return messageStatus(t, in2, ws, id) == "sent" })
	_, m := call(t, "GET", in2.base+"/api/v1/workspaces/"+ws.id+"/messages/"+id, ws.ownerToken, nil)
	tries, _ := m["tries"].([]any)
	last, _ := tries[len(tries)-1].(map[string]any)
	if str(last["provider_id"]) != waID || !strings.Contains(str(last["error"]), "confirmed") {
		t.Errorf("message after the restart = %v; want its last try sent with provider id %s, saying it was confirmed", m, waID)
	}
	if n := len(c2.Sent()); n != 0 {
		t.Errorf("after the restart the message was handed to WhatsApp %d more times, want never", n)
	}
	if sent := c.Sent(); len(sent) != 1 || sent[0].ID != waID {
		t.Errorf("before the crash the fake took %+v, want the one message", sent)
	}
}
