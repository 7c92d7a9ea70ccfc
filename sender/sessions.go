package sender

import (
	"context"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// This file holds the sessions of transports that keep a long-lived
// connection per account (SessionHolder): when the sender starts and stops
// them, and how an account waits, without spending a retry, while its
// session cannot send (Unavailable).

// SessionHolder is an optional interface of a Transport that keeps a
// long-lived session per account, such as a WhatsApp Web client per linked
// phone. dryrun and cloudapi have none: each Send stands alone.
//
// The sender starts an account's session before the account's first send
// (at Run for the accounts with queued messages, when a woken account has
// not been started yet, and when AccountChanged reports an active
// account), and stops it when the account is paused or deleted, and for
// every started account when Run returns. Calls of StartAccount and
// StopAccount never overlap. With a Leaser (replicas), only the replica
// holding the account's lease starts its session: when it claims the
// lease, and it stops it when the lease is lost (see lease.go).
//
// While a session cannot send (connecting, reconnecting), Send returns
// Unavailable(err): the message goes back to its place with no retry used,
// and the account's worker sends nothing until the transport calls the wake
// function it was given (or Config.UnavailableWait passes).
type SessionHolder interface {
	Transport
	// StartAccount starts the account's session and returns at once: the
	// connection is made in the background. The sender sends nothing
	// through the account until wake is called, so a fresh session is not
	// greeted by a try that must fail. The transport calls wake each time
	// the account becomes able to send (connected, reconnected); wake
	// never blocks, may be called from any goroutine, also from within
	// StartAccount, and is ignored once StopAccount was called. ctx ends
	// when the sender stops (StopAccount follows). An error means no
	// session was started: it is logged, the account's messages still go to
	// Send (which may fail them, or say Unavailable), and the next send
	// asks StartAccount again.
	StartAccount(ctx context.Context, acct *wagate.Account, wake func()) error
	// StopAccount ends the account's session (paused, deleted, or the
	// sender stopping) and forgets its wake function. It must return
	// promptly; the sender calls it only for a started account.
	StopAccount(ref wagate.AccountRef)
}

// AccountLister is an optional interface of a Queue that lists every
// account. When the Queue has it and a transport is a SessionHolder, Run
// starts the sessions of all active accounts on such transports, not only
// of those with queued messages, so that a linked phone is connected (and
// its receipts arrive) while it has nothing to send.
type AccountLister interface {
	AllAccounts(ctx context.Context) ([]*wagate.Account, error)
}

// session is the sender's memory of one account's session, guarded by
// Sender.mu. holder is nil for an account of a transport without sessions
// that answered Unavailable: it waits for Config.UnavailableWait only.
type session struct {
	holder SessionHolder
	ready  bool   // the account may send: woken, or the backstop passed
	wakes  uint64 // wake calls so far: a wake during a Send outlives its Unavailable
}

// sessionReady reports whether the account may send now through tr,
// starting its session when tr is a SessionHolder that has none for it.
func (s *Sender) sessionReady(ctx context.Context, log *zap.Logger, acct *wagate.Account, tr Transport) bool {
	s.mu.Lock()
	ss := s.sessions[acct.Ref()]
	ready := ss == nil || ss.ready
	s.mu.Unlock()
	if ss != nil {
		return ready
	}
	sh, ok := tr.(SessionHolder)
	if !ok {
		return true
	}
	return s.startSession(ctx, log, acct, sh)
}

// startSession starts the account's session unless one was started
// meanwhile, and reports whether the account may send now. The session is
// recorded before StartAccount is called, so a wake from within it is not
// lost.
func (s *Sender) startSession(ctx context.Context, log *zap.Logger, acct *wagate.Account, sh SessionHolder) bool {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	ref := acct.Ref()
	s.mu.Lock()
	if ss := s.sessions[ref]; ss != nil {
		ready := ss.ready
		s.mu.Unlock()
		return ready
	}
	if s.leaser != nil && !s.owned[ref] {
		// Another replica holds the account, and its session: two
		// connections of one device would replace each other. A worker
		// that asked goes on to MarkSending, which the lease refuses.
		s.mu.Unlock()
		return true
	}
	ss := &session{holder: sh}
	s.sessions[ref] = ss
	s.mu.Unlock()

	err := sh.StartAccount(ctx, acct, func() { s.sessionUp(ref, ss) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.sessions[ref] == ss {
			delete(s.sessions, ref)
		}
		log.Warn("the transport cannot start the account's session; its messages go to the transport, which decides", zap.Error(err))
		return true
	}
	log.Info("account session started")
	return ss.ready
}

// sessionUp is the wake function of one session: the account may send, so
// a worker parked for it goes on now. A wake of a session stopped (or
// replaced) since is ignored.
func (s *Sender) sessionUp(ref wagate.AccountRef, ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ref] != ss {
		return
	}
	ss.ready = true
	ss.wakes++
	if !s.running {
		return
	}
	if a := s.accounts[ref]; a != nil && a.parked != nil && a.awaitingSession {
		a.awaitingSession = false
		s.unparkLocked(a)
	}
}

// sessionWakes is how many times the account's session was woken so far
// (sessionDown's since).
func (s *Sender) sessionWakes(ref wagate.AccountRef) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessions[ref]; ss != nil {
		return ss.wakes
	}
	return 0
}

