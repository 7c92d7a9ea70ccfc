package sender

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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

// Defaults of the attachment downloads (see prefetch.go).
const (
	// DefaultPrefetchAhead: the files of an account's next 2 messages
	// download while it waits for its turn.
	DefaultPrefetchAhead = 2
	// DefaultMaxFileBytes is SPEC §1's limit of a file_url download, what a
	// download reserves in the budgets until its real size is known.
	DefaultMaxFileBytes = 2 << 20
	// DefaultFileBytesPerAccount bounds the files one account holds in
	// advance: two downloads at the limit.
	DefaultFileBytesPerAccount = 4 << 20
	// DefaultFileBytes bounds the files held in memory by all accounts.
	DefaultFileBytes = 64 << 20
	// DefaultFetchConcurrency bounds the downloads running at once.
	DefaultFetchConcurrency = 8
	// DefaultFetchConcurrencyPerWorkspace bounds the downloads of one
	// workspace running at once, so that a slow file host delays only the
	// workspace that chose it (SPEC §2).
	DefaultFetchConcurrencyPerWorkspace = 2
	// DefaultFetchTimeout bounds one download, a safety net over the
	// fetcher's own timeouts.
	DefaultFetchTimeout = 2 * time.Minute
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
	// maxLead bounds how early before its turn a send starts its storage
	// work (see Sender.lead): the time a message may sit in sending before
	// its transport is called, on top of the send itself.
	maxLead = 250 * time.Millisecond
	// herdBurst accounts resumed at Run send at once; the others are spread
	// at herdRate a second, over one Interval at most (see herdDelay). The
	// burst is small because accounts that send together stay together
	// when the jitter is small: with a burst of 1,000 and no jitter, 1,000
	// sends fell due at the same instant every interval, and their tail
	// came up to 80 ms late.
	herdBurst = 100
	herdRate  = 5000
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
	// Rand draws the gaps and the jitter of retry delays; the Sender owns
	// it from New on (a rand.Rand is not safe for concurrent use). nil
	// means a generator seeded at random; the seed is logged, so a run can
	// be replayed with rand.New(rand.NewPCG(seed, seed)).
	Rand *rand.Rand
	// Logger receives one line per send and the storage errors. nil means
	// zap.NewNop().
	Logger *zap.Logger
	// Registerer, when set, gets the sender's metrics (wagate_sender_*).
	// New panics if they are registered there already, as MustRegister does.
	Registerer prometheus.Registerer

	// RetryDelays is the pause before each retry of a message whose try
	// failed with a transient error: the first retry waits RetryDelays[0]
	// ± 20 %, and so on; after len(RetryDelays) retries the message fails.
	// nil means SPEC §2's 5 s, 30 s, 2 min, 10 min, 30 min.
	RetryDelays []time.Duration

	// Fetcher downloads the file_url of messages that have one. nil means
	// such messages fail (permanently, refunded) with "no file fetcher
	// configured".
	Fetcher Fetcher
	// PrefetchAhead is how many of an account's next messages (counting
	// the one whose turn comes next) get their files downloaded while the
	// account waits for its turn. 0 means DefaultPrefetchAhead; a negative
	// value means none: every file downloads at its message's turn.
	PrefetchAhead int
	// MaxFileBytes is the largest file a download may bring; what a
	// download reserves in the caps below until its size is known. A
	// larger file fails its message. 0 means DefaultMaxFileBytes.
	MaxFileBytes int64
	// FileBytesPerAccount caps the files one account holds ahead of their
	// turn (the file being sent comes on top). 0 means
	// DefaultFileBytesPerAccount.
	FileBytesPerAccount int64
	// FileBytes caps the files held in memory by all accounts together;
	// at least MaxFileBytes. 0 means DefaultFileBytes.
	FileBytes int64
	// FetchConcurrency caps the downloads running at once. 0 means
	// DefaultFetchConcurrency.
	FetchConcurrency int
	// FetchConcurrencyPerWorkspace caps the downloads of one workspace
	// running at once; at most FetchConcurrency. 0 means
	// DefaultFetchConcurrencyPerWorkspace.
	FetchConcurrencyPerWorkspace int
	// FetchTimeout bounds one download. 0 means DefaultFetchTimeout.
	FetchTimeout time.Duration
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
	if c.RetryDelays == nil {
		c.RetryDelays = defaultRetryDelays
	}
	c.RetryDelays = slices.Clone(c.RetryDelays) // the caller's slice may change
	switch {
	case c.PrefetchAhead == 0:
		c.PrefetchAhead = DefaultPrefetchAhead
	case c.PrefetchAhead < 0:
		c.PrefetchAhead = 0
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.FileBytesPerAccount <= 0 {
		c.FileBytesPerAccount = DefaultFileBytesPerAccount
	}
	if c.FileBytes <= 0 {
		c.FileBytes = DefaultFileBytes
	}
	// One file must always fit, or a download just in time would wait
	// forever.
	c.FileBytes = max(c.FileBytes, c.MaxFileBytes)
	if c.FetchConcurrency <= 0 {
		c.FetchConcurrency = DefaultFetchConcurrency
	}
	if c.FetchConcurrencyPerWorkspace <= 0 {
		c.FetchConcurrencyPerWorkspace = DefaultFetchConcurrencyPerWorkspace
	}
	c.FetchConcurrencyPerWorkspace = min(c.FetchConcurrencyPerWorkspace, c.FetchConcurrency)
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	return c
}

// Sender drains the per-account queues of a Queue through the accounts'
// Transports, pacing each account on its own.
//
// An account with queued messages has one worker goroutine while it reads
// its queue and sends; while it waits for its turn (or a retry) it is
// parked on a timer instead (park.go), which starts the next worker. After
// its last send the worker waits out one gap listening for Wake, since a
// message that arrives just after the account went idle still waits its
// turn, then exits and the account is forgotten. So goroutines follow the
// sends under way, memory the accounts active in the last few seconds,
// never the messages nor every account ever seen, and the first send after
// a longer pause goes at once; so does the first after a restart, except
// that a herd of more than herdBurst accounts resumed together is spread
// (herdDelay).
type Sender struct {
	q          Queue
	transports map[string]Transport
	cfg        Config
	log        *zap.Logger
	m          *metrics
	files      *fileBudget // bytes of downloaded files, all accounts
	slots      *fetchSlots // the running downloads, in all and per workspace

	mu       sync.Mutex
	rnd      *rand.Rand // guarded by mu: a rand.Rand is not safe for concurrent use
	accounts map[wagate.AccountRef]*account
	started  bool            // Run was called
	running  bool            // Run has recovered and not yet been stopped: Wake starts workers
	ready    bool            // Run has also resumed the queued accounts
	ctx      context.Context // Run's context, for the workers Wake starts
	wg       sync.WaitGroup  // the workers, waited for by Run
	prep     prepWindow      // guarded by mu: recent cost of the storage work before a send, see lead
}

// account is the sender's memory of one account's queue. Every field but
// files is guarded by Sender.mu.
type account struct {
	ref       wagate.AccountRef
	wake      chan struct{} // capacity 1: a pending wake-up, so Wake never blocks
	working   bool          // a worker goroutine, or a parked timer, owns this account now
	lastStart time.Time     // when the last send's Transport.Send was called; zero when none is remembered
	gap       time.Duration // drawn at lastStart: the next send waits until lastStart+gap
	notBefore time.Time     // no send before this (the restart herd's spread); zero: none
	pace      accountPace   // the account's own send_interval/send_jitter (rules.go)

	// Parking (park.go): while parked is set, a timer and no goroutine
	// holds the account, and working stays true. parkGen tells the current
	// timer from an older one that fired late; resumeOnWake says whether a
	// Wake ends the wait; waitedTurn and wakeAt carry to the next worker
	// that its send waited for its turn, and the wake-up it was parked for
	// (it goes on from there even if lead has shrunk meanwhile).
	parked       *time.Timer
	parkGen      uint64
	resumeOnWake bool
	waitedTurn   bool
	wakeAt       time.Time

	// files are the downloads of the account's next messages, by message
	// id. Only the account's worker touches the map (not guarded by mu),
	// and drops it all when it exits.
	files map[string]*fileEntry
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
	m := newMetrics(cfg.Registerer, cfg.Interval, cfg.Jitter)
	return &Sender{
		q:          q,
		transports: ts,
		cfg:        cfg,
		log:        log,
		m:          m,
		files:      newFileBudget(cfg.FileBytes, m.fileBytes),
		slots:      newFetchSlots(cfg.FetchConcurrency, cfg.FetchConcurrencyPerWorkspace),
		rnd:        rnd,
		accounts:   make(map[wagate.AccountRef]*account),
		prep:       prepWindow{span: max(cfg.Interval+cfg.Jitter, time.Second)},
	}
}

// Run drains the queues until ctx is done. It first settles the messages a
// crash left in sending, before any send (see recover), then starts a worker
// for every account Queue.QueuedAccounts lists; from then on Wake starts
// the others. A failing store is retried with backoff, never given up on.
//
// When ctx is done Run stops starting sends and returns once the sends under
// way have finished and their outcome is stored: a send is never cut short by
// shutdown (only by Config.SendTimeout). Downloads of files are called off.
// It returns nil then. Run may be called once; a second call returns an
// error at once.
func (s *Sender) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("sender: Run called twice")
	}
	s.started = true
	s.mu.Unlock()

	if !s.recover(ctx) {
		return nil
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
		now := time.Now()
		for i, ref := range refs {
			s.startLocked(ref)
			if d := herdDelay(i, len(refs), s.cfg.Interval); d > 0 {
				s.accounts[ref].notBefore = now.Add(d)
			}
		}
		s.ready = true
		s.mu.Unlock()
		s.log.Info("sender running", zap.Int("accounts_with_queued_messages", len(refs)))
	}

	<-ctx.Done()
	s.mu.Lock()
	s.running = false
	stopped := s.stopParkedLocked() // in the same section: no timer resumes one in between
	s.mu.Unlock()
	s.dropParkedFiles(stopped)
	s.wg.Wait()
	s.log.Info("sender stopped")
	return nil
}

