package sender

import "time"

// This file holds an account's turn: when its send starts (begin), how the
// pace moves after a later hand-over or gives a turn back, and how early
// the storage work before a send starts (lead).

// begin records a send start of the account, now, and the gap the next one
// waits: drawn, when MarkSending drew it already (with a Leaser it wrote
// the gap for the account's next holder: see lease.go), or drawn here when
// drawn is -1. It returns the start and the turn it replaced, for
// restoreTurn.
//
// start is when the transport is called, after MarkSending has committed,
// not when the storage work began: the gap a recipient sees runs between
// two transport calls, so that is what the pace measures and schedules
// from. The next send is due at start+gap, never earlier, so a slow commit
// or a slow send can make a gap longer than drawn but never shorter (the
// floor interval−jitter holds). Storage latency is kept out of the gap by
// starting the storage work lead before the turn instead (see lead).
func (s *Sender) begin(a *account, waited bool, drawn time.Duration) (start, prevStart time.Time, prevGap time.Duration) {
	s.mu.Lock()
	// Read the clock once the lock is held: at thousands of sends a second
	// the wait for s.mu would otherwise sit between the start the pace
	// counts from and the transport call a recipient sees.
	start = time.Now()
	prevStart, prevGap = a.lastStart, a.gap
	gap := drawn
	if gap < 0 {
		interval, jitter := a.pace.or(s.cfg.Interval, s.cfg.Jitter)
		gap = drawGap(s.rnd, interval, jitter)
	}
	a.lastStart, a.gap = start, gap
	s.mu.Unlock()
	s.m.gapDrawn.Observe(gap.Seconds())
	if waited && !prevStart.IsZero() {
		s.m.gapActual.Observe(start.Sub(prevStart).Seconds())
		s.m.gapError.Observe(start.Sub(prevStart.Add(prevGap)).Seconds())
	}
	return start, prevStart, prevGap
}

// lead is how long before its turn a paced send starts its storage work
// (the queue read at the turn, the account, MarkSending's commit), so the
// transport is called at the turn and not that work's latency after it.
// It is the worst cost of that work over the last one to two windows of
// the longest gap (see prepWindow), with half as much again for margin, up
// to maxLead. A maximum, not an average: the cost swings with the store's
// commit queue, and an average would make every send that meets a busier
// commit late. Windows of the longest gap: an account sending alone still
// remembers the cost its own previous send met. The price: a message sits in
// sending up to lead before its transport is called, so a crash in that
// window leaves it for recover (requeued when the transport confirms it
// never went out, failed and refunded otherwise).
func (s *Sender) lead() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.prep.max(time.Now())
	return min(p+p/2, maxLead)
}

// observePrep feeds the cost of one send's storage work to lead.
func (s *Sender) observePrep(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prep.observe(time.Now(), d)
}

// prepWindow keeps the largest value observed in the current window of
// length span and in the one before: a maximum over the last one to two
// windows, in constant memory.
type prepWindow struct {
	span      time.Duration // of one window
	start     time.Time     // of the current window
	cur, prev time.Duration
}

// roll moves the windows forward to now.
func (w *prepWindow) roll(now time.Time) {
	switch el := now.Sub(w.start); {
	case el < w.span:
	case el < 2*w.span:
		w.prev, w.cur, w.start = w.cur, 0, w.start.Add(w.span)
	default:
		w.prev, w.cur, w.start = 0, 0, now
	}
}

// observe records a value seen at now.
func (w *prepWindow) observe(now time.Time, d time.Duration) {
	w.roll(now)
	w.cur = max(w.cur, d)
}

// max returns the largest value of the last one to two windows before now.
func (w *prepWindow) max(now time.Time) time.Duration {
	w.roll(now)
	return max(w.cur, w.prev)
}

// minTime returns the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// movePace moves the start of the account's last send to when the
// transport reported handing it over (Result.PostedAt), keeping its drawn gap.
func (s *Sender) movePace(a *account, posted time.Time) {
	s.mu.Lock()
	a.lastStart = posted
	s.mu.Unlock()
}

// restoreTurn gives back the turn of a send the transport deferred: the
// account's next message goes as if that send had not started.
func (s *Sender) restoreTurn(a *account, start time.Time, gap time.Duration) {
	s.mu.Lock()
	a.lastStart, a.gap = start, gap
	s.mu.Unlock()
}
