package store

import (
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// TestFailUnlinkedQueues: the queued messages of a whatsapp account logged
// out for longer than the grace fail with a refund; before the grace, and
// for a disconnected account, they wait.
func TestFailUnlinkedQueues(t *testing.T) {
	f := newFixture(t, 10)
	wa := &wagate.Account{WorkspaceID: f.ws.ID, Phone: testPhone2, Transport: wagate.TransportWhatsApp, Active: true, ConnectedAt: f.clock.Now()}
	mustNoErr(t, f.db.CreateAccount(f.ctx, wa))
	dry := f.send("dryrun waits")
	f.phone = testPhone2
	a, b := f.send("one"), f.send("two")
	if got := f.balance(); got != 7 {
		t.Fatalf("balance %d, want 7", got)
	}
	since := f.clock.Now()
	grace := 24 * time.Hour
	mustNoErr(t, f.db.SetAccountLink(f.ctx, wa.Ref(), wagate.AccountLink{State: "disconnected", Since: since}))
	f.clock.Advance(grace + time.Hour)
	if n, err := f.db.FailUnlinkedQueues(f.ctx, f.clock.Now().Add(-grace)); err != nil || n != 0 {
		t.Fatalf("disconnected: failed %d, %v; want none", n, err)
	}
	mustNoErr(t, f.db.SetAccountLink(f.ctx, wa.Ref(), wagate.AccountLink{State: "logged_out", Since: f.clock.Now()}))
	f.clock.Advance(grace - time.Second)
	if n, err := f.db.FailUnlinkedQueues(f.ctx, f.clock.Now().Add(-grace)); err != nil || n != 0 {
		t.Fatalf("within the grace: failed %d, %v; want none", n, err)
	}
	f.clock.Advance(2 * time.Second)
	if n, err := f.db.FailUnlinkedQueues(f.ctx, f.clock.Now().Add(-grace)); err != nil || n != 2 {
		t.Fatalf("after the grace: failed %d, %v; want 2", n, err)
	}
	for _, id := range []string{a, b} {
		if m := f.message(id); m.Status != wagate.StatusFailed || m.Error != ErrorRelinkGrace {
			t.Errorf("message %s: %s %q", id, m.Status, m.Error)
		}
	}
	if m := f.message(dry); m.Status != wagate.StatusQueued {
		t.Errorf("the dryrun account's message is %s", m.Status)
	}
	if got := f.balance(); got != 9 {
		t.Errorf("balance %d, want 9 (both refunded)", got)
	}
	if h := f.head(wa.Ref()); h != "" {
		t.Errorf("queue head %q after the sweep, want empty", h)
	}
	checkBolt(t, f.db)
}

// A scheduled message of a logged-out whatsapp account that came due
// fails with the queue after the grace; one scheduled later waits, the
// account may be linked by then.
func TestFailUnlinkedQueuesTakesDueScheduledMessages(t *testing.T) {
	f := newFixture(t, 10)
	wa := &wagate.Account{WorkspaceID: f.ws.ID, Phone: testPhone2, Transport: wagate.TransportWhatsApp, Active: true, ConnectedAt: f.clock.Now()}
	mustNoErr(t, f.db.CreateAccount(f.ctx, wa))
	f.phone = testPhone2
	grace := 24 * time.Hour
	due := f.schedule("tomorrow", "14155552671@s.whatsapp.net", time.Hour)
	later := f.schedule("next month", "14155552671@s.whatsapp.net", 20*24*time.Hour)
	mustNoErr(t, f.db.SetAccountLink(f.ctx, wa.Ref(), wagate.AccountLink{State: "logged_out", Since: f.clock.Now()}))
	f.clock.Advance(grace + time.Minute)
	if n, err := f.db.FailUnlinkedQueues(f.ctx, f.clock.Now().Add(-grace)); err != nil || n != 1 {
		t.Fatalf("after the grace: failed %d, %v; want the due scheduled message", n, err)
	}
	if m := f.message(due); m.Status != wagate.StatusFailed || m.Error != ErrorRelinkGrace {
		t.Errorf("due scheduled message: %s %q", m.Status, m.Error)
	}
	if m := f.message(later); m.Status != wagate.StatusQueued || m.WaitingReason != wagate.WaitingScheduled {
		t.Errorf("later scheduled message: %s %q, want still scheduled", m.Status, m.WaitingReason)
	}
	if got := f.balance(); got != 9 {
		t.Errorf("balance %d, want 9 (the failed one refunded)", got)
	}
	checkBolt(t, f.db)
}
