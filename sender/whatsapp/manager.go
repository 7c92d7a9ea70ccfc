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
	s := m.sessions[ref]
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

// Start brings up the session of a linked account; see Service.
func (m *Manager) Start(ctx context.Context, acct *wagate.Account) {
	ref := acct.Ref()
	m.mu.Lock()
	if m.closed || m.sessions[ref] != nil {
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
	if m.closed || m.sessions[ref] != nil {
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
		if m.sessions[ref] == s {
			delete(m.sessions, ref)
			m.links[ref] = s.status()
		}
		m.mu.Unlock()
	}()
	return s
}

// Stop ends the account's session; see Service. It waits until the
// session's goroutine is gone.
func (m *Manager) Stop(ref wagate.AccountRef) {
	m.mu.Lock()
	s := m.sessions[ref]
	m.mu.Unlock()
	if s != nil {
		s.stop()
	}
}

func (m *Manager) session(ref wagate.AccountRef) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[ref]
}

// Link starts linking; see Service. It returns once the first QR code or
// the pairing code is there (or linking failed).
func (m *Manager) Link(ctx context.Context, acct *wagate.Account, method string) (Link, error) {
	if method != MethodQR && method != MethodCode {
		return Link{}, wagate.Errorf(wagate.EINVALID, "method %q: link by \"qr\" (scan a QR code) or \"code\" (type a pairing code on the phone)", method)
	}
	ref := acct.Ref()
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
		return Link{}, wagate.Errorf(wagate.ECONFLICT, "account %s: another link or session started meanwhile; try again", ref.Phone)
	}
	select {
	case <-s.firstLink:
	case <-ctx.Done():
		return s.status(), ctx.Err()
	}
	return s.status(), nil
}

// Unlink logs the account's device out and forgets its keys; see Service.
func (m *Manager) Unlink(ctx context.Context, ref wagate.AccountRef) error {
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
