package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// Store is the core of a backend: workspaces, accounts, chats, messages
// and their attempts, tokens, sessions, delivery reports and the send
// queue. Backend is everything a complete backend implements.
type Store interface {
	wagate.WorkspaceService
	wagate.AccountService
	wagate.ChatService
	wagate.MessageService
	wagate.AttemptService
	wagate.TokenService
	wagate.SessionService
	wagate.DeliveryService
	sender.Queue
}

// TokenStore is what RunTokens needs: tokens belong to workspaces.
type TokenStore interface {
	wagate.WorkspaceService
	wagate.TokenService
}

// AccountStore is what RunAccounts needs: accounts and chats belong to
// workspaces.
type AccountStore interface {
	wagate.WorkspaceService
	wagate.AccountService
	wagate.ChatService
}

// MessageStore is what RunMessages needs: messages belong to accounts and
// chats, and every accept writes an attempt.
type MessageStore interface {
	AccountStore
	wagate.MessageService
	wagate.AttemptService
}

// SessionStore is what RunSessions needs: sessions belong to tokens.
type SessionStore interface {
	TokenStore
	wagate.SessionService
}

// Env is what the suite hands a harness for each store it opens. The
// harness wires both into its backend; a store that ignored either would
// fail the behaviours that step the clock or inject faults.
type Env struct {
	// Now is the store's clock: for the 24 h idempotency window and every
	// time a caller leaves zero. It only moves when a behaviour advances it.
	Now func() time.Time
	// Fault is the write-fault hook: the store calls it inside every write,
	// after the write's changes and before its commit, with a name of the
	// operation. A non-nil error must roll the whole write back and reach
	// the caller as an EUNAVAILABLE error, as a full disk or a failing
	// fsync would. Reads are never failed. It may be called more than once
	// per write and from several goroutines.
	Fault func(op string) error
	// MaxAccounts and MaxChats are the operator's limits per workspace
	// (--max-accounts, --max-chats) the store must keep; 0 means none.
	// Behaviours of the limits set them and reopen the store.
	MaxAccounts int
	MaxChats    int
}

// Harness opens stores of one backend for the suite. S is the backend's
// store type, e.g. *store.DB. Its methods may be called from parallel
// subtests.
type Harness[S any] interface {
	// Open opens a new, empty store wired to env. The harness closes it
	// (and may check it) at t's cleanup.
	Open(t *testing.T, env Env) S
	// Reopen closes s, a store this harness opened, and opens the same data
	// again wired to env, as a restart of the process would; s is not used
	// again. The harness closes the new store at t's cleanup.
	Reopen(t *testing.T, s S, env Env) S
}

// Clock is a clock that moves only when told, for Env.Now. The suite starts
// it at a fixed instant so times in failures are readable.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at 2025-03-01 09:00 UTC.
func NewClock() *Clock { return &Clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// faults is the Env.Fault of one behaviour: off until the behaviour sets an
// error, then every write fails with it.
type faults struct {
	mu  sync.Mutex
	err error
}

func (f *faults) hook(string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *faults) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// fixture is one behaviour's world: a fresh store, its clock and its fault
// switch.
type fixture[S any] struct {
	t      *testing.T
	ctx    context.Context
	h      Harness[S]
	s      S
	clock  *Clock
	faults *faults
	// limits are the Env's MaxAccounts and MaxChats of the next open.
	maxAccounts, maxChats int
	// checks run after the behaviour when it passed, on the store as it
	// is then (a reopen may have replaced it).
	checks []func()
}

func (f *fixture[S]) env() Env {
	return Env{Now: f.clock.Now, Fault: f.faults.hook, MaxAccounts: f.maxAccounts, MaxChats: f.maxChats}
}

// reopen restarts the store on the same data.
func (f *fixture[S]) reopen() {
	f.t.Helper()
	f.s = f.h.Reopen(f.t, f.s, f.env())
}

// behaviour is one rule of the contract.
type behaviour[S any] struct {
	name string
	run  func(t *testing.T, f *fixture[S])
}

// run runs each behaviour as a parallel subtest on a fresh store.
func run[S any](t *testing.T, h Harness[S], part string, bs []behaviour[S]) {
	t.Run(part, func(t *testing.T) {
		t.Parallel()
		for _, b := range bs {
			t.Run(b.name, func(t *testing.T) {
				t.Parallel()
				f := &fixture[S]{t: t, ctx: context.Background(), h: h, clock: NewClock(), faults: &faults{}}
				f.s = h.Open(t, f.env())
				b.run(t, f)
				for _, check := range f.checks {
					if t.Failed() {
						break
					}
					check()
				}
				for _, check := range f.checks {
					if t.Failed() {
						break
					}
					check()
				}
			})
		}
	})
}

// RunWorkspaces runs the behaviours of wagate.WorkspaceService.
func RunWorkspaces[S wagate.WorkspaceService](t *testing.T, h Harness[S]) {
	run(t, h, "workspaces", workspaceBehaviours[S]())
}

// RunTokens runs the behaviours of wagate.TokenService.
func RunTokens[S TokenStore](t *testing.T, h Harness[S]) {
	run(t, h, "tokens", tokenBehaviours[S]())
}

// RunSessions runs the behaviours of wagate.SessionService.
func RunSessions[S SessionStore](t *testing.T, h Harness[S]) {
	run(t, h, "sessions", sessionBehaviours[S]())
}

// RunAccounts runs the behaviours of wagate.AccountService and ChatService
// that need no messages: creating, finding, listing, switching and editing
// accounts (the careful-sending rules), chats and their pages, and the
// operator's limits. Run adds those that need messages (deleting an
// account with queued messages, queue depths).
func RunAccounts[S AccountStore](t *testing.T, h Harness[S]) {
	run(t, h, "accounts and chats", accountBehaviours[S]())
}

// RunMessages runs the behaviours of wagate.MessageService and
// AttemptService that need no send queue: accepting (charges, chats,
// idempotency, refusals, racing accepts), replays, finding, listing and
// paging messages, the attempt log, and deleting an account with queued
// messages. Run adds those that need the sender's queue.
func RunMessages[S MessageStore](t *testing.T, h Harness[S]) {
	run(t, h, "messages", messageBehaviours[S]())
	run(t, h, "accounts with messages", accountMessageBehaviours[S]())
	run(t, h, "attempts", attemptBehaviours[S]())
}

// RunStore runs the parts that need a whole Store: every part above, then
// the behaviours of accounts, messages and attempts that need the send
// queue, the send queue, delivery reports, persistence across a reopen
// and write faults. Run runs it with every other part.
func RunStore[S Store](t *testing.T, h Harness[S]) {
	RunWorkspaces(t, h)
	RunTokens(t, h)
	RunSessions(t, h)
	RunAccounts(t, h)
	RunMessages(t, h)
	run(t, h, "accounts with the queue", accountQueueBehaviours[S]())
	run(t, h, "messages with the queue", messageQueueBehaviours[S]())
	run(t, h, "attempts with the queue", attemptQueueBehaviours[S]())
	run(t, h, "queue", queueBehaviours[S]())
	run(t, h, "deliveries", deliveryBehaviours[S]())
	run(t, h, "reopen", reopenBehaviours[S]())
	run(t, h, "faults", faultBehaviours[S]())
}
