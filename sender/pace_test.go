package sender

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/wagate/wagate"
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

func TestRetryDelay(t *testing.T) {
	transient := errors.New("503")
	tests := []struct {
		name    string
		retries int
		err     error
		lo, hi  time.Duration // the window of the delay; ok false when lo < 0
	}{
		{"first retry", 0, transient, 4 * time.Second, 6 * time.Second},
		{"second", 1, transient, 24 * time.Second, 36 * time.Second},
		{"third", 2, transient, 96 * time.Second, 144 * time.Second},
		{"fourth", 3, transient, 8 * time.Minute, 12 * time.Minute},
		{"fifth and last", 4, transient, 24 * time.Minute, 36 * time.Minute},
		{"none left", 5, transient, -1, 0},
		{"permanent", 0, Permanent(transient), -1, 0},
		{"wrapped permanent", 2, fmt.Errorf("cloudapi: %w", Permanent(transient)), -1, 0},
		{"retry-after longer than the backoff wins", 0, RetryAfter(transient, time.Hour), time.Hour, time.Hour},
		{"retry-after shorter than the backoff loses", 1, RetryAfter(transient, time.Second), 24 * time.Second, 36 * time.Second},
		{"retry-after does not add retries", 5, RetryAfter(transient, time.Second), -1, 0},
	}
	for _, tt := range tests {
		r := rand.New(rand.NewPCG(1, 2))
		for range 500 {
			d, ok := retryDelay(r, defaultRetryDelays, tt.retries, tt.err)
			if tt.lo < 0 {
				if ok {
					t.Fatalf("%s: retry in %v, want none", tt.name, d)
				}
				continue
			}
			if !ok || d < tt.lo || d > tt.hi {
				t.Fatalf("%s: retryDelay = %v, %v; want in [%v, %v]", tt.name, d, ok, tt.lo, tt.hi)
			}
		}
	}
}

func TestErrorClass(t *testing.T) {
	base := errors.New("x")
	tests := []struct {
		err  error
		want string
	}{
		{base, wagate.TryClassTransient},
		{context.DeadlineExceeded, wagate.TryClassTransient},
		{Permanent(base), wagate.TryClassPermanent},
		{fmt.Errorf("wrapped: %w", RetryAfter(base, time.Second)), wagate.TryClassRateLimited},
		{Permanent(RetryAfter(base, time.Second)), wagate.TryClassPermanent},
	}
	for _, tt := range tests {
		if got := errorClass(tt.err); got != tt.want {
			t.Errorf("errorClass(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestRetriesOf(t *testing.T) {
	m := &wagate.Message{Tries: []wagate.Try{
		{Result: wagate.TryResultRetry, Class: wagate.TryClassTransient},
		{Result: wagate.TryResultRetry, Class: wagate.TryClassInterrupted},
		{Result: wagate.TryResultRetry, Class: wagate.TryClassRateLimited},
		{Result: wagate.TryResultSent},
	}}
	if n := retriesOf(m); n != 2 {
		t.Errorf("retriesOf = %d, want 2 (the interrupted try is not a retry)", n)
	}
}

// TestRetryDelayDeferred: a deferred send comes back after exactly its
// delay and never counts against the schedule, even when it is used up.
func TestRetryDelayDeferred(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	err := Defer(errors.New("recipient's turn not yet"), 4*time.Second)
	for _, retries := range []int{0, len(defaultRetryDelays), len(defaultRetryDelays) + 3} {
		d, ok := retryDelay(r, defaultRetryDelays, retries, err)
		if !ok || d != 4*time.Second {
			t.Errorf("retries %d: retryDelay = %v, %v; want 4s, true", retries, d, ok)
		}
	}
	if c := errorClass(err); c != wagate.TryClassDeferred {
		t.Errorf("class = %q, want %q", c, wagate.TryClassDeferred)
	}
	m := &wagate.Message{Tries: []wagate.Try{
		{Result: wagate.TryResultRetry, Class: wagate.TryClassDeferred},
		{Result: wagate.TryResultRetry, Class: wagate.TryClassTransient},
	}}
	if n := retriesOf(m); n != 1 {
		t.Errorf("retriesOf = %d, want 1: a deferral is not a retry", n)
	}
	if !IsDeferred(fmt.Errorf("wrapped: %w", err)) || IsDeferred(RetryAfter(errors.New("x"), time.Second)) {
		t.Error("IsDeferred does not see through wrapping, or sees a plain RetryAfter")
	}
}

func TestHerdDelay(t *testing.T) {
	s := time.Second
	tests := []struct {
		name     string
		i, n     int
		interval time.Duration
		want     time.Duration
	}{
		{"a small herd goes at once", herdBurst - 1, herdBurst, 2 * s, 0},
		{"the burst of a big herd goes at once", herdBurst - 1, 10000, 2 * s, 0},
		{"the first after the burst goes at once too", herdBurst, 10000, 2 * s, 0},
		// 9,900 past the burst at 5,000/s: 1.98 s, under the interval.
		{"the last of 10,000 at the herd rate", 9999, 10000, 2 * s, 1980 * time.Millisecond * 9899 / 9900},
		{"halfway at the herd rate", herdBurst + 4500, 10000, 2 * s, 900 * time.Millisecond},
		// 99,900 past the burst would take 19.98 s: squeezed into the interval.
		{"never beyond one interval", 99999, 100000, 2 * s, 2 * s * 99899 / 99900},
		{"no pacing, no spread", 5000, 10000, 0, 0},
	}
	for _, tt := range tests {
		if got := herdDelay(tt.i, tt.n, tt.interval); got != tt.want {
			t.Errorf("%s: herdDelay(%d, %d, %v) = %v, want %v", tt.name, tt.i, tt.n, tt.interval, got, tt.want)
		}
	}
}

func TestPrepWindowKeepsTheRecentMaximum(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := time.Millisecond
	w := prepWindow{span: time.Second}
	if got := w.max(t0); got != 0 {
		t.Fatalf("empty window: max = %v, want 0", got)
	}
	w.observe(t0, 40*ms)
	w.observe(t0.Add(100*ms), 5*ms)
	if got := w.max(t0.Add(200 * ms)); got != 40*ms {
		t.Errorf("a smaller value must not lower the maximum: got %v, want 40ms", got)
	}
	// In the next window the previous one still counts.
	w.observe(t0.Add(1500*ms), 10*ms)
	if got := w.max(t0.Add(1600 * ms)); got != 40*ms {
		t.Errorf("one window later: max = %v, want 40ms from the window before", got)
	}
	// Two windows later the 40 ms has aged out; the 10 ms has not.
	if got := w.max(t0.Add(2100 * ms)); got != 10*ms {
		t.Errorf("two windows later: max = %v, want 10ms", got)
	}
	// After a long quiet time nothing is remembered.
	if got := w.max(t0.Add(time.Hour)); got != 0 {
		t.Errorf("an hour later: max = %v, want 0", got)
	}
}