// sessionDown records that the account's transport answered Unavailable
// to a Send begun when the session had been woken since times: it sends
// nothing until woken or the backstop passes. A wake that came during that
// Send (the connection came back while its answer was on the way) is
// newer than the answer: the account stays ready, or it would wait for the
// backstop with its session up.
func (s *Sender) sessionDown(ref wagate.AccountRef, since uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessions[ref]; ss != nil {
		if ss.wakes == since {
			ss.ready = false
		}
		return
	}
	s.sessions[ref] = &session{}
}

// parkForSession parks the account until its session is ready or
// Config.UnavailableWait passes. A Wake for a new message only leaves a
// note: the message could not go either. The readiness is looked at again
// under s.mu, so a wake that came after the worker looked is not lost.
func (s *Sender) parkForSession(ctx context.Context, a *account) parkResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessions[a.ref]; ss == nil || ss.ready {
		return woken
	}
	r := s.parkLocked(ctx, a, s.cfg.UnavailableWait, false, false)
	if r == parked {
		a.awaitingSession = true
	}
	return r
}

// sessionBackstopLocked ends an account's wait for its session when
// Config.UnavailableWait has passed without a wake: the next send goes to
// the transport, which says Unavailable again if it still cannot send. So
// a transport that forgets to wake costs a delay, never a stuck queue.
// s.mu is held.
func (s *Sender) sessionBackstopLocked(ref wagate.AccountRef) {
	ss := s.sessions[ref]
	switch {
	case ss == nil:
	case ss.holder == nil:
		delete(s.sessions, ref) // nothing to remember for a transport without sessions
	default:
		ss.ready = true
	}
}

// stopSession stops the account's session, if the sender started one.
func (s *Sender) stopSession(log *zap.Logger, ref wagate.AccountRef) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	s.mu.Lock()
	ss := s.sessions[ref]
	delete(s.sessions, ref)
	s.mu.Unlock()
	if ss != nil && ss.holder != nil {
		ss.holder.StopAccount(ref)
		log.Info("account session stopped")
	}
}

// stopSessions stops every session when Run returns, after the workers.
func (s *Sender) stopSessions() {
	s.mu.Lock()
	refs := make([]wagate.AccountRef, 0, len(s.sessions))
	for ref := range s.sessions {
		refs = append(refs, ref)
	}
	s.mu.Unlock()
	for _, ref := range refs {
		s.stopSession(s.accountLog(ref), ref)
	}
}

// startSessions starts, at Run, the sessions of every active account whose
// transport is a SessionHolder, when the Queue can list them all
// (AccountLister). The accounts with queued messages would get theirs from
// their workers; this also connects the idle ones.
func (s *Sender) startSessions(ctx context.Context) {
	lister, ok := s.q.(AccountLister)
	if !ok || !s.anySessionHolder() {
		return
	}
	var accts []*wagate.Account
	if !retry(ctx, s.log, "list accounts to start their sessions", func() (err error) {
		accts, err = lister.AllAccounts(ctx)
		return err
	}) {
		return
	}
	for _, acct := range accts {
		if sh, ok := s.transports[acct.Transport].(SessionHolder); ok && acct.Active {
			s.startSession(ctx, s.accountLog(acct.Ref()), acct, sh)
		}
	}
}

// anySessionHolder reports whether a transport keeps sessions.
func (s *Sender) anySessionHolder() bool {
	for _, t := range s.transports {
		if _, ok := t.(SessionHolder); ok {
			return true
		}
	}
	return false
}

// AccountChanged tells the sender that an account was created, activated,
// paused or deleted (the gateway calls it after the change is committed).
// The sender reads the account again: a paused or deleted account's
// session is stopped; an active one's is started, and its queue woken.
// Without it a session stops only when the account's worker next finds the
// account paused or gone. It never blocks; before Run, and after it
// stopped, it does nothing.
func (s *Sender) AccountChanged(ref wagate.AccountRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	s.wg.Add(1)
	go func(ctx context.Context) {
		defer s.wg.Done()
		s.syncSession(ctx, ref)
	}(s.ctx)
}

// syncSession brings the account's session in line with the account, for
// AccountChanged. A failing store is asked again with backoff.
func (s *Sender) syncSession(ctx context.Context, ref wagate.AccountRef) {
	log := s.accountLog(ref)
	b := backoff{}
	for {
		acct, err := s.q.Account(ctx, ref)
		switch {
		case wagate.ErrorCode(err) == wagate.ENOTFOUND || (err == nil && (acct == nil || !acct.Active)):
			s.stopSession(log, ref)
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			log.Warn("cannot read the changed account; trying again", zap.Error(err), zap.Duration("in", b.next()))
			if !b.wait(ctx) {
				return
			}
			continue
		}
		if sh, ok := s.transports[acct.Transport].(SessionHolder); ok {
			s.startSession(ctx, log, acct, sh)
		}
		s.Wake(ref)
		return
	}
}

// accountLog is the sender's logger with the account's fields.
func (s *Sender) accountLog(ref wagate.AccountRef) *zap.Logger {
	return s.log.With(zap.String("workspace", ref.WorkspaceID), zap.String("account", ref.Phone))
}
