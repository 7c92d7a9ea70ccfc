package gateway

import (
	"math"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Abuse limits: how many failures one client address may cause per minute
// before it is answered 429. Tokens are 256-bit random values, so guessing
// one cannot succeed; these limits keep a scanner from using wagate as a
// free oracle at full speed, and keep its noise bounded.
const (
	// GuessLimit is how many requests to unknown inbound tokens (404s) one
	// address may make per GuessWindow. Further requests to unknown tokens
	// get 429 with Retry-After; requests to real tokens are never limited
	// by it (an integration platform's shared address that also calls a
	// regenerated URL keeps working for everyone else).
	GuessLimit = 10
	// GuessWindow is the window of GuessLimit: one guess drains every
	// GuessWindow / GuessLimit.
	GuessWindow = time.Minute
	// AuthFailureLimit is how many admin API requests with a wrong or
	// missing token (401s) one address may make per AuthFailureWindow.
	// After that its further wrong tokens get 429 with Retry-After until
	// enough time passed. A right token is always served (SPEC §6): every
	// user behind one reverse proxy shares an address, so blocking the
	// address would let anyone lock out the operator and the owners. That
	// the 429 comes only for wrong tokens tells a guesser nothing it could
	// use: a token is 256 random bits.
	AuthFailureLimit = 10
	// AuthFailureWindow is the window of AuthFailureLimit.
	AuthFailureWindow = time.Minute
	// SignInLimit is how many console sign-ins with a right token one
	// address may make per SignInWindow (SPEC §6); wrong tokens have their
	// own count (AuthFailureLimit), so they never use these up. A person
	// signs in a few times a day; ten a minute leaves room for an office
	// behind one address, and stops a script from filling the session
	// store or cycling through a token's sessions.
	SignInLimit = 10
	// SignInWindow is the window of SignInLimit.
	SignInWindow = time.Minute
	// maxTrackedAddrs bounds the memory of each limiter: an entry takes
	// about a hundred bytes, so 10,000 addresses take about a megabyte.
	maxTrackedAddrs = 10000
)

// unknownToken answers a request for an inbound token that does not exist:
// notFound (SPEC's exact 404), counted against the client's address, or a
// 429 once the address made GuessLimit of them within GuessWindow. It is
// only called after the lookup failed, so a real token's requests are never
// refused by it, and a 429 says nothing a 404 would not: that this token is
// unknown.
func (s *Server) unknownToken(c echo.Context, notFound error) error {
	addr, now := c.RealIP(), s.now()
	if retry, blocked := s.limits.guesses.blocked(addr, now); blocked {
		c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(retry))
		return wagate.Errorf(wagate.ERATELIMIT, "too many requests to unknown inbound URLs from this address (at most %d %s); check the URL, then retry after %d s", GuessLimit, per(GuessWindow), retry)
	}
	if s.limits.guesses.fail(addr, now) {
		s.log.Warn("too many requests to unknown inbound tokens from one address; answering 429 for a while",
			zap.String("remote_addr", addr), zap.Int("limit", GuessLimit), zap.Duration("window", GuessWindow))
	}
	return notFound
}

// wrongToken answers an admin API request whose token is wrong or
// missing: err (the 401), counted against the client's address, or a 429
// once the address made AuthFailureLimit of them within AuthFailureWindow.
// It is only called after the lookup failed, so a right token is never
// refused by it.
func (s *Server) wrongToken(c echo.Context, err error) error {
	addr, now := c.RealIP(), s.now()
	if retry, blocked := s.limits.authFailures.blocked(addr, now); blocked {
		c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(retry))
		return wagate.Errorf(wagate.ERATELIMIT, "too many requests with a wrong admin token from this address (at most %d %s); check the token, then retry after %d s", AuthFailureLimit, per(AuthFailureWindow), retry)
	}
	if s.limits.authFailures.fail(addr, now) {
		s.log.Warn("too many admin API requests with a wrong token from one address; answering 429 to its wrong tokens for a while",
			zap.String("remote_addr", addr), zap.Int("limit", AuthFailureLimit), zap.Duration("window", AuthFailureWindow))
	}
	return err
}

// SignInBlocked reports whether the client address of r has tried too many
// wrong admin tokens to try another now, and how many seconds to wait. The
// web console's sign-in shares the admin API's limit, so a guesser gains
// nothing by switching doors. Like the admin API, the console asks only
// after a token was not found: a right token always signs in.
func (s *Server) SignInBlocked(r *http.Request) (retryAfter int, blocked bool) {
	return s.limits.authFailures.blocked(s.ClientAddr(r), s.now())
}

// SignInFailed counts a wrong token tried at the console's sign-in against
// the client address of r.
func (s *Server) SignInFailed(r *http.Request) {
	addr := s.ClientAddr(r)
	if s.limits.authFailures.fail(addr, s.now()) {
		s.log.Warn("too many console sign-ins with a wrong token from one address; refusing for a while",
			zap.String("remote_addr", addr))
	}
}

