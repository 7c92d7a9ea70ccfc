package sender

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// This file holds the sender's side of replicas (SPEC §12): when its Queue
// is shared by several wagate replicas (a Leaser), the sender sends only
// the accounts whose lease its replica holds, recovers an account's
// interrupted send when it takes the account over (never all of them at
// start), keeps the pace across takeovers, and hears of the others' new
// messages. A Queue that is not a Leaser (the embedded bbolt store, one
// process) keeps the behaviour of one process: recover at start, every
// account.

// DefaultLeaseEvery is how often a replica renews its leases and claims
// free ones (Config.LeaseEvery). It is also the poll that backs up the
// wake-ups: a message whose wake-up was lost waits this long at most. The
// store's lease lasts several rounds (postgres.DefaultLeaseTTL is 30 s),
// so a replica renews in time through a slow round or two.
const DefaultLeaseEvery = 5 * time.Second

// leasePokeGap spaces the extra lease rounds that wake-ups ask for (a new
// message of an account nobody holds yet), so a stream of other replicas'
// wake-ups costs at most a few rounds a second.
const leasePokeGap = 250 * time.Millisecond

// Leaser is an optional interface of a Queue shared by several replicas
// (store/postgres). With it, Run neither calls RecoverSending nor asks the
// Confirmers at start (another replica's transport may have the message
// right now; and a transport here cannot tell what one elsewhere did), nor
// lists QueuedAccounts: it leases.
type Leaser interface {
	// Lease renews every lease this replica holds and claims the free or
	// expired leases of accounts with work, and returns every lease held
	// after it. A lease missing from the answer was lost. From the first
	// call on, the writes of a send are refused (ECONFLICT wrapping
	// wagate.ErrLeaseLost) for an account this replica does not hold.
	Lease(ctx context.Context) ([]wagate.AccountLease, error)
	// RecoverAccount fails and refunds, with an interrupted try, the
	// account's messages left in sending by its previous holder, and
	// returns how many; called when this replica takes the account over,
	// before its first send.
	RecoverAccount(ctx context.Context, ref wagate.AccountRef, at time.Time) (int, error)
	// MarkSendingPaced is Queue.MarkSending, fenced by the lease, that
	// also records the account's pace in the same write: start, when
	// this send starts, and gap, drawn for the next one, so that a
	// replica taking the account over waits out the gap too.
	MarkSendingPaced(ctx context.Context, id string, at, start time.Time, gap time.Duration) error
	// Release frees every lease of this replica, at a clean stop, after
	// the sends under way have finished: another replica takes over at
	// once instead of after the expiry.
	Release(ctx context.Context) error
	// Listen calls wake with the accounts of new queued messages committed
	// by any replica, and with nil when any account may have work (at the
	// start and after a lost connection), until ctx ends.
	Listen(ctx context.Context, wake func([]wagate.AccountRef)) error
}

// runLeases is Run's loop with a Leaser: a lease round at once, then every
// LeaseEvery, or sooner when a wake-up names an account this replica does
// not hold; wake-ups heard meanwhile wake the accounts held. It returns
// when ctx is done and the listener stopped.
func (s *Sender) runLeases(ctx context.Context) {
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		_ = s.leaser.Listen(ctx, s.heard)
	}()
	defer func() { <-listening }()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.poke:
		}
		s.leaseRound(ctx)
		t.Reset(s.cfg.LeaseEvery)
		// Poked rounds come leasePokeGap apart at most.
		p := time.NewTimer(leasePokeGap)
		select {
		case <-ctx.Done():
			p.Stop()
			return
		case <-p.C:
		}
	}
}

// heard is the Listen callback: an account this replica holds is woken;
// any other, and nil (any account), ask for a lease round, which claims
// what nobody holds and wakes the held accounts that have work.
func (s *Sender) heard(refs []wagate.AccountRef) {
	if refs == nil {
		s.pokeLeases()
		return
	}
	for _, ref := range refs {
		s.Wake(ref)
	}
}

// pokeLeases asks runLeases for a round soon. It never blocks.
func (s *Sender) pokeLeases() {
	select {
	case s.poke <- struct{}{}:
	default: // a round is asked for already
	}
}

