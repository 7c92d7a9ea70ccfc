//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

var (
	_ Service          = (*Manager)(nil)
	_ sender.Transport = (*Manager)(nil)
	_ sender.Confirmer = (*Manager)(nil)

	_ sender.SharedConfirmer = (*Manager)(nil)
)

// Manager holds the sessions of the whatsapp accounts and is their
// transport. It is safe for concurrent use.
type Manager struct {
	cfg   Config
	log   *zap.Logger
	dev   devices
	led   ledger
	ks    *keystore // nil with test fakes
	recip *recipientCache

	mu       sync.Mutex
	sessions map[wagate.AccountRef]*session
	links    map[wagate.AccountRef]Link   // last state of accounts without a session
	wakes    map[wagate.AccountRef]func() // the sender's wake function of each started account
	receipts chan struct{}                // closed and replaced at every receipt recorded (Confirm waits on it)
	closed   bool
	wg       sync.WaitGroup

	// ops has the lock of each account whose Start, Stop, Link or
	// Unlink runs or waits (lockAccount); under mu.
	ops map[wagate.AccountRef]*accountOp
}

// Open refreshes the WhatsApp Web version (when WhatsApp is reachable),
// opens DataDir/whatsapp.db (or the DatabaseURL's schema) and returns the
// Manager. No session runs until Start or Link.
func Open(ctx context.Context, cfg Config) (Service, error) {
	if cfg.DataDir == "" && cfg.DatabaseURL == "" {
		return nil, fmt.Errorf("whatsapp: Config.DataDir is empty; give the data folder (--data)")
	}
	cfg = withDefaults(cfg)
	if !cfg.SkipVersionCheck {
		refreshVersion(ctx, cfg.HTTPClient, cfg.Logger.Named("whatsapp"))
	}
	// The name the phone lists the linked device under.
	store.SetOSInfo(cfg.DeviceName, [3]uint32{1, 0, 0})
	ks, err := openKeys(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := ks.sweep(ctx, cfg.Now()); err != nil {
		cfg.Logger.Warn("whatsapp: cannot prune the send ledger", zap.Error(err))
	}
	var dev devices = ks
	if cfg.NewClient != nil {
		dev = hookDevices{ks: ks, newClient: cfg.NewClient}
	}
	m := newManager(cfg, dev, ks)
	m.ks = ks
	return m, nil
}

// refreshVersion asks web.whatsapp.com for the current client version and
// uses it: WhatsApp refuses versions it thinks too old (StateOutdated), and
// the one built into the library ages. Unreachable, the built-in one stays.
func refreshVersion(ctx context.Context, hc *http.Client, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := whatsmeow.GetLatestVersion(ctx, hc)
	if err != nil {
		log.Warn("cannot fetch the current WhatsApp Web version; using the built-in one",
			zap.String("version", store.GetWAVersion().String()), zap.Error(err))
		return
	}
	store.SetWAVersion(*v)
	log.Info("using the current WhatsApp Web version", zap.String("version", v.String()))
}

func withDefaults(cfg Config) Config {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.DeviceName == "" {
		cfg.DeviceName = "wagate"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RecipientTTL, DefaultRecipientTTL)
	def(&cfg.ReconnectMin, DefaultReconnectMin)
	def(&cfg.ReconnectMax, DefaultReconnectMax)
	def(&cfg.LinkTimeout, DefaultLinkTimeout)
	def(&cfg.ConfirmGrace, DefaultConfirmGrace)
	return cfg
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newManager is Open without the version check and the file: tests give
// fakes of the device store and the ledger.
func newManager(cfg Config, dev devices, led ledger) *Manager {
	cfg = withDefaults(cfg)
	return &Manager{
		cfg:      cfg,
		log:      cfg.Logger.Named("whatsapp"),
		dev:      dev,
		led:      led,
		recip:    newRecipientCache(cfg.RecipientTTL),
		sessions: map[wagate.AccountRef]*session{},
		ops:      map[wagate.AccountRef]*accountOp{},
		links:    map[wagate.AccountRef]Link{},
		receipts: make(chan struct{}),
	}
}

// setLink records and reports a state change of an account.
func (m *Manager) setLink(ref wagate.AccountRef, l Link) {
	if l.Since.IsZero() {
		l.Since = m.cfg.Now()
	}
	m.log.Info("link state", zap.String("account", ref.Phone), zap.String("state", string(l.State)), zap.String("error", l.Error))
	if m.cfg.OnLink != nil {
		m.cfg.OnLink(ref, l)
	}
	if l.State == StateConnected {
		m.wake(ref)
	}
}

// Status returns the account's link state: its session's, else the last
// one recorded, else unlinked.
func (m *Manager) Status(ref wagate.AccountRef) Link {
	m.mu.Lock()
	s := m.liveLocked(ref)
	l, ok := m.links[ref]
	m.mu.Unlock()
	if s != nil {
		return s.status()
	}
	if ok {
		return l
	}
	return Link{State: StateUnlinked}
}

// Start brings up the session of a linked account; see Service. It waits
// for a Link, Unlink or Stop of the account under way: a Start that came
// between a relink's stop of the old session and the start of the new one
// would find no session and no device (its keys just dropped), report the
// account unlinked and end the linking's hand-over.
func (m *Manager) Start(ctx context.Context, acct *wagate.Account) {
	ref := acct.Ref()
	unlock, err := m.lockAccount(ctx, ref)
	if err != nil {
		return // the caller gave up (the sender stopping)
	}
	defer unlock()
	m.mu.Lock()
	if m.closed || m.liveLocked(ref) != nil {
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	cli, linked, err := m.dev.client(ctx, ref)
	if err != nil {
		m.remember(ref, Link{State: StateError, Error: err.Error()})
		return
	}
	if !linked {
		m.remember(ref, Link{State: StateUnlinked, Error: "no device is linked; link the account by QR code or pairing code"})
		return
	}
	m.spawn(ref, cli, modeConnect, "")
}

// remember records the state of an account that has no session.
func (m *Manager) remember(ref wagate.AccountRef, l Link) {
	if l.Since.IsZero() {
		l.Since = m.cfg.Now()
	}
	m.mu.Lock()
	m.links[ref] = l
	m.mu.Unlock()
	m.setLink(ref, l)
}

// spawn starts a session goroutine; false when one runs already or the
// manager is closed.
func (m *Manager) spawn(ref wagate.AccountRef, cli Client, mode sessionMode, method string) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.liveLocked(ref) != nil {
		return nil
	}
	s := newSession(m, ref, cli)
	m.sessions[ref] = s
	delete(m.links, ref)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		s.run(mode, method)
		m.mu.Lock()
		m.forgetLocked(s)
		m.mu.Unlock()
	}()
	return s
}

// liveLocked is the account's running session, nil when it has none. A
// session that has ended (its done closed) is forgotten here, not only by
// its goroutine a moment later: a Start right after a Stop, or after the
// session ended by itself, would otherwise find the ended session, take it
// for running and start nothing. m.mu is held.
func (m *Manager) liveLocked(ref wagate.AccountRef) *session {
	s := m.sessions[ref]
	if s == nil {
		return nil
	}
	select {
	case <-s.done:
		m.forgetLocked(s)
		return nil
	default:
		return s
	}
}

// forgetLocked removes the ended session s, if it is still its account's,
// and keeps its last state. m.mu is held.
func (m *Manager) forgetLocked(s *session) {
	if m.sessions[s.ref] == s {
		delete(m.sessions, s.ref)
		m.links[s.ref] = s.status()
	}
}

// accountOp is the lock of one account's lifecycle calls (lockAccount).
type accountOp struct {
	turn  chan struct{} // holds a token while a call runs
	users int           // calls running or waiting (under m.mu); the entry goes at 0
}

// lockAccount waits until no other Start, Stop, Link or Unlink of ref
// runs, or ctx ends, and returns the function that lets the next one in.
// Each of them stops, forgets and starts sessions in steps; one account's
// steps never interleave, so a relink (stop the old session, drop its
// keys, start the linking one) is one step to a Start. A call holding it
// waits at most for a session to end, and a session's last reports
// (OnLink, the sender's wake) never call Start, Stop, Link or Unlink: no
// cycle of waits.
func (m *Manager) lockAccount(ctx context.Context, ref wagate.AccountRef) (unlock func(), err error) {
	m.mu.Lock()
	op := m.ops[ref]
	if op == nil {
		op = &accountOp{turn: make(chan struct{}, 1)}
		m.ops[ref] = op
	}
	op.users++
	m.mu.Unlock()
	leave := func() {
		m.mu.Lock()
		if op.users--; op.users == 0 {
			delete(m.ops, ref)
		}
		m.mu.Unlock()
	}
	select {
	case op.turn <- struct{}{}:
		return func() { <-op.turn; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// Stop ends the account's session; see Service. It waits until the
// session has ended, and a Start after it starts a new one.
func (m *Manager) Stop(ref wagate.AccountRef) {
	unlock, _ := m.lockAccount(context.Background(), ref)
	defer unlock()
	if s := m.session(ref); s != nil {
		s.stop()
	}
}

func (m *Manager) session(ref wagate.AccountRef) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.liveLocked(ref)
}

// Link starts linking; see Service. It returns once the first QR code or
// the pairing code is there (or linking failed).
func (m *Manager) Link(ctx context.Context, acct *wagate.Account, method string) (Link, error) {
	if method != MethodQR && method != MethodCode {
		return Link{}, wagate.Errorf(wagate.EINVALID, "method %q: link by \"qr\" (scan a QR code) or \"code\" (type a pairing code on the phone)", method)
	}
	ref := acct.Ref()
	unlock, err := m.lockAccount(ctx, ref)
	if err != nil {
		return m.Status(ref), err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	if s := m.session(ref); s != nil {
		switch st := s.status().State; st {
		case StateConnected:
			return Link{}, wagate.Errorf(wagate.ECONFLICT, "account %s is linked and connected; unlink it first (DELETE …/accounts/%s/link) to link another device", ref.Phone, ref.Phone)
		case StateLinking:
			// A second request restarts linking: the first page may be gone.
		}
		s.stop()
	}
	// A new link starts from new keys: the old device (logged out, or
	// disconnected for good) is dropped.
	if err := m.dev.forget(ctx, ref); err != nil {
		return Link{}, err
	}
	cli, _, err := m.dev.client(ctx, ref)
	if err != nil {
		return Link{}, err
	}
	s := m.spawn(ref, cli, modeLink, method)
	if s == nil {
		return Link{}, wagate.Errorf(wagate.EUNAVAILABLE, "account %s: wagate is stopping; link it again once it runs", ref.Phone)
	}
	// The linking session runs: a Start now finds it. The wait for its
	// first code must not hold the other calls back.
	unlock()
	locked = false
	select {
	case <-s.firstLink:
	case <-ctx.Done():
		return s.status(), ctx.Err()
	}
	return s.status(), nil
}

// Unlink logs the account's device out and forgets its keys; see Service.
func (m *Manager) Unlink(ctx context.Context, ref wagate.AccountRef) error {
	unlock, err := m.lockAccount(ctx, ref)
	if err != nil {
		return err
	}
	defer unlock()
	var cli Client
	if s := m.session(ref); s != nil {
		cli = s.cli
		s.stop()
	} else {
		c, linked, err := m.dev.client(ctx, ref)
		if err != nil {
			return err
		}
		if linked {
			cli = c
		}
	}
	if cli != nil && cli.IsLoggedIn() {
		// Logout tells WhatsApp to drop the device; it needs a connection.
		if !cli.IsConnected() {
			_ = cli.Connect()
		}
		if err := cli.Logout(ctx); err != nil {
			m.log.Warn("logging the device out failed; its keys are deleted anyway (remove \"wagate\" from the phone's linked devices)",
				zap.String("account", ref.Phone), zap.Error(err))
		}
		cli.Disconnect()
	}
	if err := m.dev.forget(ctx, ref); err != nil {
		return err
	}
	m.remember(ref, Link{State: StateUnlinked})
	return nil
}

// Close stops every session and closes the key store.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	ss := make([]*session, 0, len(m.sessions))
	for _, s := range m.sessions {
		ss = append(ss, s)
	}
	m.mu.Unlock()
	for _, s := range ss {
		s.stop()
	}
	m.wg.Wait()
	if m.ks != nil {
		return m.ks.close()
	}
	return nil
}
