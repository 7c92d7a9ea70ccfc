//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

type sessionMode int

const (
	modeConnect sessionMode = iota // a linked device: connect and stay connected
	modeLink                       // a new device: pair it, then stay connected
)

// What the event handler tells the session's loop.
type outcomeKind int

const (
	outConnected outcomeKind = iota // online: the backoff starts over
	outReconnect                    // the connection dropped: reconnect after the backoff
	outWait                         // banned: reconnect at until
	outStop                         // logged out, outdated, replaced: the session ends
	outLoggedOut                    // as outStop, and the device's keys are dropped
)

type outcome struct {
	kind  outcomeKind
	until time.Time
}

// session is the long-lived client of one account. One goroutine (run)
// connects and reconnects; whatsmeow's event goroutine calls handle, which
// records states and tells run what happened through events.
type session struct {
	m     *Manager
	ref   wagate.AccountRef
	phone string // the account's number, digits only, as WhatsApp JIDs have it
	cli   Client

	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	events    chan outcome
	firstLink chan struct{}
	firstOnce sync.Once

	// reporting is held from a state change to the end of its report, so
	// reports reach the store in the order the states were set: two sets
	// racing (the link request's "linking", the client's "connected") could
	// otherwise store the earlier state last.
	reporting sync.Mutex
	mu        sync.Mutex
	link      Link
	changed   chan struct{} // closed and replaced at every state change
	pairedJID types.JID
}

func newSession(m *Manager, ref wagate.AccountRef, cli Client) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{
		m:         m,
		ref:       ref,
		phone:     strings.TrimPrefix(ref.Phone, "+"),
		cli:       cli,
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		events:    make(chan outcome, 8),
		firstLink: make(chan struct{}),
		changed:   make(chan struct{}),
		link:      Link{State: StateDisconnected, Since: m.cfg.Now(), Error: "connecting"},
	}
}

func (s *session) status() Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.link
}

// set records and reports a new state.
func (s *session) set(l Link) {
	s.reporting.Lock()
	defer s.reporting.Unlock()
	l.Since = s.m.cfg.Now()
	s.mu.Lock()
	s.link = l
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.m.setLink(s.ref, l)
}

// waitConnected waits until the session is connected; false when ctx ends
// or the session stops first.
func (s *session) waitConnected(ctx context.Context) bool {
	for {
		s.mu.Lock()
		st, ch := s.link.State, s.changed
		s.mu.Unlock()
		if st == StateConnected {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-s.done:
			return false
		}
	}
}

func (s *session) stop() {
	s.cancel()
	<-s.done
}

// signal hands an outcome to run without blocking whatsmeow's event
// goroutine. Outcomes that come while pair still runs wait in the buffer
// for maintain: once the phone has linked, the client connects (and can be
// banned, logged out or replaced) before pair has stored the device and
// returned, and an outcome dropped then is never seen again (a ban's end
// would never be waited for, and the account would stay banned with its
// queue held). When the linking fails, maintain never runs and they go
// with the session.
func (s *session) signal(o outcome) {
	select {
	case s.events <- o:
	default:
		s.m.log.Warn("session event dropped: the session is busy", zap.String("account", s.ref.Phone))
	}
}

func (s *session) run(mode sessionMode, method string) {
	id := s.cli.AddEventHandler(s.handle)
	defer func() {
		s.cli.RemoveEventHandler(id)
		s.cli.Disconnect()
		s.firstOnce.Do(func() { close(s.firstLink) })
		close(s.done)
	}()
	if mode == modeLink {
		if !s.pair(method) {
			return
		}
	}
	s.maintain(mode == modeConnect || !s.cli.IsConnected())
}

