package store

import (
	"testing"
	"time"

	"github.com/wagate/wagate"
)

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
