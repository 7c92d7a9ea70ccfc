package sender

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Defaults of Config, the pace SPEC §2 gives: 2 s ± 0.5 s between two sends
// of one account.
const (
	DefaultInterval    = 2 * time.Second
	DefaultJitter      = 500 * time.Millisecond
	DefaultSendTimeout = 2 * time.Minute
)

// Storage retry pacing: a failing store is asked again after backoffMin,
// doubling up to backoffMax, so an outage neither spins a CPU nor leaves the
// queues stalled long after it ends.
const (
	backoffMin = 500 * time.Millisecond
	backoffMax = 30 * time.Second
	// finishTimeout bounds one write of a send's outcome. The write runs on a
	// context that shutdown does not cancel, so this is what stops it.
	finishTimeout = 30 * time.Second
)

// Config tunes a Sender. The zero value is usable: every zero field takes its
// default.
type Config struct {
	// Interval is the mean pause between the starts of two sends of one
	// account. 0 means DefaultInterval; a negative value means no pause at
	// all (benchmarks, tests).
	Interval time.Duration
	// Jitter spreads the pause: each gap is drawn uniform in
	// [Interval-Jitter, Interval+Jitter], so the sends of an account do not
	// tick like a machine. 0 means DefaultJitter; a negative value means no
	// jitter (a fixed gap of Interval). It is capped at Interval, so a gap is
	// never negative.
	Jitter time.Duration
	// SendTimeout bounds one Transport.Send. It is generous because shutdown
	// does not cut a send short: this is what does. 0 means
	// DefaultSendTimeout.
	SendTimeout time.Duration
	// Rand draws the gaps; the Sender owns it from New on (a rand.Rand is
	// not safe for concurrent use). nil means a generator seeded at random;
	// the seed is logged, so a run can be replayed with
	// rand.New(rand.NewPCG(seed, seed)).
	Rand *rand.Rand
	// Logger receives one line per send and the storage errors. nil means
	// zap.NewNop().
	Logger *zap.Logger
	// Registerer, when set, gets the sender's metrics (wagate_sender_*).
	// New panics if they are registered there already, as MustRegister does.
	Registerer prometheus.Registerer
}

