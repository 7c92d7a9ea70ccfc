package sender

import (
	"context"
	"time"
)

// Parking.
//
// An account that waits for its turn (or for a retry to come due) does not
// keep a goroutine: its worker sets a timer and returns, and the timer
// starts a new worker when the wait is over. A goroutine blocked for two
// seconds costs its stack and what it holds, about 17 KiB an account, which
// was 170 MiB for 10,000 paced accounts; a parked account costs its timer.
// The state a worker needs across the wait lives in the account (the pace,
// the downloads of its next files), so the new worker picks up where the
// old one stopped: it reads the queue at the top of its loop, which is the
// read it would have made at the turn.
//
// While parked, the account counts as working: Wake starts no second
// worker. A Wake either leaves a note for the worker to come (the plan was
// full, so a new message, which queues behind it, cannot change it) or,
// when the worker wanted to hear of new messages (its plan had room for
// another file to fetch, or it waits for a retry), ends the wait at once.

// parkResult is what park did.
type parkResult int

const (
	parked    parkResult = iota // the worker must return; a timer brings the next one
	woken                       // a Wake came in first: go on at once
	notParked                   // the sender is stopping: return as usual
)

// park hands the account to a timer that starts a new worker after d.
// resumeOnWake says whether a Wake meanwhile should end the wait at once;
// waited whether the wait is for the account's turn (the gap metrics of
// the send to come measure it).
func (s *Sender) park(ctx context.Context, a *account, d time.Duration, resumeOnWake, waited bool) parkResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parkLocked(ctx, a, d, resumeOnWake, waited)
}

// parkLocked is park with s.mu held, for a caller that decides to park in
// the same section that looked at the account (parkForSession).
func (s *Sender) parkLocked(ctx context.Context, a *account, d time.Duration, resumeOnWake, waited bool) parkResult {
	if !s.running || ctx.Err() != nil {
		return notParked
	}
	if resumeOnWake {
		select {
		case <-a.wake:
			return woken
		default:
		}
	}
	a.parkGen++
	gen := a.parkGen
	a.resumeOnWake, a.waitedTurn = resumeOnWake, waited
	a.wakeAt = time.Time{}
	if waited {
		a.wakeAt = time.Now().Add(d)
	}
	a.parked = time.AfterFunc(d, func() { s.resume(a, gen) })
	return parked
}

// resume is the parked account's timer: it starts the account's next
// worker, unless a Wake did already (gen is then old) or the sender stopped.
func (s *Sender) resume(a *account, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.parked == nil || a.parkGen != gen {
		return
	}
	a.parked = nil
	if a.awaitingSession {
		// The backstop of a wait for the account's session.
		a.awaitingSession = false
		s.sessionBackstopLocked(a.ref)
	}
	if !s.running {
		return
	}
	s.wg.Add(1)
	go s.work(s.ctx, a)
}

// unparkLocked ends a parked account's wait now and starts its worker.
// s.mu is held and the sender is running.
func (s *Sender) unparkLocked(a *account) {
	a.parked.Stop() // if it fired already, resume finds parked nil and does nothing
	a.parked = nil
	s.wg.Add(1)
	go s.work(s.ctx, a)
}

// stopParkedLocked cancels every parked account's timer when Run stops and
// returns those accounts. s.mu is held, in the same section that cleared
// running, so no timer can resume one of them in between.
func (s *Sender) stopParkedLocked() []*account {
	var stopped []*account
	for _, a := range s.accounts {
		if a.parked != nil {
			a.parked.Stop()
			a.parked = nil
			a.working = false
			a.awaitingSession = false
			stopped = append(stopped, a)
		}
	}
	return stopped
}

// dropParkedFiles drops the downloads of the accounts stopParkedLocked
// stopped: a worker drops its account's downloads when it returns, but a
// parked account kept them for the worker to come, which now never comes.
// No worker owns these accounts any more, so their file maps are free to
// touch outside s.mu.
func (s *Sender) dropParkedFiles(stopped []*account) {
	for _, a := range stopped {
		s.dropFiles(a)
	}
}
