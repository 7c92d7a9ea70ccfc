//go:build !nowhatsapp

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// TestWhatsAppReplicasOneConnectionPerDevice: two replicas on one
// PostgreSQL and one fake WhatsApp. A whatsapp account linked through r1
// has its session (its one WhatsApp Web connection) on r1 only: r2,
// started afterwards, connects nothing, and a link request to r2 is run
// by r1, whose answer (a 409: unlink it first) r2 gives. Messages accepted by r2 go out through r1's connection. When
// r1 stops, its connection closes before r2 takes the lease and connects,
// and r2 sends from then on.
func TestWhatsAppReplicasOneConnectionPerDevice(t *testing.T) {
	wa := whatsapptest.New()
	useFakeWhatsApp(t, wa)
	url := newPGDatabase(t)
	cfg1 := replicaConfig(t, url, "r1")
	r1, logs1 := startPG(t, cfg1)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(grepErrors(logs1.String()))
		}
	})
	ws := createWorkspace(t, r1, operatorToken(t, cfg1.DataDir), 10)
	const phone = "+14155550123"
	ref := wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}
	st, acct := call(t, "POST", r1.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
	c1 := linkByQR(t, r1, ws, wa, phone)

	// r2 starts with the account linked and connected on r1: it holds no
	// lease of it, so it starts no session (before this change every
	// replica connected every linked account at its start).
	r2, _ := startPG(t, replicaConfig(t, url, "r2"))
	waitFor(t, "r2 ready", func() bool {
		st, _ := call(t, "GET", r2.base+"/readyz", "", nil)
		return st == http.StatusOK
	})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if c := wa.Connecting(done, ref, c1); c != nil {
		t.Fatal("a second client connected the device while r1 holds the account's session")
	}

	// Linking through r2: the account's session lives on r1, which runs
	// the request and refuses it as it would its own.
	linkURL := r2.base + "/api/v1/workspaces/" + ws.id + "/accounts/" + strings.ReplaceAll(phone, "+", "%2B") + "/link"
	st, ans := call(t, "POST", linkURL, ws.ownerToken, map[string]any{"method": "qr"})
	if st != http.StatusConflict || ans["error"] != "conflict" || !strings.Contains(str(ans["message"]), "unlink it first") {
		t.Errorf("POST link on r2 = %d %v, want r1's 409 conflict saying to unlink it first", st, ans)
	}
	if c1.IsConnected() == false || c1.IsLoggedIn() == false {
		t.Error("r1's connection was dropped by a refused link request")
	}
	// r2 shows the state r1 stored, not "unlinked" for want of a session.
	st, ans = call(t, "GET", linkURL, ws.ownerToken, nil)
	if st != http.StatusOK || ans["state"] != "connected" || str(ans["qr"]) != "" {
		t.Errorf("GET link on r2 = %d %v, want 200 connected (r1's session, as stored) without a QR code", st, ans)
	}

	// Accepted by r2, sent through r1's connection.
	body := map[string]any{"action": "send", "whatsapp_account_phone": phone, "phone": "+14155552671", "text": "one"}
	id := send(t, r2.base+path(ws.inboundURL), body)
	waitFor(t, "the message sent by r1", func() bool { return messageStatus(t, r2, ws, id) == "sent" })
	if sent := c1.Sent(); len(sent) != 1 || sent[0].ID != whatsapp.MessageID(id) {
		t.Fatalf("r1's client took %+v, want the message %s", sent, id)
	}

	// r1 stops: its connection closes, then r2 takes the account over and
	// connects the device.
	r1.stop()
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	c2 := wa.Connecting(ctx, ref, c1)
	if c2 == nil {
		t.Fatal("r2 did not connect the device after r1 stopped")
	}
	if c1.IsConnected() {
		t.Error("r1's client is still connected while r2 connects: one device, two connections")
	}
	c2.Connected()
	waitFor(t, "the account connected on r2", func() bool { return storedLink(t, r2, ws, phone) == "connected" })
	body["text"] = "two"
	id2 := send(t, r2.base+path(ws.inboundURL), body)
	waitFor(t, "the message sent by r2", func() bool { return messageStatus(t, r2, ws, id2) == "sent" })
	if sent := c2.Sent(); len(sent) != 1 || sent[0].ID != whatsapp.MessageID(id2) {
		t.Errorf("r2's client took %+v, want the message %s", sent, id2)
	}
}

func grepErrors(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, `"level":"error"`) || strings.Contains(l, `"level":"warn"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