// normalize fills the defaults and keeps the values consistent.
func (c Config) normalize() Config {
	switch {
	case c.Interval == 0:
		c.Interval = DefaultInterval
	case c.Interval < 0:
		c.Interval = 0
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = DefaultJitter
	case c.Jitter < 0:
		c.Jitter = 0
	}
	c.Jitter = min(c.Jitter, c.Interval)
	if c.SendTimeout <= 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Sender drains the per-account queues of a Queue through the accounts'
// Transports, pacing each account on its own.
//
// An account has one worker goroutine while it has queued messages, and for
// one gap after its last send: a message that arrives just after the account
// went idle still waits its turn, so the worker waits out the gap listening
// for Wake, then exits and the account is forgotten. So goroutines and memory
// follow the accounts active in the last few seconds, never the messages nor
// every account ever seen, and the first send after a longer pause (or after
// a restart) goes at once.
type Sender struct {
	q          Queue
	transports map[string]Transport
	cfg        Config
	log        *zap.Logger
	m          *metrics

	mu       sync.Mutex
	rnd      *rand.Rand // guarded by mu: a rand.Rand is not safe for concurrent use
	accounts map[wagate.AccountRef]*account
	started  bool            // Run was called
	running  bool            // Run has recovered and not yet been stopped: Wake starts workers
	ready    bool            // Run has also resumed the queued accounts
	ctx      context.Context // Run's context, for the workers Wake starts
	wg       sync.WaitGroup  // the workers, waited for by Run
}

// account is the sender's memory of one account's queue. Every field is
// guarded by Sender.mu.
type account struct {
	ref       wagate.AccountRef
	wake      chan struct{} // capacity 1: a pending wake-up, so Wake never blocks
	working   bool          // a worker goroutine owns this account now
	lastStart time.Time     // start of the last send; zero when none is remembered
	gap       time.Duration // drawn at lastStart: the next send waits until lastStart+gap
}

// New returns a Sender that drains q, sending each account's messages through
// transports[account.Transport]. It does nothing until Run.
func New(q Queue, transports map[string]Transport, cfg Config) *Sender {
	cfg = cfg.normalize()
	log := cfg.Logger.Named("sender")
	rnd := cfg.Rand
	if rnd == nil {
		seed := rand.Uint64()
		rnd = rand.New(rand.NewPCG(seed, seed))
		log.Info("random gaps seeded", zap.Uint64("seed", seed))
	}
	ts := make(map[string]Transport, len(transports))
	for name, t := range transports {
		ts[name] = t
	}
	return &Sender{
		q:          q,
		transports: ts,
		cfg:        cfg,
		log:        log,
		m:          newMetrics(cfg.Registerer, cfg.Interval, cfg.Jitter),
		rnd:        rnd,
		accounts:   make(map[wagate.AccountRef]*account),
	}
}

// Run drains the queues until ctx is done. It first hands the messages a
// crash left in sending to Queue.RecoverSending, before any send, then starts
// a worker for every account Queue.QueuedAccounts lists; from then on Wake
// starts the others. A failing store is retried with backoff, never given up
// on.
//
// When ctx is done Run stops starting sends and returns once the sends under
// way have finished and their outcome is stored: a send is never cut short by
// shutdown (only by Config.SendTimeout). It returns nil then. Run may be
// called once; a second call returns an error at once.
func (s *Sender) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("sender: Run called twice")
	}
	s.started = true
	s.mu.Unlock()

	var n int
	if !retry(ctx, s.log, "recover messages left in sending", func() (err error) {
		n, err = s.q.RecoverSending(ctx, time.Now())
		return err
	}) {
		return nil
	}
	if n > 0 {
		s.log.Info("recovered messages left in sending by a stop", zap.Int("messages", n))
	}

	// Wake starts workers from here on. A message accepted before this point
	// was committed before the QueuedAccounts below reads, so it is listed
	// there; one accepted after is woken. Either way none is left behind.
	s.mu.Lock()
	s.ctx = ctx
	s.running = true
	s.mu.Unlock()

	var refs []wagate.AccountRef
	if retry(ctx, s.log, "list accounts with queued messages", func() (err error) {
		refs, err = s.q.QueuedAccounts(ctx)
		return err
	}) {
		s.mu.Lock()
		for _, ref := range refs {
			s.startLocked(ref)
		}
		s.ready = true
		s.mu.Unlock()
		s.log.Info("sender running", zap.Int("accounts_with_queued_messages", len(refs)))
	}

	<-ctx.Done()
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	s.wg.Wait()
	s.log.Info("sender stopped")
	return nil
}

// Running reports whether the sender is draining queues: Run has recovered
// the interrupted sends, resumed every account with queued messages, and its
// context is not done. /readyz asks it.
func (s *Sender) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running && s.ready
}

// Wake tells the sender that the account has a new queued message (the
// gateway calls it after a durable accept) or may send again (after it was
// activated). It never blocks: it starts the account's worker, or leaves a
// note for the running one. Before Run (and after it stopped) it does
// nothing, since Run lists every account with queued messages when it starts.
func (s *Sender) Wake(ref wagate.AccountRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		s.startLocked(ref)
	}
}

