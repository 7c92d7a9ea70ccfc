//go:build !nowhatsapp

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// TestWhatsAppBanEndResumesQueue: through the real server, a message sent
// while the account is banned waits (queued, no retry spent); when the
// ban's time has passed it goes out by itself, with no reconnect and no
// Connected event from WhatsApp, and the account shows connected again.
// The Manager's wait for the ban's end is the test's to end (Config.Sleep),
// so nothing depends on the clock.
func TestWhatsAppBanEndResumesQueue(t *testing.T) {
	const ban = time.Hour
	wa := whatsapptest.New()
	banOver := make(chan struct{})
	prev := whatsappTestConfig
	whatsappTestConfig = func(c *whatsapp.Config) {
		c.SkipVersionCheck = true
		c.NewClient = wa.NewClient
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			if d > ban/2 { // the ban's wait
				select {
				case <-banOver:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			tm := time.NewTimer(d)
			defer tm.Stop()
			select {
			case <-tm.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	t.Cleanup(func() { whatsappTestConfig = prev })
	dir := t.TempDir()
	in := start(t, testConfig(dir, 10*time.Millisecond, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	const phone = "+14155550123"
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
	c := linkByQR(t, in, ws, wa, phone)

	c.Emit(&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: ban})
	waitFor(t, "the account banned", func() bool { return storedLink(t, in, ws, phone) == "banned" })
	id := send(t, ws.inboundURL, map[string]any{"action": "send", "whatsapp_account_phone": phone, "phone": "+14155552671", "text": "after the ban"})
	waitFor(t, "the message tried and waiting for the ban's end", func() bool {
		m := getMessage(t, in, ws, id)
		return len(m.Tries) == 1 && strings.Contains(m.Tries[0].Error, "banned by WhatsApp until")
	})
	if m := getMessage(t, in, ws, id); m.Status != "queued" || m.Tries[0].Result != "retry" {
		t.Fatalf("message during the ban = %+v, want queued after a try that waits", m)
	}
	if n := len(c.Sent()); n != 0 {
		t.Fatalf("WhatsApp took %d messages during the ban", n)
	}

	close(banOver)
	waitFor(t, "the message sent after the ban", func() bool { return messageStatus(t, in, ws, id) == "sent" })
	if sent := c.Sent(); len(sent) != 1 || sent[0].ID != whatsapp.MessageID(id) {
		t.Errorf("WhatsApp took %+v, want the message once", sent)
	}
	if got := storedLink(t, in, ws, phone); got != "connected" {
		t.Errorf("account after the ban = %s, want connected", got)
	}
}
