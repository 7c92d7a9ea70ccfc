//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/sender"
)

// The end of a ban wakes the account's queue by itself: when WhatsApp
// lifts the ban on a connection that stayed up, no reconnect happens and
// no Connected event comes, yet at `until` the account is connected again,
// the sender's wake is called and the next send goes out.
func TestBanEndWakesWithoutReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, false)
		var wakes atomic.Int32
		if err := h.m.StartAccount(context.Background(), testAccount(), func() { wakes.Add(1) }); err != nil {
			t.Fatal(err)
		}
		h.connect(t)
		connects := len(h.cli.stats().connects)
		h.cli.emit(&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: time.Hour})
		h.rec.waitState(t, StateBanned)
		msg := textMessage("wa_backend:BAN", "120363025246125486@g.us", "after the ban")
		if _, err := h.m.Send(context.Background(), testAccount(), msg, nil); !sender.IsUnavailable(err) {
			t.Fatalf("send during the ban = %v, want unavailable", err)
		}
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if n, st := wakes.Load(), h.m.Status(testRef).State; n != 1 || st != StateBanned {
			t.Fatalf("a second before the end: %d wakes, %s; want 1 wake (the connect), banned", n, st)
		}
		t0 := time.Now().Add(time.Second)
		time.Sleep(time.Second)
		synctest.Wait()
		l := h.m.Status(testRef)
		if n := wakes.Load(); n != 2 || l.State != StateConnected || !l.Since.Equal(t0) {
			t.Fatalf("at the ban's end: %d wakes, state %s since %v; want the queue woken and connected since %v", n, l.State, l.Since, t0)
		}
		if got := len(h.cli.stats().connects); got != connects {
			t.Errorf("%d reconnects on a connection that stayed up, want none", got-connects)
		}
		if _, err := h.m.Send(context.Background(), testAccount(), msg, nil); err != nil {
			t.Fatalf("send after the ban: %v", err)
		}
		if sent := h.cli.sentMessages(); len(sent) != 1 || sent[0].id != MessageID(msg.ID) {
			t.Errorf("the client took %+v, want the message once", sent)
		}
	})
}

// Confirm returns as soon as the receipt of a handed-over message comes,
// without waiting out the grace; with none it answers unknown at the
// grace's end.
func TestConfirmReturnsAtTheReceipt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{ConfirmGrace: time.Minute}, true)
		ctx := context.Background()
		acked, silent := textMessage("wa_backend:ACKED", "1@g.us", "a"), textMessage("wa_backend:SILENT", "1@g.us", "b")
		for _, m := range []string{acked.ID, silent.ID} {
			if err := h.led.posting(ctx, testRef, MessageID(m), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		type answer struct {
			d   sender.Delivery
			pid string
			at  time.Time
		}
		got := make(chan answer, 1)
		t0 := time.Now()
		go func() {
			d, pid, _ := h.m.Confirm(ctx, testAccount(), acked)
			got <- answer{d, pid, time.Now()}
		}()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		h.cli.emit(&events.Receipt{MessageIDs: []types.MessageID{MessageID(acked.ID)}, Type: types.ReceiptTypeDelivered, Timestamp: time.Now()})
		a := <-got
		if a.d != sender.Delivered || a.pid != MessageID(acked.ID) || a.at.Sub(t0) != 5*time.Second {
			t.Errorf("Confirm = %v %q after %v; want delivered at the receipt, 5s", a.d, a.pid, a.at.Sub(t0))
		}
		t1 := time.Now()
		d, _, _ := h.m.Confirm(ctx, testAccount(), silent)
		if d != sender.DeliveryUnknown || time.Since(t1) != time.Minute {
			t.Errorf("Confirm with no receipt = %v after %v; want unknown after the grace (1m)", d, time.Since(t1))
		}
	})
}

// A ban that comes while the session is still finishing the pairing (the
// phone linked, the client connected and banned at once, before the
// session has stored the device and begun to maintain the connection)
// still ends: its outcome reaches the session's loop, which waits out the
// ban and connects the account again. Outcomes set while linking used to
// be dropped, and the account stayed banned for good with its queue held
// (TestWhatsAppBanEndResumesQueue timed out on it under load).
func TestBanDuringPairingEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLinkHarness(t, Config{})
		var wakes atomic.Int32
		if err := h.m.StartAccount(context.Background(), testAccount(), func() { wakes.Add(1) }); err != nil {
			t.Fatal(err)
		}
		h.cli.qr <- qrCode("QR-1")
		if _, err := h.m.Link(context.Background(), testAccount(), MethodQR); err != nil {
			t.Fatal(err)
		}
		// WhatsApp's events while the session still reads the QR channel.
		h.cli.emit(&events.PairSuccess{ID: types.JID{User: "14155550001", Device: 3, Server: types.DefaultUserServer}})
		h.cli.setLoggedIn(true)
		h.cli.emit(&events.Connected{})
		h.cli.emit(&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: time.Hour})
		h.cli.qr <- whatsmeow.QRChannelSuccess
		synctest.Wait()
		if st := h.m.Status(testRef).State; st != StateBanned {
			t.Fatalf("after pairing = %s, want banned", st)
		}
		woken := wakes.Load()
		time.Sleep(time.Hour)
		synctest.Wait()
		if st := h.m.Status(testRef).State; st != StateConnected || wakes.Load() != woken+1 {
			t.Fatalf("at the ban's end: %s, %d wakes; want connected and the queue woken once more", st, wakes.Load()-woken)
		}
	})
}