// startLocked makes sure the account has a worker. s.mu is held.
func (s *Sender) startLocked(ref wagate.AccountRef) {
	a := s.accounts[ref]
	if a == nil {
		a = &account{ref: ref, wake: make(chan struct{}, 1)}
		s.accounts[ref] = a
	}
	if a.working {
		select {
		case a.wake <- struct{}{}:
		default: // a wake-up is pending already; one is enough
		}
		return
	}
	a.working = true
	s.wg.Add(1)
	go s.work(s.ctx, a)
}

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
func (s *Sender) work(ctx context.Context, a *account) {
	defer s.wg.Done()
	s.m.workers.Inc()
	defer s.m.workers.Dec()
	log := s.log.With(zap.String("workspace", a.ref.WorkspaceID), zap.String("account", a.ref.Phone))
	b := backoff{}

	for ctx.Err() == nil {
		m, err := s.q.Head(ctx, a.ref)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("cannot read the queue; trying again", zap.Error(err), zap.Duration("in", b.next()))
			}
			b.wait(ctx)
			continue
		}
		if m == nil {
			if !s.rest(ctx, a) {
				return
			}
			continue
		}

		waited, ok := s.waitTurn(ctx, a)
		if !ok {
			return
		}
		// The start of this send as the pacer scheduled it. It becomes the
		// account's lastStart only if the send really goes out.
		start := time.Now()

		acct, err := s.q.Account(ctx, a.ref)
		switch {
		case wagate.ErrorCode(err) == wagate.ENOTFOUND || (err == nil && acct == nil):
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
			if !s.rest(ctx, a) {
				return
			}
			continue
		}

		tr := s.transports[acct.Transport]
		if tr == nil {
			s.failUnsent(ctx, log, m, fmt.Sprintf("account %s uses transport %q, which this server does not have", acct.Phone, acct.Transport))
			continue
		}

		if err := s.q.MarkSending(ctx, m.ID, start); err != nil {
			if ctx.Err() != nil {
				return
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
		s.begin(a, start, waited)
		s.send(ctx, log, tr, acct, m)
	}
}

// waitTurn waits until the account may start its next send. It reports
// whether it had to wait (the send is paced, not the first after idle time)
// and false for ok when ctx ended the wait.
func (s *Sender) waitTurn(ctx context.Context, a *account) (waited, ok bool) {
	s.mu.Lock()
	last, gap := a.lastStart, a.gap
	s.mu.Unlock()
	now := time.Now()
	d := nextSendAt(last, gap, now).Sub(now)
	if d <= 0 {
		return false, true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true, false
	case <-t.C:
		return true, true
	}
}

// begin records a send start of the account and draws the gap the next one
// waits.
func (s *Sender) begin(a *account, start time.Time, waited bool) {
	s.mu.Lock()
	last := a.lastStart
	gap := drawGap(s.rnd, s.cfg.Interval, s.cfg.Jitter)
	a.lastStart, a.gap = start, gap
	s.mu.Unlock()
	s.m.gapDrawn.Observe(gap.Seconds())
	if waited && !last.IsZero() {
		s.m.gapActual.Observe(start.Sub(last).Seconds())
	}
}

// send hands m to its transport and stores the outcome. The transport's
// context is cut loose from ctx: shutdown waits for the send under way
// instead of aborting it half done, and only SendTimeout bounds it.
func (s *Sender) send(ctx context.Context, log *zap.Logger, tr Transport, acct *wagate.Account, m *wagate.Message) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SendTimeout)
	t0 := time.Now()
	providerID, err := tr.Send(sctx, acct, m, nil)
	cancel()
	done := time.Now()
	dur := done.Sub(t0)
	s.m.sendDuration.Observe(dur.Seconds())
	log = log.With(zap.String("message_id", m.ID), zap.Duration("duration", dur))

	if err == nil {
		s.m.sends.WithLabelValues(resultSent).Inc()
		log.Info("message sent", zap.String("result", resultSent), zap.String("provider_id", providerID))
		s.finish(ctx, log, "sent", func(c context.Context) error {
			return s.q.MarkSent(c, m.ID, wagate.Try{At: done, Result: wagate.TryResultSent, ProviderID: providerID})
		})
		return
	}

	// No retries yet: a transient error fails the message as a permanent one
	// does. The distinction is logged and counted already, because retries
	// with backoff will branch on it.
	result := resultFailedTransient
	if IsPermanent(err) {
		result = resultFailedPermanent
	}
	s.m.sends.WithLabelValues(result).Inc()
	log.Warn("message failed", zap.String("result", result), zap.Bool("permanent", IsPermanent(err)), zap.Error(err))
	s.finish(ctx, log, "failed", func(c context.Context) error {
		return s.q.MarkFailed(c, m.ID, wagate.Try{At: done, Result: wagate.TryResultFailed, Error: err.Error()})
	})
}

