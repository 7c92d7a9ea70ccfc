package sender

import (
	"math/rand/v2"
	"time"
)

// This file holds the pacing decisions as pure functions of their inputs, so
// they are table-tested without a clock; the worker loop only asks them and
// waits (STYLE.md, "Time and randomness").

// drawGap draws the pause between two send starts of one account, uniform
// in [interval-jitter, interval+jitter], both ends included. The caller keeps
// 0 <= jitter <= interval (Config.normalize does), so a gap is never
// negative; drawGap still clamps at 0 rather than trust it.
func drawGap(r *rand.Rand, interval, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return max(interval, 0)
	}
	// Int64N(2*jitter+1) is in [0, 2*jitter]: the upper end is reachable.
	g := interval - jitter + time.Duration(r.Int64N(int64(2*jitter)+1))
	return max(g, 0)
}

// nextSendAt says when an account may start its next send, given the start
// of its previous send (zero: none remembered, as for the first send or after
// a restart) and the gap drawn after it. A send that is already due goes now,
// never in the past: the pace limits how fast an account sends, it does not
// make up for idle time with a burst.
func nextSendAt(lastStart time.Time, gap time.Duration, now time.Time) time.Time {
	if lastStart.IsZero() {
		return now
	}
	at := lastStart.Add(gap)
	if at.After(now) {
		return at
	}
	return now
}
