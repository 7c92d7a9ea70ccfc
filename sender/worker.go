package sender

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// This file holds the per-account worker: the loop that reads the
// account's queue, waits for (or parks until) its turn, prefetches files,
// and sends; and how an idle worker lingers or exits.

// idle is asked by a worker that found nothing to send. A wake-up that came
// in meanwhile keeps the worker going at once (linger 0, exit false): the
// message it announces may have been committed after the worker looked.
// Otherwise, while the gap after the account's last send has not passed,
// the worker lingers that long, listening for Wake, since a message arriving
// now must still wait its turn; after that there is nothing to remember, so
// the worker exits and the account is forgotten. Deciding under s.mu closes
// the race with Wake: either Wake sees the worker and leaves a note, or it
// sees none and starts a new one.
func (s *Sender) idle(a *account) (linger time.Duration, exit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-a.wake:
		return 0, false
	default:
	}
	if !a.lastStart.IsZero() {
		if d := time.Until(a.lastStart.Add(a.gap)); d > 0 {
			return d, false
		}
	}
	a.working = false
	delete(s.accounts, a.ref)
	return 0, true
}

// linger waits for a wake-up of the account for at most d. It returns false
// when ctx ended the wait.
func (s *Sender) linger(ctx context.Context, a *account, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-a.wake:
		return true
	case <-t.C:
		return true
	}
}

// rest is what a worker does when there is nothing to send now: linger or
// exit. It returns false when the worker should exit.
func (s *Sender) rest(ctx context.Context, a *account) bool {
	linger, exit := s.idle(a)
	if exit {
		return false
	}
	return linger <= 0 || s.linger(ctx, a, linger)
}