// failUnsent fails a message that cannot reach any transport (its account
// was deleted, or uses a transport this server lacks). It goes through
// MarkSending first, so MarkFailed only ever sees messages the sender has
// taken out of the queue; an ECONFLICT there means the message was failed
// already (an account deletion fails its queued messages itself).
func (s *Sender) failUnsent(ctx context.Context, log *zap.Logger, m *wagate.Message, reason string) {
	log = log.With(zap.String("message_id", m.ID))
	now := time.Now()
	if err := s.q.MarkSending(ctx, m.ID, now); err != nil {
		if ctx.Err() == nil {
			// A pause even on ECONFLICT: a store whose Head kept returning
			// a message it no longer holds queued must not spin the worker.
			log.Info("cannot mark the message sending; reading the queue again", zap.Error(err), zap.Duration("in", backoffMin))
			b := backoff{}
			b.wait(ctx)
		}
		return
	}
	s.m.sends.WithLabelValues(resultFailedAccount).Inc()
	log.Warn("message failed", zap.String("result", resultFailedAccount), zap.Bool("permanent", true), zap.String("error", reason))
	s.finish(ctx, log, "failed", func(c context.Context) error {
		return s.q.MarkFailed(c, m.ID, wagate.Try{At: now, Result: wagate.TryResultFailed, Error: reason})
	})
}

// finish stores the outcome of a send that happened. The message is out of
// its queue (sending) by now, so giving up would leave it there: the write is
// tried on a context that shutdown does not cancel, and a storage failure
// (EUNAVAILABLE, EINTERNAL) is retried with backoff while the sender runs.
// Only a stop during a storage outage leaves the message in sending, for
// RecoverSending at the next start.
func (s *Sender) finish(ctx context.Context, log *zap.Logger, what string, write func(context.Context) error) {
	b := backoff{}
	for {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		err := write(wctx)
		cancel()
		if err == nil {
			return
		}
		if code := wagate.ErrorCode(err); code != wagate.EUNAVAILABLE && code != wagate.EINTERNAL {
			// The store refused (the message is gone, or not sending):
			// asking again would get the same answer and hold up the
			// account's queue for nothing.
			log.Error("the store refused the outcome of a send", zap.String("outcome", what), zap.Error(err))
			return
		}
		if ctx.Err() != nil {
			log.Error("cannot store the outcome of a send before stopping; the message stays sending until the next start",
				zap.String("outcome", what), zap.Error(err))
			return
		}
		log.Warn("cannot store the outcome of a send; trying again",
			zap.String("outcome", what), zap.Error(err), zap.Duration("in", b.next()))
		b.wait(ctx)
	}
}

// retry calls f until it succeeds, waiting with backoff between failures. It
// returns false when ctx is done first.
func retry(ctx context.Context, log *zap.Logger, what string, f func() error) bool {
	b := backoff{}
	for {
		err := f()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn("storage error; trying again", zap.String("doing", what), zap.Error(err), zap.Duration("in", b.next()))
		if !b.wait(ctx) {
			return false
		}
	}
}

// backoff is the pause after a storage error: backoffMin, doubling up to
// backoffMax. The zero value is ready to use.
type backoff struct{ d time.Duration }

// next returns the pause the next wait will take.
func (b *backoff) next() time.Duration {
	if b.d == 0 {
		return backoffMin
	}
	return b.d
}

// wait pauses for next(), then doubles it. It returns false when ctx ended
// the pause.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next()
	b.d = min(2*d, backoffMax)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reset starts the pauses over at backoffMin after a success.
func (b *backoff) reset() { b.d = 0 }
