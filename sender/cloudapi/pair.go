package cloudapi

import (
	"sync"
	"time"
)

// sendReserve is the time a send needs after waiting for its recipient's
// turn: Send waits inside only when the context leaves at least this much
// after the wait.
const sendReserve = 10 * time.Second

// pairPruneEvery spaces out the sweeps of the pair memory.
const pairPruneEvery = time.Minute

// pairKey names one (business number, recipient) pair: Meta's pair rate
// limit counts per business phone number and person, so the key is the
// phone_number_id, not the wagate account (two accounts with the same
// phone_number_id share one limit).
type pairKey struct {
	phoneNumberID string
	to            string
}

// pairTurn is the per-recipient decision, pure so a table of instants tests
// it. notBefore is when the pair may get its next message (zero when none is
// remembered); deadline is the send's context deadline (zero when none).
//
// It answers how long to wait (0: send now) and whether Send should wait
// inside (inline) or give the message back at once with sender.Defer:
// inline when the wait is at most maxWait and the deadline leaves
// sendReserve for the send after it.
func pairTurn(notBefore, now time.Time, maxWait time.Duration, deadline time.Time) (wait time.Duration, inline bool) {
	wait = notBefore.Sub(now)
	if wait <= 0 {
		return 0, true
	}
	if wait > maxWait {
		return wait, false
	}
	if !deadline.IsZero() && deadline.Sub(now) < wait+sendReserve {
		return wait, false
	}
	return wait, true
}

// pairs remembers, for each pair that sent lately, when it may send again.
// Entries whose moment has passed say nothing and are swept away, so memory
// follows the pairs of the last few seconds, not every recipient ever.
type pairs struct {
	mu        sync.Mutex
	next      map[pairKey]time.Time
	lastPrune time.Time
}

// take is one look at the pair's turn for a send of n messages at now. When
// the turn has come it books it, the pair's next turn becoming n gaps later,
// and returns wait 0. A send of two messages (a file and its text) goes as a
// burst, which Meta allows by borrowing from the pair's future turns, so the
// send after it waits two gaps. Otherwise it books nothing and returns
// pairTurn's answer.
func (p *pairs) take(k pairKey, now time.Time, n int, gap, maxWait time.Duration, deadline time.Time) (wait time.Duration, inline bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wait, inline = pairTurn(p.next[k], now, maxWait, deadline)
	if wait > 0 {
		return wait, inline
	}
	if p.next == nil {
		p.next = map[pairKey]time.Time{}
	}
	p.pruneLocked(now)
	p.next[k] = now.Add(time.Duration(n) * gap)
	return 0, true
}

// hold pushes the pair's next turn to at least until: Meta answered 131056,
// so something else (another tool on the same number) sent to the person.
func (p *pairs) hold(k pairKey, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == nil {
		p.next = map[pairKey]time.Time{}
	}
	if until.After(p.next[k]) {
		p.next[k] = until
	}
}

// pruneLocked drops the pairs whose turn has come, at most once per
// pairPruneEvery. p.mu is held.
func (p *pairs) pruneLocked(now time.Time) {
	if now.Sub(p.lastPrune) < pairPruneEvery {
		return
	}
	p.lastPrune = now
	for k, t := range p.next {
		if !now.Before(t) {
			delete(p.next, k)
		}
	}
}