// Texts of the tries recorded for a message a stop caught in sending whose
// transport could tell what became of it.
const (
	confirmedSent    = "interrupted: wagate stopped while sending this message; after the restart the transport confirmed that it was delivered"
	confirmedNotSent = "interrupted: wagate stopped before the transport sent this message (the transport confirmed so after the restart); it is sent again"
)

// recover settles, at start and before any send, the messages a stop left
// in sending, where the transport may or may not have delivered them. When
// the account's transport is a Confirmer it is asked: delivered → sent
// (with its provider id); certainly not delivered → back to its place in
// the queue, to be sent once. Every other message (no Confirmer, no
// answer, an account that is gone) is left to Queue.RecoverSending, which
// fails and refunds it as interrupted: wagate never resends silently what
// may have gone out. It returns false when ctx ended first.
func (s *Sender) recover(ctx context.Context) bool {
	if s.anyConfirmer() {
		var msgs []*wagate.Message
		if !retry(ctx, s.log, "list messages left in sending", func() (err error) {
			msgs, err = s.q.Sending(ctx)
			return err
		}) {
			return false
		}
		for _, m := range msgs {
			s.confirm(ctx, m)
			if ctx.Err() != nil {
				return false
			}
		}
	}
	var n int
	if !retry(ctx, s.log, "recover messages left in sending", func() (err error) {
		n, err = s.q.RecoverSending(ctx, time.Now())
		return err
	}) {
		return false
	}
	if n > 0 {
		s.m.recovered.WithLabelValues(recoveredFailed).Add(float64(n))
		s.log.Warn("failed and refunded messages a stop caught while sending; nobody can tell whether they went out",
			zap.Int("messages", n))
	}
	return true
}

