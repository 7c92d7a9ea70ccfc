//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// After a restart the SQLite ledger still answers Confirm: a receipt seen
// before the stop confirms the interrupted send, a message handed over with
// no word is unknown (failed as interrupted, never resent), a message never
// handed over goes back to the queue.
func TestConfirmAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ks := openTestKeystore(t, dir)
	dev := newFakeDevices()
	cli := newFakeClient(true)
	cli.sendErr = func(string) error { return whatsmeow.ErrMessageTimedOut }
	dev.linked[testRef] = cli
	m := newManager(Config{Logger: zaptest.NewLogger(t)}, dev, ks)
	_ = cli.Connect()
	delivered := textMessage("wa_backend:DELIVERED", "120363025246125486@g.us", "a")
	silent := textMessage("wa_backend:SILENT", "120363025246125486@g.us", "b")
	for _, msg := range []*wagate.Message{delivered, silent} {
		if _, err := m.send(context.Background(), testRef, cli, 0, msg, nil); !sender.IsPermanent(err) {
			t.Fatalf("interrupted send: %v, want permanent", err)
		}
	}
	// The receipt comes through a session (one is made here by hand, as
	// Start would, to receive the event).
	s := newSession(m, testRef, cli)
	s.handle(&events.Receipt{MessageIDs: []types.MessageID{MessageID(delivered.ID)}, Type: types.ReceiptTypeDelivered, Timestamp: time.Now()})
	_ = m.Close()
	if err := ks.close(); err != nil {
		t.Fatal(err)
	}

	ks = openTestKeystore(t, dir)
	defer ks.close()
	m = newManager(Config{Logger: zaptest.NewLogger(t)}, newFakeDevices(), ks)
	defer m.Close()
	cases := []struct {
		id   string
		want sender.Delivery
	}{
		{delivered.ID, sender.Delivered},
		{silent.ID, sender.DeliveryUnknown},
		{"wa_backend:NEVER", sender.NotDelivered},
	}
	for _, c := range cases {
		d, pid, err := m.Confirm(context.Background(), testAccount(), textMessage(c.id, "1@g.us", ""))
		if err != nil || d != c.want {
			t.Errorf("Confirm(%s) = %v, %v; want %v", c.id, d, err, c.want)
		}
		if d == sender.Delivered && pid != MessageID(c.id) {
			t.Errorf("provider id = %q, want %q", pid, MessageID(c.id))
		}
	}
}
