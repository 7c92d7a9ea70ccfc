//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"go.mau.fi/whatsmeow/types/events"
)

// The sender's wake function is called when the account connects, again
// after a reconnect, and no more once the account is stopped.
func TestStartAccountWakesWhenConnected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, false)
		var wakes atomic.Int32
		if err := h.m.StartAccount(context.Background(), testAccount(), func() { wakes.Add(1) }); err != nil {
			t.Fatal(err)
		}
		if n := wakes.Load(); n != 0 {
			t.Fatalf("woken %d times before connecting", n)
		}
		h.connect(t)
		if n := wakes.Load(); n != 1 {
			t.Fatalf("woken %d times after connecting, want 1", n)
		}
		h.cli.emit(&events.Disconnected{})
		h.rec.waitState(t, StateDisconnected)
		synctest.Wait()
		h.cli.emit(&events.Connected{})
		h.rec.waitState(t, StateConnected)
		if n := wakes.Load(); n != 2 {
			t.Fatalf("woken %d times after reconnecting, want 2", n)
		}
		// Started again while connected: woken at once.
		if err := h.m.StartAccount(context.Background(), testAccount(), func() { wakes.Add(10) }); err != nil {
			t.Fatal(err)
		}
		if n := wakes.Load(); n != 12 {
			t.Fatalf("woken %d, want the new wake called at once", n)
		}
		h.m.StopAccount(testRef)
		if h.m.session(testRef) != nil {
			t.Errorf("a session runs after StopAccount")
		}
		h.m.wake(testRef)
		if n := wakes.Load(); n != 12 {
			t.Errorf("woken %d after StopAccount, want the wake forgotten", n)
		}
	})
}
