package sender

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestDrawGapStaysInWindow(t *testing.T) {
	tests := []struct {
		interval, jitter time.Duration
	}{
		{2 * time.Second, 500 * time.Millisecond}, // the default
		{2 * time.Second, 0},                      // no jitter: always the interval
		{time.Second, time.Second},                // the window reaches 0
		{3 * time.Second, time.Nanosecond},        // the narrowest window: 3 values
		{0, 0},                                    // no pacing
	}
	for _, tt := range tests {
		r := rand.New(rand.NewPCG(7, 11))
		lo, hi := tt.interval-tt.jitter, tt.interval+tt.jitter
		minG, maxG := hi, lo
		for range 20000 {
			g := drawGap(r, tt.interval, tt.jitter)
			if g < lo || g > hi {
				t.Fatalf("%v ± %v: drew %v, outside [%v, %v]", tt.interval, tt.jitter, g, lo, hi)
			}
			minG, maxG = min(minG, g), max(maxG, g)
		}
		// Uniform over the window: 20,000 draws come close to both ends.
		if slack := tt.jitter / 100; minG > lo+slack || maxG < hi-slack {
			t.Errorf("%v ± %v: draws spread over [%v, %v], want about [%v, %v]", tt.interval, tt.jitter, minG, maxG, lo, hi)
		}
	}
}

func TestDrawGapReachesBothEnds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	seen := map[time.Duration]bool{}
	for range 1000 {
		seen[drawGap(r, 10, 1)] = true
	}
	for _, g := range []time.Duration{9, 10, 11} {
		if !seen[g] {
			t.Errorf("10ns ± 1ns never drew %v; the window is closed at both ends", g)
		}
	}
}

func TestNextSendAt(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := time.Second
	tests := []struct {
		name      string
		lastStart time.Time
		gap       time.Duration
		now       time.Time
		want      time.Time
	}{
		{"first send goes at once", time.Time{}, 2 * s, t0, t0},
		{"inside the gap waits for its end", t0, 2 * s, t0.Add(500 * time.Millisecond), t0.Add(2 * s)},
		{"right after a send", t0, 2 * s, t0, t0.Add(2 * s)},
		{"exactly at the gap's end", t0, 2 * s, t0.Add(2 * s), t0.Add(2 * s)},
		{"after idle time goes at once, no burst", t0, 2 * s, t0.Add(time.Hour), t0.Add(time.Hour)},
		{"zero gap", t0, 0, t0, t0},
		{"clock before the last start still keeps the gap", t0, 2 * s, t0.Add(-s), t0.Add(2 * s)},
	}
	for _, tt := range tests {
		if got := nextSendAt(tt.lastStart, tt.gap, tt.now); !got.Equal(tt.want) {
			t.Errorf("%s: nextSendAt = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestGapBucketsIncrease(t *testing.T) {
	for _, w := range [][2]time.Duration{{1500 * time.Millisecond, 2500 * time.Millisecond}, {2 * time.Second, 2 * time.Second}, {0, time.Second}, {0, 0}} {
		b := gapBuckets(w[0], w[1])
		if len(b) == 0 || !slices.IsSorted(b) || slices.Compact(slices.Clone(b)) == nil || len(slices.Compact(slices.Clone(b))) != len(b) {
			t.Errorf("gapBuckets(%v, %v) = %v, want strictly increasing", w[0], w[1], b)
		}
		if w[1] > 0 && b[len(b)-1] < w[1].Seconds() {
			t.Errorf("gapBuckets(%v, %v) = %v ends below the window", w[0], w[1], b)
		}
	}
}
