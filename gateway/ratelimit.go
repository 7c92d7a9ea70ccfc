package gateway

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet holds the gateway's request limits: one token bucket per
// inbound URL, and the per-address abuse limits of abuse.go. The buckets
// are keyed by workspace id rather than token, so regenerating the URL does
// not reset the budget, and unknown tokens (never looked up here) cannot
// grow the map.
type limiterSet struct {
	rate  rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter

	// guesses counts requests to unknown inbound tokens per address;
	// authFailures counts admin API 401s per address.
	guesses      *failureLimiter
	authFailures *failureLimiter
	// signins counts console sign-ins per address, right or wrong.
	signins *failureLimiter
}

func newLimiterSet(perSecond float64, burst int) *limiterSet {
	return &limiterSet{
		rate:         rate.Limit(perSecond),
		burst:        burst,
		m:            map[string]*rate.Limiter{},
		guesses:      newFailureLimiter(GuessLimit, GuessWindow, maxTrackedAddrs),
		authFailures: newFailureLimiter(AuthFailureLimit, AuthFailureWindow, maxTrackedAddrs),
		signins:      newFailureLimiter(SignInLimit, SignInWindow, maxTrackedAddrs),
	}
}

// allow takes one request from the workspace's bucket at now. When the
// bucket is empty it returns false and how many whole seconds to wait (at
// least 1), for the Retry-After header.
func (l *limiterSet) allow(workspaceID string, now time.Time) (ok bool, retryAfter int) {
	l.mu.Lock()
	lim, found := l.m[workspaceID]
	if !found {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[workspaceID] = lim
	}
	l.mu.Unlock()

	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, 1
	}
	delay := r.DelayFrom(now)
	if delay <= 0 {
		return true, 0
	}
	// A rejected request must not consume a future token: give it back.
	r.CancelAt(now)
	secs := int(math.Ceil(delay.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return false, secs
}
