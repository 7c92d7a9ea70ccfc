package store

import (
	"maps"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// TestWaitingByAccount: the console's counts of why an account's queued
// messages wait: scheduled, held by a rule, their own retry, behind an
// earlier waiting message to the same recipient; a message waiting for
// nothing but its turn is in none.
func TestWaitingByAccount(t *testing.T) {
	f := newFixture(t, 100)
	now := f.clock.Now()
	f.schedule("tomorrow", testJID2, 24*time.Hour)
	held := f.send("to jid 1, at night")
	f.send("to jid 1 again") // behind the held one
	retried := f.request("to jid 2", 1)
	retried.Message.JID = testJID2
	rid := f.accept(retried).Message.ID
	f.send("to jid 1, a third") // behind too
	mustNoErr(t, f.db.Hold(f.ctx, held, wagate.WaitingQuietHours, now.Add(8*time.Hour)))
	mustNoErr(t, f.db.MarkSending(f.ctx, rid, now))
	mustNoErr(t, f.db.Retry(f.ctx, rid, wagate.Try{At: now}, now.Add(time.Minute)))
	other := f.request("to jid 3", 1)
	other.Message.JID = "15550001111@s.whatsapp.net"
	f.accept(other) // its turn only

	counts, complete, err := f.db.WaitingByAccount(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	want := map[string]int{wagate.WaitingScheduled: 1, wagate.WaitingQuietHours: 1, wagate.WaitingBehind: 2, wagate.WaitingRetry: 1}
	if !complete || len(counts) != 1 || !maps.Equal(counts[f.phone], want) {
		t.Fatalf("WaitingByAccount = %v (complete %v), want %s: %v", counts, complete, f.phone, want)
	}
	if counts, _, _ := f.db.WaitingByAccount(f.ctx, "ws_other"); len(counts) != 0 {
		t.Errorf("another workspace's counts = %v", counts)
	}
}

// TestWaitingByAccountCut: past the scan limit the counts are of the
// oldest messages and say so.
func TestWaitingByAccountCut(t *testing.T) {
	f := newFixture(t, 100)
	defer func(n int) { waitingScanLimit = n }(waitingScanLimit)
	waitingScanLimit = 2
	now := f.clock.Now()
	for range 3 {
		id := f.send("held")
		mustNoErr(t, f.db.Hold(f.ctx, id, wagate.WaitingDailyLimit, now.Add(time.Hour)))
	}
	counts, complete, err := f.db.WaitingByAccount(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if complete || counts[f.phone][wagate.WaitingDailyLimit] != 2 {
		t.Fatalf("WaitingByAccount past the limit = %v, complete %v; want 2 counted and not complete", counts, complete)
	}
}
