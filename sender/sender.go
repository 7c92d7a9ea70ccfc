package sender

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// This file holds the Sender's lifecycle: New, Run (recovery first, then
// the accounts with queued messages, then shutdown in order), Running, and
// Wake, which starts an account's worker (worker.go).

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
	started  bool                           // Run was called
	running  bool                           // Run has recovered and not yet been stopped: Wake starts workers
	ready    bool                           // Run has also resumed the queued accounts
	ctx      context.Context                // Run's context, for the workers Wake starts
	wg       sync.WaitGroup                 // the workers, waited for by Run
	prep     prepWindow                     // guarded by mu: recent cost of the storage work before a send, see lead
	sessions map[wagate.AccountRef]*session // guarded by mu: see sessions.go

	sessMu sync.Mutex // serializes SessionHolder.StartAccount and StopAccount calls

	// Replicas (lease.go): leaser is q when it is a Leaser, else nil; owned
	// (guarded by mu) are the accounts this replica holds and has
	// recovered; poke asks for a lease round.
	leaser Leaser
	owned  map[wagate.AccountRef]bool
	poke   chan struct{}
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
	// awaitingSession: parked until the account's session is ready
	// (sessions.go); a Wake for a new message does not end that wait.
	awaitingSession bool

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
	s := &Sender{
		q:          q,
		transports: ts,
		cfg:        cfg,
		log:        log,
		m:          m,
		files:      newFileBudget(cfg.FileBytes, m.fileBytes),
		slots:      newFetchSlots(cfg.FetchConcurrency, cfg.FetchConcurrencyPerWorkspace),
		rnd:        rnd,
		accounts:   make(map[wagate.AccountRef]*account),
		sessions:   make(map[wagate.AccountRef]*session),
		prep:       prepWindow{span: max(cfg.Interval+cfg.Jitter, time.Second)},
		poke:       make(chan struct{}, 1),
	}
	if l, ok := q.(Leaser); ok {
		s.leaser, s.owned = l, make(map[wagate.AccountRef]bool)
	}
	return s
}

// Run drains the queues until ctx is done. It first settles the messages a
// crash left in sending, before any send (see recover), then starts a worker
// for every account Queue.QueuedAccounts lists; from then on Wake starts
// the others. With a Queue that is a Leaser (replicas), it leases instead:
// it sends only the accounts it holds, recovers each as it takes it over,
// and releases them when it stops (see lease.go). A failing store is retried with backoff, never given up on.
// Sessions of transports that hold them start before any send (see
// SessionHolder).
//
// When ctx is done Run stops starting sends and returns once the sends under
// way have finished and their outcome is stored: a send is never cut short by
// shutdown (only by Config.SendTimeout). Downloads of files are called off.
// Then the sessions are stopped. It returns nil then. Run may be called once; a second call returns an
// error at once.
func (s *Sender) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("sender: Run called twice")
	}
	s.started = true
	s.mu.Unlock()

	if s.leaser == nil && !s.recover(ctx) {
		return nil
	}

	// Wake starts workers from here on. A message accepted before this point
	// was committed before the QueuedAccounts below reads, so it is listed
	// there; one accepted after is woken. Either way none is left behind.
	s.mu.Lock()
	s.ctx = ctx
	s.running = true
	s.mu.Unlock()
	if s.leaser == nil {
		// With a Leaser, a session starts when its account's lease is
		// claimed (lease.go): one replica at a time holds it.
		s.startSessions(ctx)
	}

	var refs []wagate.AccountRef
	if s.leaser != nil {
		s.runLeases(ctx) // until ctx is done
	} else if retry(ctx, s.log, "list accounts with queued messages", func() (err error) {
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
	s.stopSessions()
	if s.leaser != nil {
		s.release(ctx)
	}
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
	if !s.running {
		return
	}
	if s.leaser != nil && !s.owned[ref] {
		// Another replica may hold it (it heard the same wake-up), or
		// nobody yet: a lease round claims it if it is free.
		s.pokeLeases()
		return
	}
	s.startLocked(ref)
}

// accountLocked returns the sender's memory of the account, made when
// there is none. s.mu is held.
func (s *Sender) accountLocked(ref wagate.AccountRef) *account {
	a := s.accounts[ref]
	if a == nil {
		a = &account{ref: ref, wake: make(chan struct{}, 1)}
		s.accounts[ref] = a
	}
	return a
}

// startLocked makes sure the account has a worker. s.mu is held.
func (s *Sender) startLocked(ref wagate.AccountRef) {
	a := s.accountLocked(ref)
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
