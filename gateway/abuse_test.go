package gateway

import (
	"fmt"
	"testing"
	"time"
)

// TestFailureLimiterDecision steps one address through a table of instants:
// limit failures at once, then blocked until one failure drained (window /
// limit), then one more failure allowed at a time.
func TestFailureLimiterDecision(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	l := newFailureLimiter(10, time.Minute, 100) // drains one failure per 6 s
	const ip = "198.51.100.7"
	steps := []struct {
		at      time.Duration // after t0
		fails   int           // failures recorded at that instant, after the check
		blocked bool          // the check before them
		retry   int
	}{
		{0, 9, false, 0},
		{0, 1, false, 0},              // the 10th failure: allowed
		{0, 0, true, 6},               // the 11th waits for one to drain
		{3 * time.Second, 0, true, 3}, // half way
		{5999 * time.Millisecond, 0, true, 1},
		{6 * time.Second, 1, false, 0},   // one drained: one more allowed
		{6 * time.Second, 0, true, 6},    // and blocked again
		{60 * time.Second, 0, false, 0},  // a minute after: 10 → 1 left of the level
		{120 * time.Second, 0, false, 0}, // drained to zero
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		retry, blocked := l.blocked(ip, now)
		if blocked != s.blocked || retry != s.retry {
			t.Fatalf("step %d at +%s: blocked %v retry %d; want %v, %d", i, s.at, blocked, retry, s.blocked, s.retry)
		}
		for range s.fails {
			l.fail(ip, now)
		}
	}
	// Another address has its own budget.
	if _, blocked := l.blocked("198.51.100.8", t0); blocked {
		t.Error("an address that never failed is blocked")
	}
}

// TestFailureLimiterReportsTheBlockOnce: fail says when the budget was
// just used up, so the gateway logs a block once rather than per request.
func TestFailureLimiterReportsTheBlockOnce(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	l := newFailureLimiter(3, time.Minute, 100)
	var got []bool
	for range 3 {
		got = append(got, l.fail("192.0.2.1", t0))
	}
	if fmt.Sprint(got) != "[false false true]" {
		t.Errorf("fail() = %v, want [false false true]", got)
	}
}

// TestFailureLimiterIsBounded: a flood of addresses never holds more than
// max entries; drained ones go first, then the oldest of those not
// blocked, so the flood does not free a blocked guesser.
func TestFailureLimiterIsBounded(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	l := newFailureLimiter(2, time.Minute, 50)
	const guesser = "203.0.113.9"
	l.fail(guesser, t0)
	l.fail(guesser, t0) // blocked from now on, for a while
	for i := range 500 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		l.fail(fmt.Sprintf("10.0.%d.%d", i/250, i%250), at)
		if n := l.tracked(); n > 50 {
			t.Fatalf("%d addresses tracked after %d new ones; the bound is 50", n, i+1)
		}
	}
	if _, blocked := l.blocked(guesser, t0.Add(500*time.Millisecond)); !blocked {
		t.Error("a flood of new addresses evicted the blocked one")
	}
	if _, blocked := l.blocked("10.0.0.0", t0.Add(500*time.Millisecond)); blocked {
		t.Error("the first flood address is still tracked as blocked")
	}
	// When all are blocked, the oldest goes.
	full := newFailureLimiter(1, time.Minute, 2)
	full.fail("192.0.2.1", t0)
	full.fail("192.0.2.2", t0.Add(time.Millisecond))
	full.fail("192.0.2.3", t0.Add(2*time.Millisecond))
	if _, blocked := full.blocked("192.0.2.1", t0.Add(3*time.Millisecond)); blocked || full.tracked() != 2 {
		t.Errorf("all blocked: tracked %d, oldest still blocked %v; want 2 tracked, the oldest evicted", full.tracked(), blocked)
	}
	// Once everything drained, the next sweep clears every drained one.
	old := l.tracked()
	for i := range 50 - old + 1 {
		l.fail(fmt.Sprintf("192.0.3.%d", i), t0.Add(time.Hour))
	}
	if n := l.tracked(); n != 50-old+1 {
		t.Errorf("%d addresses tracked after a sweep of %d drained ones; want only the %d new ones", n, old, 50-old+1)
	}
}

func TestAddrKey(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"::ffff:192.0.2.1", "192.0.2.1", true},           // IPv4-mapped
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true}, // one /64
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"fe80::1%eth0", "fe80::2", true},
	} {
		ka, oka := addrKey(tt.a)
		kb, okb := addrKey(tt.b)
		if !oka || !okb || (ka == kb) != tt.same {
			t.Errorf("addrKey(%q) = %v, addrKey(%q) = %v; same = %v, want %v", tt.a, ka, tt.b, kb, ka == kb, tt.same)
		}
	}
	if _, ok := addrKey("not an address"); ok {
		t.Error("addrKey accepted a non-address")
	}
	l := newFailureLimiter(1, time.Minute, 10)
	l.fail("", time.Now())
	if l.tracked() != 0 {
		t.Error("an empty address was tracked")
	}
}