// handle turns whatsmeow's events into states and outcomes. It runs on the
// client's event goroutine: it must not block.
func (s *session) handle(evt any) {
	switch e := evt.(type) {
	case *events.Connected:
		s.set(Link{State: StateConnected})
		s.signal(outcome{kind: outConnected})
	case *events.Disconnected:
		s.set(Link{State: StateDisconnected, Error: "WhatsApp closed the connection; wagate reconnects"})
		s.signal(outcome{kind: outReconnect})
	case *events.LoggedOut:
		s.set(Link{State: StateLoggedOut, Error: fmt.Sprintf("the device was logged out (%s): it was removed on the phone, or WhatsApp logged it out; link the account again", loggedOutReason(e))})
		s.signal(outcome{kind: outLoggedOut})
	case *events.TemporaryBan:
		until := s.m.cfg.Now().Add(e.Expire)
		l := Link{State: StateBanned, Error: "WhatsApp banned this account for a while (" + e.Code.String() + "); messages wait until the ban ends"}
		if e.Expire > 0 {
			l.Until = until
		} else {
			until = s.m.cfg.Now().Add(s.m.cfg.ReconnectMax)
		}
		s.set(l)
		s.signal(outcome{kind: outWait, until: until})
	case *events.ClientOutdated:
		s.set(Link{State: StateOutdated, Error: "WhatsApp refused this client version as outdated; update wagate (at start it also asks WhatsApp for the current version, which needs web.whatsapp.com reachable)"})
		s.signal(outcome{kind: outStop})
	case *events.ConnectFailure:
		s.set(Link{State: StateError, Error: fmt.Sprintf("WhatsApp refused the connection: %s (code %d); wagate tries again", e.Reason.String(), int(e.Reason))})
		s.signal(outcome{kind: outReconnect})
	case *events.StreamReplaced:
		s.set(Link{State: StateError, Error: "another program connected with this device's keys (a second wagate on the same data folder?); this session stopped: stop the other one, then restart wagate or resume the account"})
		s.signal(outcome{kind: outStop})
	case *events.PairSuccess:
		s.mu.Lock()
		s.pairedJID = e.ID
		s.mu.Unlock()
	case *events.Receipt:
		s.m.receipt(s, e)
	}
}

func loggedOutReason(e *events.LoggedOut) string {
	if e.OnConnect {
		return e.Reason.String()
	}
	return "stream error"
}

// pair runs the linking: QR codes as they rotate, or one pairing code, until
// the phone links (true) or linking ends (false, the state says why).
func (s *session) pair(method string) bool {
	first := func() { s.firstOnce.Do(func() { close(s.firstLink) }) }
	defer first()
	ctx, cancel := context.WithTimeout(s.ctx, s.m.cfg.LinkTimeout)
	defer cancel()
	ch, err := s.cli.GetQRChannel(ctx)
	if err != nil {
		s.set(Link{State: StateError, Error: "cannot start linking: " + err.Error()})
		return false
	}
	s.set(Link{State: StateLinking})
	if err := s.cli.Connect(); err != nil {
		s.set(Link{State: StateError, Error: "cannot reach WhatsApp to link the account: " + err.Error() + "; check the network and link again"})
		return false
	}
	asked := false
	for {
		var item whatsmeow.QRChannelItem
		var ok bool
		select {
		case item, ok = <-ch:
		case <-ctx.Done():
			if s.ctx.Err() != nil {
				return false
			}
			s.set(Link{State: StateUnlinked, Error: fmt.Sprintf("nobody completed the linking within %s; link again", s.m.cfg.LinkTimeout)})
			return false
		}
		if !ok {
			s.set(Link{State: StateUnlinked, Error: "linking ended without an answer from WhatsApp; link again"})
			return false
		}
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			if method == MethodQR {
				s.set(Link{State: StateLinking, QR: item.Code, ExpiresAt: s.m.cfg.Now().Add(item.Timeout)})
				first()
				continue
			}
			if asked {
				continue // the codes keep the connection open; the pairing code stays
			}
			asked = true
			code, err := s.cli.PairPhone(ctx, s.phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
			if err != nil {
				s.set(Link{State: StateError, Error: "WhatsApp gave no pairing code: " + err.Error() + "; try again or link by QR code"})
				return false
			}
			s.set(Link{State: StateLinking, Code: code, ExpiresAt: s.m.cfg.Now().Add(s.m.cfg.LinkTimeout)})
			first()
		case whatsmeow.QRChannelSuccess.Event:
			return s.paired(ctx)
		case whatsmeow.QRChannelTimeout.Event:
			s.set(Link{State: StateUnlinked, Error: "the QR code was not scanned in time; link again"})
			return false
		case whatsmeow.QRChannelClientOutdated.Event:
			s.set(Link{State: StateOutdated, Error: "WhatsApp refused this client version as outdated; update wagate"})
			return false
		case whatsmeow.QRChannelScannedWithoutMultidevice.Event:
			s.set(Link{State: StateError, Error: "the phone scanned the code without multi-device support; update WhatsApp on the phone and link again"})
			return false
		default:
			msg := "linking failed"
			if item.Error != nil {
				msg += ": " + item.Error.Error()
			} else {
				msg += " (" + item.Event + ")"
			}
			s.set(Link{State: StateError, Error: msg + "; link again"})
			return false
		}
	}
}

