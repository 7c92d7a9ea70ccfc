package sender

import (
	"math/rand/v2"
	"time"

	"github.com/wagate/wagate"
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

// herdDelay says how long the i-th of n accounts resumed together at start
// (Run's QueuedAccounts) waits before its first send. The first herdBurst
// go at once; the others follow at herdRate a second, in the order listed,
// and all within one interval. Without it 10,000 accounts were all due at
// the same instant: their storage work and sends queued behind each other
// for up to a second and a half, and with a fixed interval every later
// round of sends kept that crowded shape, which is what made gaps late.
// Spreading costs an account at most one interval after a restart, which
// the pace would make it wait anyway had it sent just before the stop.
func herdDelay(i, n int, interval time.Duration) time.Duration {
	if i < herdBurst || n <= herdBurst || interval <= 0 {
		return 0
	}
	window := min(interval, time.Duration(n-herdBurst)*time.Second/herdRate)
	return window * time.Duration(i-herdBurst) / time.Duration(n-herdBurst)
}

// retryJitterPercent spreads each retry delay uniformly over ±20 % of its
// nominal value, so the retries of messages that failed together (a
// provider outage) do not come back together.
const retryJitterPercent = 20

// defaultRetryDelays is SPEC §2's schedule: the pause before the 1st, 2nd…
// retry of a message. After the last one a failing message fails: 6 tries
// over about 42 minutes.
var defaultRetryDelays = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute}

// retryDelay decides what follows a try that failed with err, for a message
// that has had `retries` retries already: ok is false when the schedule
// has no retry left (or err is permanent), and the message fails; else
// delay is the pause before the next try, delays[retries] ± 20 %, or the
// error's RetryAfter delay when that is longer. The account's pace comes on
// top: a retry is a send and waits its turn like any other.
func retryDelay(r *rand.Rand, delays []time.Duration, retries int, err error) (delay time.Duration, ok bool) {
	if IsDeferred(err) {
		// Not a failed try: no backoff, no retry used up.
		delay, _ = RetryDelay(err)
		return delay, true
	}
	if IsUnavailable(err) {
		// Not a failed try either: the message is due again at once, and
		// the account waits for its session instead (see Unavailable).
		return 0, true
	}
	if IsPermanent(err) || retries < 0 || retries >= len(delays) {
		return 0, false
	}
	base := delays[retries]
	delay = drawGap(r, base, base*retryJitterPercent/100)
	if after, ok := RetryDelay(err); ok && after > delay {
		delay = after
	}
	return delay, true
}

// errorClass files an error of a try under wagate.TryClass…: deferred
// (marked by Defer or Unavailable: not tried, no retry used), permanent (marked by Permanent), rate_limited (it
// carries a RetryAfter delay) or transient.
func errorClass(err error) string {
	switch {
	case IsDeferred(err), IsUnavailable(err):
		return wagate.TryClassDeferred
	case IsPermanent(err):
		return wagate.TryClassPermanent
	default:
		if _, ok := RetryDelay(err); ok {
			return wagate.TryClassRateLimited
		}
		return wagate.TryClassTransient
	}
}

// retriesOf counts the retries a message has had: its tries that ended in
// "retry" because of an error. A try recorded for an interrupted send that
// the transport confirmed never happened is not one, nor a deferred one:
// the message lost nothing of its schedule by wagate's stop or by waiting
// its turn.
func retriesOf(m *wagate.Message) int {
	n := 0
	for _, t := range m.Tries {
		if t.Result == wagate.TryResultRetry && t.Class != wagate.TryClassInterrupted && t.Class != wagate.TryClassDeferred {
			n++
		}
	}
	return n
}