// anyConfirmer reports whether a transport can answer for interrupted sends.
func (s *Sender) anyConfirmer() bool {
	for _, t := range s.transports {
		if _, ok := t.(Confirmer); ok {
			return true
		}
	}
	return false
}

// confirm asks m's transport what became of m and records the answer; see
// recover. A message it cannot settle stays in sending for RecoverSending.
func (s *Sender) confirm(ctx context.Context, m *wagate.Message) {
	log := s.log.With(zap.String("workspace", m.WorkspaceID), zap.String("account", m.AccountPhone), zap.String("message_id", m.ID))
	acct, err := s.q.Account(ctx, m.Account())
	if err != nil || acct == nil {
		return
	}
	c, ok := s.transports[acct.Transport].(Confirmer)
	if !ok {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	d, providerID, err := c.Confirm(cctx, acct, m)
	cancel()
	if err != nil {
		log.Warn("the transport cannot tell whether an interrupted message was delivered", zap.Error(err))
		return
	}
	now := time.Now()
	switch d {
	case Delivered:
		log.Info("interrupted message confirmed delivered", zap.String("provider_id", providerID))
		if s.finish(ctx, log, "confirmed sent", func(c context.Context) error {
			return s.q.MarkSent(c, m.ID, wagate.Try{At: now, Result: wagate.TryResultSent, Class: wagate.TryClassInterrupted, Error: confirmedSent, ProviderID: providerID})
		}) {
			s.m.recovered.WithLabelValues(recoveredSent).Inc()
		}
	case NotDelivered:
		log.Info("interrupted message confirmed not delivered; it goes back to its place in the queue")
		if s.finish(ctx, log, "requeued", func(c context.Context) error {
			return s.q.Retry(c, m.ID, wagate.Try{At: now, Result: wagate.TryResultRetry, Class: wagate.TryClassInterrupted, Error: confirmedNotSent}, now)
		}) {
			s.m.recovered.WithLabelValues(recoveredRequeued).Inc()
		}
	}
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
		if a.parked != nil && a.resumeOnWake {
			s.unparkLocked(a)
			return
		}
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
		if err := s.q.MarkSending(ctx, m.ID, markAt); err != nil {
			if ctx.Err() != nil {
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
		start, prevStart, prevGap := s.begin(a, waited)
		waited = false
		deferred, posted := s.send(ctx, log, tr, acct, m, att)
		if deferred {
			// Nothing went out: the account's other recipients keep the
			// turn this message did not use.
			s.restoreTurn(a, prevStart, prevGap)
			continue // its file stays prefetched for the try to come
		}
		if posted.After(start) {
			// The transport handed the message over later than it was
			// called (an upload first): the next gap runs from there.
			s.movePace(a, posted)
		}
		s.dropFile(a, m.ID)
	}
}

// begin records a send start of the account, now, and draws the gap the
// next one waits. It returns the start and the turn it replaced, for
// restoreTurn.
//
// start is when the transport is called, after MarkSending has committed,
// not when the storage work began: the gap a recipient sees runs between
// two transport calls, so that is what the pace measures and schedules
// from. The next send is due at start+gap, never earlier, so a slow commit
// or a slow send can make a gap longer than drawn but never shorter (the
// floor interval−jitter holds). Storage latency is kept out of the gap by
// starting the storage work lead before the turn instead (see lead).
func (s *Sender) begin(a *account, waited bool) (start, prevStart time.Time, prevGap time.Duration) {
	s.mu.Lock()
	// Read the clock once the lock is held: at thousands of sends a second
	// the wait for s.mu would otherwise sit between the start the pace
	// counts from and the transport call a recipient sees.
	start = time.Now()
	prevStart, prevGap = a.lastStart, a.gap
	interval, jitter := a.pace.or(s.cfg.Interval, s.cfg.Jitter)
	gap := drawGap(s.rnd, interval, jitter)
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
// transport reported handing it over (Posting), keeping its drawn gap.
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

// send hands m to its transport and stores the outcome; deferred reports
// that the transport did not try (sender.Defer). The transport's context is
// cut loose from ctx: shutdown waits for the send under way instead of
// aborting it half done, and only SendTimeout bounds it.
func (s *Sender) send(ctx context.Context, log *zap.Logger, tr Transport, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (deferred bool, posted time.Time) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SendTimeout)
	sctx, clock := withPostClock(sctx)
	defer func() { posted = clock.posted() }()
	t0 := time.Now()
	providerID, err := tr.Send(sctx, acct, m, file)
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
		return false, posted
	}
	s.settle(ctx, log, m, done, err)
	return IsDeferred(err), posted
}

// settle stores the outcome of a try of m that failed at at with err (the
// transport's, or the file download's): another try when err is not
// permanent and the schedule has a retry left (Queue.Retry puts m back at
// its place, due after the backoff), else the message fails and is
// refunded (Queue.MarkFailed), with the error text of its last try.
func (s *Sender) settle(ctx context.Context, log *zap.Logger, m *wagate.Message, at time.Time, err error) {
	class := errorClass(err)
	retries := retriesOf(m)
	s.mu.Lock()
	delay, again := retryDelay(s.rnd, s.cfg.RetryDelays, retries, err)
	s.mu.Unlock()

	if again {
		due := at.Add(delay)
		if IsDeferred(err) {
			s.m.sends.WithLabelValues(resultDeferred).Inc()
			log.Debug("transport deferred the send", zap.String("result", resultDeferred), zap.Duration("in", delay), zap.Error(err))
		} else {
			s.m.sends.WithLabelValues(resultRetry).Inc()
			log.Warn("try failed; retrying later", zap.String("result", resultRetry), zap.String("class", class),
				zap.Int("retry", retries+1), zap.Duration("in", delay), zap.Error(err))
		}
		s.finish(ctx, log, "retry", func(c context.Context) error {
			return s.q.Retry(c, m.ID, wagate.Try{At: at, Result: wagate.TryResultRetry, Class: class, Error: err.Error()}, due)
		})
		return
	}

	result, text := resultFailedPermanent, err.Error()
	if class != wagate.TryClassPermanent {
		result = resultFailedTransient
		text = fmt.Sprintf("%s (gave up after %d tries)", text, retries+1)
	}
	s.m.sends.WithLabelValues(result).Inc()
	log.Warn("message failed", zap.String("result", result), zap.String("class", class), zap.Error(err))
	s.finish(ctx, log, "failed", func(c context.Context) error {
		return s.q.MarkFailed(c, m.ID, wagate.Try{At: at, Result: wagate.TryResultFailed, Class: class, Error: text})
	})
}

// failUnsent fails a queued message that cannot reach any transport (its
// account was deleted, or uses a transport this server lacks), with a
// refund. MarkFailed takes it straight from the queue; a message failed
// already (an account deletion fails its queued messages itself) is left
// as it is, so the refund happens once.
func (s *Sender) failUnsent(ctx context.Context, log *zap.Logger, m *wagate.Message, reason string) {
	log = log.With(zap.String("message_id", m.ID))
	now := time.Now()
	s.m.sends.WithLabelValues(resultFailedAccount).Inc()
	log.Warn("message failed", zap.String("result", resultFailedAccount), zap.String("class", wagate.TryClassPermanent), zap.String("error", reason))
	s.finish(ctx, log, "failed", func(c context.Context) error {
		return s.q.MarkFailed(c, m.ID, wagate.Try{At: now, Result: wagate.TryResultFailed, Class: wagate.TryClassPermanent, Error: reason})
	})
}

// finish stores the outcome of a try (or of a recovery). Once a message
// is out of its queue (sending), giving up would leave it there: the write
// is tried on a context that shutdown does not cancel, and a storage
// failure (EUNAVAILABLE, EINTERNAL) is retried with backoff while the
// sender runs. Only a stop during a storage outage leaves the message as it
// was, for the next start (RecoverSending for a message in sending). It
// reports whether the outcome was stored.
func (s *Sender) finish(ctx context.Context, log *zap.Logger, what string, write func(context.Context) error) bool {
	b := backoff{}
	for {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		err := write(wctx)
		cancel()
		if err == nil {
			return true
		}
		if code := wagate.ErrorCode(err); code != wagate.EUNAVAILABLE && code != wagate.EINTERNAL {
			// The store refused (the message is gone, or already final):
			// asking again would get the same answer and hold up the
			// account's queue for nothing.
			log.Error("the store refused the outcome of a try", zap.String("outcome", what), zap.Error(err))
			return false
		}
		if ctx.Err() != nil {
			log.Error("cannot store the outcome of a try before stopping; the message stays as it is until the next start",
				zap.String("outcome", what), zap.Error(err))
			return false
		}
		log.Warn("cannot store the outcome of a try; trying again",
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
	return sleep(ctx, d)
}

// sleep waits d, or until ctx is done; it returns false for ctx.
func sleep(ctx context.Context, d time.Duration) bool {
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