// leaseRound renews and claims; then it recovers each account newly held,
// takes over its pace, and starts it; a lost account is forgotten (its
// worker finds out at its next MarkSending, which is refused); and every
// held account with work but no worker is started (the poll behind the
// wake-ups). A failing store leaves everything as it is until the next
// round: the leases expire if it lasts, and then the fence refuses.
func (s *Sender) leaseRound(ctx context.Context) {
	leases, err := s.leaser.Lease(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("cannot renew or claim account leases; trying again", zap.Error(err), zap.Duration("in", s.cfg.LeaseEvery))
		}
		return
	}
	held := make(map[wagate.AccountRef]bool, len(leases))
	var fresh []wagate.AccountLease
	var lost []wagate.AccountRef
	s.mu.Lock()
	for _, l := range leases {
		held[l.Account] = true
		if !s.owned[l.Account] {
			fresh = append(fresh, l)
		}
	}
	for ref := range s.owned {
		if !held[ref] {
			delete(s.owned, ref)
			lost = append(lost, ref)
			// Released to balance the replicas (the store logs it), or
			// taken over after this replica's renewals came too late.
			s.accountLog(ref).Info("this replica no longer holds the account's lease; another replica sends its messages now")
		}
	}
	s.mu.Unlock()
	// The session goes with the lease: the new holder starts its own.
	for _, ref := range lost {
		s.stopSession(s.accountLog(ref), ref)
	}
	defer s.startLeasedSessions(fresh)

	// Each account taken over starts as soon as it is recovered: at start
	// a replica may take thousands, and only those with a message left in
	// sending (Sending) cost a write.
	now := time.Now()
	for i, l := range fresh {
		if l.Sending {
			n, err := s.leaser.RecoverAccount(ctx, l.Account, time.Now())
			if err != nil {
				if ctx.Err() == nil {
					s.accountLog(l.Account).Warn("cannot recover the account taken over; trying again next round", zap.Error(err))
				}
				continue
			}
			if n > 0 {
				s.m.recovered.WithLabelValues(recoveredFailed).Add(float64(n))
				s.accountLog(l.Account).Warn("failed and refunded messages the account's previous replica left in sending; nobody can tell whether they went out",
					zap.Int("messages", n))
				// The previous holder died mid-send: its transport call came
				// after the start it wrote, at any time until its lease ran
				// out, which is before now. So the gap runs from now.
				l.LastSendAt = maxTime(l.LastSendAt, time.Now())
			}
		}
		s.mu.Lock()
		if !s.running {
			s.mu.Unlock()
			return
		}
		s.owned[l.Account] = true
		a := s.accountLocked(l.Account)
		// The previous holder's pace: its last send's gap is waited out
		// here too.
		if !l.LastSendAt.IsZero() && l.LastSendAt.Add(l.Gap).After(a.lastStart.Add(a.gap)) {
			a.lastStart, a.gap = l.LastSendAt, l.Gap
		}
		s.startLocked(l.Account)
		if d := herdDelay(i, len(fresh), s.cfg.Interval); d > 0 {
			a.notBefore = now.Add(d)
		}
		s.mu.Unlock()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	for _, l := range leases {
		if a := s.accounts[l.Account]; l.Ready && s.owned[l.Account] && (a == nil || !a.working) {
			s.startLocked(l.Account)
		}
	}
	if !s.ready {
		s.ready = true
		s.log.Info("sender running", zap.Int("accounts_leased", len(s.owned)))
	}
}

// lostLease is a worker's answer to a MarkSending refused for the lease:
// the account is forgotten, and its worker exits. s.mu is not held.
func (s *Sender) lostLease(log *zap.Logger, a *account, err error) {
	s.mu.Lock()
	if s.owned[a.ref] {
		log.Warn("this replica lost the account's lease; another replica sends its messages now", zap.Error(err))
	} else {
		// The lease round saw it go already (and said so): a release to
		// balance the replicas, whose worker ran on until this write.
		log.Info("the account's worker stops: this replica no longer holds its lease")
	}
	delete(s.owned, a.ref)
	a.working = false
	if s.accounts[a.ref] == a {
		delete(s.accounts, a.ref)
	}
	s.mu.Unlock()
	s.stopSession(log, a.ref)
}

// startLeasedSessions starts, in the background, the sessions of the
// accounts this replica has just taken over whose transport holds
// sessions (SessionHolder), also those with nothing to send: the store
// leases an idle account that has a session to hold (a linked WhatsApp
// Web device), so that its connection, receipts and link state live on
// exactly one replica. Each account is read first (syncSession: a paused
// or deleted one starts none); a session starts only while the lease is
// held (startSession checks), and a lost lease stops it (leaseRound,
// lostLease).
func (s *Sender) startLeasedSessions(fresh []wagate.AccountLease) {
	if len(fresh) == 0 || !s.anySessionHolder() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	s.wg.Add(1)
	go func(ctx context.Context) {
		defer s.wg.Done()
		for _, l := range fresh {
			if ctx.Err() != nil {
				return
			}
			s.syncSession(ctx, l.Account)
		}
	}(s.ctx)
}

// release frees this replica's leases once its sends have stopped.
func (s *Sender) release(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := s.leaser.Release(rctx); err != nil {
		s.log.Warn("cannot release the account leases; other replicas take the accounts over when they expire", zap.Error(err))
	}
}

// markSending is the worker's MarkSending: with a Leaser, fenced and with
// the pace (the gap of the next send is drawn now, and begin uses it);
// else Queue.MarkSending, as in one process. drawn is -1 when no gap was
// drawn.
//
// With a Leaser the mark is not cut short by shutdown once begun: a
// database commit cancelled mid-way may have happened all the same, and
// the worker, not knowing, would leave the message in sending for the
// next holder to fail as interrupted. Begun, it ends, and the worker
// sends the message (as after any MarkSending).
func (s *Sender) markSending(ctx context.Context, a *account, id string, at, turn time.Time) (drawn time.Duration, err error) {
	if s.leaser == nil {
		return -1, s.q.MarkSending(ctx, id, at)
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	s.mu.Lock()
	interval, jitter := a.pace.or(s.cfg.Interval, s.cfg.Jitter)
	drawn = drawGap(s.rnd, interval, jitter)
	s.mu.Unlock()
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	return drawn, s.leaser.MarkSendingPaced(mctx, id, at, maxTime(turn, at), drawn)
}

// isLeaseLost reports whether err is a write refused for the lease.
func isLeaseLost(err error) bool { return errors.Is(err, wagate.ErrLeaseLost) }
