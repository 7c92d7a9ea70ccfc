package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		scanned, headroom uint64
		want              int
	}{
		{0, 64 << 20, 100},                // nothing measured yet: Go's default
		{4 << 20, 64 << 20, 1600},         // a small heap grows 64 MiB, not 4
		{64 << 20, 64 << 20, 100},         // from here on, Go's default
		{1 << 30, 64 << 20, 100},          // a large heap is never collected more often than by default
		{1, 64 << 20, 1_000_000},          // bounded
		{10 << 20, 0, 100},                // no headroom: Go's default
		{3 << 20, 64 << 20, 100 * 64 / 3}, // rounds down
	} {
		if got := Percent(c.scanned, c.headroom); got != c.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", c.scanned, c.headroom, got, c.want)
		}
	}
}

// After a collection, check sets GOGC so the heap may grow by the
// headroom above what the collection found, and leaves it be until the
// next collection.
func TestCheckSetsThePercentAfterACollection(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const headroom = 256 << 20 // far above this test binary's heap
	tu := newTuner(headroom)
	runtime.GC()
	got := tu.check()
	if got <= 100 {
		t.Fatalf("percent after a collection of a small heap = %d, want more than 100", got)
	}
	if inForce := gogc(t); inForce != got {
		t.Errorf("GOGC in force = %d, check reported %d", inForce, got)
	}
	// No collection since: nothing changes, even if the setting moved.
	debug.SetGCPercent(100)
	if again := tu.check(); again != got || gogc(t) != 100 {
		t.Errorf("check without a new collection = %d (GOGC %d), want it to leave the setting alone", again, gogc(t))
	}
}

func gogc(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