// SignInRateLimited reports whether the client address of r has signed in
// with a right token SignInLimit times within SignInWindow, and how many
// seconds to wait.
func (s *Server) SignInRateLimited(r *http.Request) (retryAfter int, limited bool) {
	return s.limits.signins.blocked(s.ClientAddr(r), s.now())
}

// SignInAttempted counts one sign-in with a right token of the client
// address of r against SignInLimit.
func (s *Server) SignInAttempted(r *http.Request) {
	if s.limits.signins.fail(s.ClientAddr(r), s.now()) {
		s.log.Warn("too many console sign-ins from one address; refusing for a while",
			zap.String("remote_addr", s.ClientAddr(r)), zap.Int("limit", SignInLimit), zap.Duration("window", SignInWindow))
	}
}

// per says "a minute" rather than "per 1m0s".
func per(window time.Duration) string {
	if window == time.Minute {
		return "a minute"
	}
	return "per " + window.String()
}

// failureLimiter counts failures per client address in a leaky bucket:
// each failure adds one, and the level drains at limit per window, so an
// address may fail limit times at once and then once every window/limit.
// An address is blocked while one more failure would take it over limit.
// Blocked requests are refused without adding to the level, so a client
// that keeps hammering gets exactly the allowed rate, no less.
//
// The decision takes the time as an argument (the gateway's injected
// clock), so tests step through it without waiting.
type failureLimiter struct {
	limit  float64
	window time.Duration
	max    int

	mu sync.Mutex
	m  map[netip.Prefix]*failureLevel
}

// failureLevel is one address's bucket: its level as of at.
type failureLevel struct {
	level float64
	at    time.Time
}

func newFailureLimiter(limit int, window time.Duration, max int) *failureLimiter {
	return &failureLimiter{limit: float64(limit), window: window, max: max, m: map[netip.Prefix]*failureLevel{}}
}

// perSecond is how fast a level drains.
func (l *failureLimiter) perSecond() float64 { return l.limit / l.window.Seconds() }

// levelAt is e's level drained until now.
func (l *failureLimiter) levelAt(e *failureLevel, now time.Time) float64 {
	d := now.Sub(e.at).Seconds()
	if d < 0 {
		d = 0
	}
	return math.Max(0, e.level-d*l.perSecond())
}

// blocked reports whether addr has used up its failures at now, and if so
// in how many whole seconds (at least 1) it may fail once more.
func (l *failureLimiter) blocked(addr string, now time.Time) (retryAfter int, blocked bool) {
	key, ok := addrKey(addr)
	if !ok {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		return 0, false
	}
	lvl := l.levelAt(e, now)
	if lvl <= l.limit-1 {
		return 0, false
	}
	wait := (lvl - (l.limit - 1)) / l.perSecond()
	return max(1, int(math.Ceil(wait))), true
}

// fail records one failure of addr at now. It reports whether this
// failure used up the address's budget, so the caller logs that once.
func (l *failureLimiter) fail(addr string, now time.Time) (nowBlocked bool) {
	key, ok := addrKey(addr)
	if !ok {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		if len(l.m) >= l.max {
			l.evict(now)
		}
		e = &failureLevel{}
		l.m[key] = e
	}
	e.level = l.levelAt(e, now) + 1
	e.at = now
	return e.level > l.limit-1
}

// evict makes room for new addresses: first every address whose level
// drained to zero (it would start from zero anyway), then the addresses not
// blocked, oldest failure first, and only then blocked ones, oldest first;
// so a flood of new addresses does not free a blocked guesser. It frees a
// tenth of max at once, so a flood pays for the scan once per max/10 new
// addresses, not on every request.
func (l *failureLimiter) evict(now time.Time) {
	target := l.max - max(1, l.max/10)
	type candidate struct {
		key     netip.Prefix
		at      time.Time
		blocked bool
	}
	var cands []candidate
	for k, e := range l.m {
		lvl := l.levelAt(e, now)
		if lvl == 0 {
			delete(l.m, k)
			continue
		}
		cands = append(cands, candidate{k, e.at, lvl > l.limit-1})
	}
	if len(l.m) <= target {
		return
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].blocked != cands[j].blocked {
			return !cands[i].blocked
		}
		return cands[i].at.Before(cands[j].at)
	})
	for _, c := range cands {
		if len(l.m) <= target {
			return
		}
		delete(l.m, c.key)
	}
}

// tracked is how many addresses the limiter holds, for tests.
func (l *failureLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// addrKey is the unit a limit applies to: an IPv4 address, or the /64 of
// an IPv6 address (one subscriber gets a whole /64, so counting its
// addresses one by one would give it 2^64 budgets). ok is false for what
// is not an IP address; such a request is not counted.
func addrKey(addr string) (netip.Prefix, bool) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32), true
	}
	p, err := ip.Prefix(64)
	return p, err == nil
}