// work drains one account's queue until it is empty, the account is not
// active, or ctx is done.
//
// Each round asks the queue which messages go at the account's next turn,
// starts their file downloads (prefetch.go), parks the account until lead
// before the turn (park.go: the worker returns and a timer starts the next
// one; a Wake meanwhile resumes it at once when its plan has room, so a
// message that arrives during the gap gets its file downloaded too), then
// sends the message whose turn it is. When only retries that are not due
// yet are left, the account is parked until the first is due, so a restart
// or a quiet account still keeps the schedule.
func (s *Sender) work(ctx context.Context, a *account) {
	defer s.wg.Done()
	s.m.workers.Inc()
	defer s.m.workers.Dec()
	handedOver := false // parked: the downloads stay for the next worker
	defer func() {
		if !handedOver {
			s.dropFiles(a)
		}
	}()
	log := s.log.With(zap.String("workspace", a.ref.WorkspaceID), zap.String("account", a.ref.Phone))
	b := backoff{}
	gone := "" // the last message MarkSending refused as no longer queued
	n := 1
	if s.cfg.Fetcher != nil {
		n = max(1, s.cfg.PrefetchAhead)
	}
	s.mu.Lock()
	waited := a.waitedTurn // the next send waited for its turn: its gap is measured
	parkedFor := a.wakeAt  // the wake-up this worker was started for, if parked
	a.waitedTurn, a.wakeAt = false, time.Time{}
	s.mu.Unlock()

	for ctx.Err() == nil {
		s.mu.Lock()
		last, gap, notBefore := a.lastStart, a.gap, a.notBefore
		s.mu.Unlock()
		now := time.Now()
		turn := maxTime(nextSendAt(last, gap, now), notBefore)
		resumedFor := parkedFor // only the first round after a park
		parkedFor = time.Time{}
		msgs, due, err := s.q.Next(ctx, a.ref, turn, n)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("cannot read the queue; trying again", zap.Error(err), zap.Duration("in", b.next()))
			}
			b.wait(ctx)
			continue
		}
		s.plan(ctx, a, msgs)
		if len(msgs) == 0 {
			if due.IsZero() {
				if !s.rest(ctx, a) {
					return
				}
				continue
			}
			// Only retries that are not due yet: park until the first is,
			// or until a new message comes.
			switch s.park(ctx, a, due.Sub(now), true, waited) {
			case parked:
				handedOver = true
				return
			case notParked:
				return
			}
			continue
		}
		var prepared time.Time // when the storage work of a paced send began
		if turn.After(now) {
			waited = true
			// Wake up lead early: the storage work (this round's queue
			// read, the account, MarkSending's commit) runs before the
			// turn, and the transport is called at the turn itself.
			wakeAt := turn.Add(-s.lead())
			if !resumedFor.IsZero() && turn.Sub(resumedFor) <= maxLead {
				// The wake-up this worker was parked for stands (lead may
				// have shrunk since): the storage work it allowed for
				// starts now. Not when the turn moved later meanwhile (the
				// restart herd's spread): the message would sit in
				// sending for longer than any lead.
				wakeAt = minTime(wakeAt, resumedFor)
			}
			if d := wakeAt.Sub(now); d > 0 {
				// Park until then. With the plan full, a new message goes
				// behind it and cannot change it, so a Wake only leaves a
				// note (else every accept would cost a busy account a
				// queue read); with room in the plan, a Wake resumes the
				// worker at once to plan again and fetch the new file.
				switch s.park(ctx, a, d, len(msgs) < n, true) {
				case parked:
					handedOver = true
					return
				case notParked:
					return
				}
				continue // woken by a new message: plan again
			}
			// Within lead of the turn: the queue read above is the fresh
			// one, and the storage work counts from the start of the round.
			prepared = now
		}
		m := msgs[0]

		acct, err := s.q.Account(ctx, a.ref)
		switch {
		case wagate.ErrorCode(err) == wagate.ENOTFOUND || (err == nil && acct == nil):
			s.stopSession(log, a.ref)
			s.failUnsent(ctx, log, m, fmt.Sprintf("account %s was deleted", a.ref.Phone))
			continue
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("cannot read the account; trying again", zap.Error(err), zap.Duration("in", b.next()))
			}
			b.wait(ctx)
			continue
		case !acct.Active:
			// Leave the messages queued: deactivating an account pauses it,
			// it does not throw its messages away (deleting does). The
			// activation wakes the account again, and a restart lists it.
			log.Info("account is not active; its queued messages wait until it is activated")
			s.stopSession(log, a.ref)
			s.dropFiles(a)
			if !s.rest(ctx, a) {
				return
			}
			continue
		}
		if s.holdByRules(ctx, log, a, acct, m, maxTime(turn, time.Now())) {
			continue // held by a careful-sending rule (rules.go): read the queue again
		}

		tr := s.transports[acct.Transport]
		if tr == nil {
			s.failUnsent(ctx, log, m, fmt.Sprintf("account %s uses transport %q, which this server does not have", acct.Phone, acct.Transport))
			continue
		}
		if !s.sessionReady(ctx, log, acct, tr) {
			// The account cannot send now (its session is starting, or
			// the transport answered Unavailable): nothing is taken out of
			// the queue and no try is recorded until the transport wakes
			// it. Its files go: the wait may be long.
			s.dropFiles(a)
			switch s.parkForSession(ctx, a) {
			case parked:
				handedOver = true
				return
			case notParked:
				return
			}
			continue // ready meanwhile
		}

		fetchStart := time.Now()
		file, err := s.attachment(ctx, a, m)
		fetchWait := time.Since(fetchStart) // not storage time: see observePrep below
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// The download is the try: it failed before the transport was
			// called, so it takes no turn of the account.
			s.settle(ctx, log.With(zap.String("message_id", m.ID), zap.String("stage", "download")), m, file.at, err)
			continue
		}

		markAt := time.Now()
		drawn, err := s.markSending(ctx, a, m.ID, markAt, turn)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if isLeaseLost(err) {
				// Another replica holds the account now (lease.go): it
				// sends the message, and this worker leaves the account.
				s.lostLease(log, a, err)
				return
			}
			if code := wagate.ErrorCode(err); (code == wagate.ECONFLICT || code == wagate.ENOTFOUND) && m.ID != gone {
				// The message left the queue after Next showed it: its
				// owner cancelled it, or its account was deleted. That is
				// its final state, not a fault: nothing goes out, its file
				// goes, and the queue is read again at once (Next no longer
				// shows it), with no pause. The same message refused twice
				// running is a store that disagrees with itself: that
				// takes the backoff below.
				gone = m.ID
				log.Debug("message left the queue before its send; skipped", zap.String("message_id", m.ID), zap.Error(err))
				s.dropFile(a, m.ID)
				continue
			}
			// ECONFLICT: the message left the queue meanwhile (its account
			// was deleted, say). Asking again after a pause finds the new
			// head without spinning on a store that keeps answering so.
			log.Warn("cannot mark the message sending; trying again",
				zap.String("message_id", m.ID), zap.Error(err), zap.Duration("in", b.next()))
			b.wait(ctx)
			continue
		}
		b.reset()
		marked := time.Now()
		if !prepared.IsZero() {
			s.observePrep(marked.Sub(prepared) - fetchWait)
		} else {
			s.observePrep(marked.Sub(markAt))
		}
		// The message is sending: wait for the turn whatever ctx says (at
		// most lead), since giving up now would leave it in sending.
		if d := turn.Sub(marked); waited && d > 0 {
			t := time.NewTimer(d)
			<-t.C
		}
		// The start of this send, the instant the transport is called: the
		// turn, or later when the storage work or the file took longer. It
		// becomes the account's lastStart only if the send really goes out.
		var att *wagate.Attachment
		if file != nil {
			att = file.att
		}
		start, prevStart, prevGap := s.begin(a, waited, drawn)
		waited = false
		wakes := s.sessionWakes(a.ref)
		out := s.send(ctx, log, tr, acct, m, att)
		if out.notTried {
			// Nothing went out: the account's other recipients keep the
			// turn this message did not use.
			s.restoreTurn(a, prevStart, prevGap)
			if out.unavailable {
				// The next round finds the account not ready and parks.
				s.sessionDown(a.ref, wakes)
			}
			continue // its file stays prefetched for the try to come
		}
		if out.posted.After(start) {
			// The transport handed the message over later than it was
			// called (an upload first): the next gap runs from there.
			s.movePace(a, out.posted)
		}
		s.dropFile(a, m.ID)
	}
}