// paired checks the phone that linked: another number than the account's
// is logged out again at once and its keys dropped.
func (s *session) paired(ctx context.Context) bool {
	s.mu.Lock()
	jid := s.pairedJID
	s.mu.Unlock()
	if jid.User != s.phone {
		if err := s.cli.Logout(ctx); err != nil {
			s.m.log.Warn("logging out a device of another phone failed", zap.String("account", s.ref.Phone), zap.Error(err))
		}
		if err := s.m.dev.forget(context.WithoutCancel(ctx), s.ref); err != nil {
			s.m.log.Error("dropping the keys of a refused device", zap.String("account", s.ref.Phone), zap.Error(err))
		}
		s.set(Link{State: StateError, Error: fmt.Sprintf("refused: the phone that linked is +%s, not this account's %s; link from the account's own phone", jid.User, s.ref.Phone)})
		return false
	}
	if err := s.m.dev.paired(context.WithoutCancel(ctx), s.ref, jid); err != nil {
		s.set(Link{State: StateError, Error: err.Error()})
		return false
	}
	s.m.log.Info("device linked", zap.String("account", s.ref.Phone))
	return true
}

// maintain keeps the session connected until it is stopped or WhatsApp ends
// it, reconnecting after a backoff that doubles from ReconnectMin to
// ReconnectMax and starts over once connected.
func (s *session) maintain(connect bool) {
	cfg := s.m.cfg
	backoff := cfg.ReconnectMin
	wait := func(d time.Duration) bool { return cfg.Sleep(s.ctx, d) == nil }
	for {
		if connect {
			if err := s.cli.Connect(); err != nil && !errors.Is(err, whatsmeow.ErrAlreadyConnected) {
				s.set(Link{State: StateDisconnected, Error: fmt.Sprintf("cannot connect to WhatsApp: %v; next try in %s", err, backoff)})
				if !wait(backoff) {
					return
				}
				backoff = min(backoff*2, cfg.ReconnectMax)
				continue
			}
		}
		connect = true
		select {
		case <-s.ctx.Done():
			return
		case o := <-s.events:
			switch o.kind {
			case outConnected:
				backoff = cfg.ReconnectMin
				connect = false
			case outReconnect:
				if !wait(backoff) {
					return
				}
				backoff = min(backoff*2, cfg.ReconnectMax)
			case outWait:
				if !wait(o.until.Sub(cfg.Now())) {
					return
				}
				backoff = cfg.ReconnectMin
				connect = !s.banOver()
			case outLoggedOut:
				if err := s.m.dev.forget(context.WithoutCancel(s.ctx), s.ref); err != nil {
					s.m.log.Error("dropping the keys of a logged-out device", zap.String("account", s.ref.Phone), zap.Error(err))
				}
				return
			case outStop:
				return
			}
		}
	}
}

// banOver ends the banned state once the ban's time has passed, and says
// whether the client can send as it is. A client still connected and logged
// in (WhatsApp lifted the ban on a live connection) is connected at once,
// which wakes the account's queue: no reconnect, and so no Connected event,
// may follow, and without this the account would stay banned and its
// messages would wait for good. Otherwise the state says the ban ended and
// the session reconnects (its Connected event wakes the queue).
func (s *session) banOver() bool {
	if s.cli.IsConnected() && s.cli.IsLoggedIn() {
		s.set(Link{State: StateConnected})
		return true
	}
	s.set(Link{State: StateDisconnected, Error: "WhatsApp's ban ended; wagate reconnects"})
	return false
}
