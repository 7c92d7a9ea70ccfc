// Package gctune paces Go's garbage collector for a server whose live heap
// is small but whose allocation rate is high, as wagate's is under load.
//
// With the default GOGC=100, the collector runs whenever the heap has
// grown by as much as the live data (plus stacks and globals). wagate's
// live data is a few MiB while an accept allocates ~20 KiB, so at 25,000
// accepts/s the collector ran about a hundred times a second and took a
// sixth of the CPU, part of it as assists inside the store's single writer
// goroutine. Run gives the heap a fixed headroom instead: the next
// collection starts once the heap has grown by max(headroom, what GOGC=100
// allows). A small heap thus collects a few times a second at a memory
// cost of at most headroom; a large one (10,000 paced accounts) is
// collected exactly as with the default.
package gctune

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// DefaultHeadroom is how far the heap may grow above its live data before
// a collection: 64 MiB.
const DefaultHeadroom = 64 << 20

// checkEvery is how often Run looks for a finished collection. It acts
// only after one, so a quiet server costs one metrics read per tick.
const checkEvery = 50 * time.Millisecond

// Enabled reports whether Run should be used: not when the operator set
// GOGC, whose choice stands.
func Enabled() bool {
	_, set := os.LookupEnv("GOGC")
	return !set
}

// Percent is the GOGC that gives headroom above the memory the collector
// scans (live heap, stacks, globals), never below Go's default of 100.
func Percent(scanned, headroom uint64) int {
	if scanned == 0 {
		return 100
	}
	p := float64(headroom) * 100 / float64(scanned)
	return int(math.Max(100, math.Min(p, 1e6)))
}

// running keeps a second Run in the same process (tests start several
// servers) from fighting the first over the one GC setting.
var running atomic.Bool

// Run sets the GC percent after every collection until ctx is done, then
// puts back the percent it found. A Run while another runs returns at once.
func Run(ctx context.Context, headroom uint64) {
	if !running.CompareAndSwap(false, true) {
		return
	}
	defer running.Store(false)
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	tu := newTuner(headroom)
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		tu.check()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tuner remembers the last collection it acted on and the percent it set.
type tuner struct {
	headroom uint64
	samples  []metrics.Sample
	seen     uint64 // collections counted at the last check
	current  int    // the percent in force
}

func newTuner(headroom uint64) *tuner {
	return &tuner{
		headroom: headroom,
		current:  100,
		samples: []metrics.Sample{
			{Name: "/gc/cycles/total:gc-cycles"},
			{Name: "/gc/heap/live:bytes"},
			{Name: "/gc/scan/stack:bytes"},
			{Name: "/gc/scan/globals:bytes"},
		},
	}
}

// check sets the percent for the memory the last collection found, if one
// finished since the previous check, and returns the percent in force.
func (tu *tuner) check() int {
	metrics.Read(tu.samples)
	for _, s := range tu.samples {
		if s.Value.Kind() != metrics.KindUint64 {
			return tu.current // a runtime without these metrics: leave GOGC be
		}
	}
	cycles := tu.samples[0].Value.Uint64()
	if cycles == tu.seen {
		return tu.current
	}
	tu.seen = cycles
	scanned := tu.samples[1].Value.Uint64() + tu.samples[2].Value.Uint64() + tu.samples[3].Value.Uint64()
	// Small swings of the live heap leave the percent alone.
	if p := Percent(scanned, tu.headroom); math.Abs(float64(p-tu.current)) > float64(tu.current)/10 {
		debug.SetGCPercent(p)
		tu.current = p
	}
	return tu.current
}
