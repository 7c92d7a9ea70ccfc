package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/sender/whatsapp"
)

// The WhatsApp Web transport (SPEC §10) ties the store, the sender and the
// gateway together: the Manager reports link states (kept in the account
// record, never with the QR or pairing code) and receipts (applied to the
// messages' delivery); the sender starts and stops its sessions; the
// gateway's link routes drive linking. In a binary built with -tags
// nowhatsapp, whatsapp.Open answers ErrNotBuilt and none of it is wired:
// this file needs no build tag of its own.

// whatsappTestConfig is a test hook only: a cmd test sets it to change the
// Manager's Config (skip the version check, shorten waits). nil in wagate.
var whatsappTestConfig func(*whatsapp.Config)

// whatsappTestLinker is a test hook only: a cmd test sets it to serve the
// link routes from a scripted linker instead of WhatsApp. nil in wagate.
var whatsappTestLinker gateway.AccountLinker

// whatsappWiring is the transport and what the cmd keeps around it.
type whatsappWiring struct {
	svc   whatsapp.Service
	db    Backend
	log   *zap.Logger
	links *linkHub
}

// openWhatsApp opens the transport on the data folder; nil (and a log
// line) in a build without it.
func openWhatsApp(ctx context.Context, cfg Config, db Backend, log *zap.Logger) (*whatsappWiring, error) {
	w := &whatsappWiring{db: db, log: log.Named("whatsapp"), links: newLinkHub()}
	wc := whatsapp.Config{
		DataDir:     cfg.DataDir,
		DatabaseURL: cfg.DatabaseURL, // with PostgreSQL the device keys live beside the rest
		Logger:      log,
		OnLink:      w.onLink,
		OnReceipt:   w.onReceipt,
		TypingLimit: cfg.SendInterval, // the pace gap: "typing…" never outlasts it
	}
	if whatsappTestConfig != nil {
		whatsappTestConfig(&wc)
	}
	svc, err := whatsapp.Open(ctx, wc)
	if errors.Is(err, whatsapp.ErrNotBuilt) {
		log.Info("this wagate has no WhatsApp Web transport (built with -tags nowhatsapp); whatsapp accounts cannot be linked")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("whatsapp transport: %w", err)
	}
	w.svc = svc
	return w, nil
}

// transport is what the sender gets: the Manager, with StopAccount also
// recording that the account's session is down.
func (w *whatsappWiring) transport() whatsapp.Service { return stoppingService{w.svc, w} }

// stoppingService is the Manager whose StopAccount (account paused or
// deleted, or the sender stopping) stores the account as disconnected: a
// stopped session reports nothing more, and a paused account must not go
// on showing "connected".
type stoppingService struct {
	whatsapp.Service
	w *whatsappWiring
}

func (s stoppingService) StopAccount(ref wagate.AccountRef) {
	s.Service.StopAccount(ref)
	s.w.stopped(ref)
}

// stopped stores a stopped session's account as disconnected, when it was
// connected, reconnecting or linking; the other states stay as they say
// why it cannot send.
func (w *whatsappWiring) stopped(ref wagate.AccountRef) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer w.links.changed(ref)
	a, err := w.db.FindAccount(ctx, ref)
	if err != nil {
		return // deleted, or the store is failing: nothing to show either way
	}
	switch whatsapp.LinkState(a.Link.State) {
	case whatsapp.StateConnected, whatsapp.StateDisconnected, whatsapp.StateLinking:
	default:
		return
	}
	l := wagate.AccountLink{State: string(whatsapp.StateDisconnected), Since: time.Now(),
		Error: "the session is stopped: the account is paused (resume it to reconnect) or wagate was stopping"}
	if err := w.db.SetAccountLink(ctx, ref, l); err != nil && wagate.ErrorCode(err) != wagate.ENOTFOUND {
		w.log.Warn("cannot store the account's link state", zap.String("account", ref.Phone), zap.Error(err))
	}
}

// onLink keeps the account's link state in the store (SPEC §10: the
// account object, /metrics) and tells the link pages watching it. The QR
// code and pairing code are not stored: only the Manager's Status has them.
func (w *whatsappWiring) onLink(ref wagate.AccountRef, l whatsapp.Link) {
	defer w.links.changed(ref)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l.State == whatsapp.StateUnlinked {
		// Start reports "unlinked" for every account without a device, at
		// each boot: an account already stored as needing a link keeps its
		// state and, above all, its since, or a restart would reset the
		// --relink-grace of a logged-out account.
		if a, err := w.db.FindAccount(ctx, ref); err == nil && a.Link.State != "" && a.Link.NeedsLinking() {
			return
		}
	}
	err := w.db.SetAccountLink(ctx, ref, wagate.AccountLink{State: string(l.State), Since: l.Since, Error: l.Error, Until: l.Until})
	if err != nil && wagate.ErrorCode(err) != wagate.ENOTFOUND {
		w.log.Warn("cannot store the account's link state", zap.String("account", ref.Phone), zap.String("state", string(l.State)), zap.Error(err))
	}
}

// onReceipt applies a delivered/read receipt to its message. A receipt
// wagate has no message for (sent before the account was wagate's, or
// retained away) is nothing to worry about.
func (w *whatsappWiring) onReceipt(r whatsapp.Receipt) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := w.db.ApplyDelivery(ctx, r.DeliveryUpdate(), whatsapp.Advance); err != nil && wagate.ErrorCode(err) != wagate.ENOTFOUND {
		w.log.Warn("cannot apply a receipt", zap.String("account", r.Account.Phone), zap.String("status", r.Status), zap.Error(err))
	}
}

// startLinked starts the session of every active whatsapp account before
// the sender recovers interrupted sends, so Confirm can wait for their
// receipts. The sender's StartAccount later finds them running.
func (w *whatsappWiring) startLinked(ctx context.Context) error {
	accts, err := w.db.AllAccounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if a.Transport == wagate.TransportWhatsApp && a.Active {
			w.svc.Start(ctx, a)
		}
	}
	return nil
}

// whatsappRules are the gateway's rules of the transport: the one setting
// "typing", and every recipient (people, groups, @lid) allowed.
var whatsappRules = gateway.TransportRules{
	ValidateSettings: func(settings map[string]string) error {
		for k, v := range settings {
			if k != whatsapp.SettingTyping {
				return wagate.Errorf(wagate.EINVALID, "setting %q: the whatsapp transport knows only %q (\"true\" shows typing… before each send)", k, whatsapp.SettingTyping)
			}
			if v != "true" && v != "false" {
				return wagate.Errorf(wagate.EINVALID, "setting %q is %q: write \"true\" or \"false\"", k, v)
			}
		}
		return nil
	},
}

// linkStateCollector is /metrics' count of whatsapp accounts by link
// state, read from the store at each scrape (the same states the account
// objects show).
type linkStateCollector struct {
	db   Backend
	desc *prometheus.Desc
}

func newLinkStateCollector(db Backend) *linkStateCollector {
	return &linkStateCollector{db: db, desc: prometheus.NewDesc("wagate_whatsapp_accounts",
		"WhatsApp Web (whatsapp transport) accounts by link state (SPEC §10).", []string{"state"}, nil)}
}

func (c *linkStateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *linkStateCollector) Collect(ch chan<- prometheus.Metric) {
	accts, err := c.db.AllAccounts(context.Background())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	counts := map[string]int{}
	for _, s := range []whatsapp.LinkState{whatsapp.StateUnlinked, whatsapp.StateLinking, whatsapp.StateConnected, whatsapp.StateDisconnected,
		whatsapp.StateLoggedOut, whatsapp.StateBanned, whatsapp.StateOutdated, whatsapp.StateError} {
		counts[string(s)] = 0
	}
	for _, a := range accts {
		if a.Transport != wagate.TransportWhatsApp {
			continue
		}
		st := a.Link.State
		if st == "" {
			st = wagate.LinkUnlinked
		}
		counts[st]++
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), st)
	}
}

// linkHub tells the link pages (server-sent events) that an account's
// link state changed: each watcher gets a channel closed at the next
// change.
type linkHub struct {
	mu sync.Mutex
	ch map[wagate.AccountRef]chan struct{}
}

func newLinkHub() *linkHub { return &linkHub{ch: map[wagate.AccountRef]chan struct{}{}} }

// next returns a channel closed at the account's next change.
func (h *linkHub) next(ref wagate.AccountRef) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.ch[ref]
	if c == nil {
		c = make(chan struct{})
		h.ch[ref] = c
	}
	return c
}

func (h *linkHub) changed(ref wagate.AccountRef) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.ch[ref]; c != nil {
		close(c)
		delete(h.ch, ref)
	}
}

var _ gateway.AccountLinker = (*whatsappWiring)(nil)

// Link starts linking the account; see gateway.AccountLinker.
func (w *whatsappWiring) Link(ctx context.Context, acct *wagate.Account, method string) (gateway.LinkStatus, error) {
	l, err := w.svc.Link(ctx, acct, method)
	return linkStatus(l), err
}

// LinkStatus is the account's state with its QR or pairing code.
func (w *whatsappWiring) LinkStatus(ref wagate.AccountRef) gateway.LinkStatus {
	return linkStatus(w.svc.Status(ref))
}

// Unlink logs the account's device out.
func (w *whatsappWiring) Unlink(ctx context.Context, ref wagate.AccountRef) error {
	return w.svc.Unlink(ctx, ref)
}

// LinkChanged is closed at the account's next change of state.
func (w *whatsappWiring) LinkChanged(ref wagate.AccountRef) <-chan struct{} { return w.links.next(ref) }

func linkStatus(l whatsapp.Link) gateway.LinkStatus {
	return gateway.LinkStatus{State: string(l.State), QR: l.QR, Code: l.Code, ExpiresAt: l.ExpiresAt, Error: l.Error}
}

// DefaultRelinkGrace is --relink-grace: a day to link a logged-out phone
// again before its queued messages fail (SPEC §10).
const DefaultRelinkGrace = 24 * time.Hour

// relinkSweepEvery is how often the queues of logged-out accounts are
// looked at: the grace is hours, a minute late is nothing.
const relinkSweepEvery = time.Minute

// sweepUnlinked fails, with a refund, the queued messages of whatsapp
// accounts logged out or unlinked for longer than grace, every interval
// until ctx ends. now is the clock (tests give a fake one).
func sweepUnlinked(ctx context.Context, db Backend, grace, every time.Duration, now func() time.Time, log *zap.Logger) {
	if grace <= 0 {
		grace = DefaultRelinkGrace
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		sweepUnlinkedOnce(ctx, db, now().Add(-grace), log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepUnlinkedOnce is one pass of sweepUnlinked: the queues of accounts
// that need linking since before fail.
func sweepUnlinkedOnce(ctx context.Context, db Backend, before time.Time, log *zap.Logger) int {
	n, err := db.FailUnlinkedQueues(ctx, before)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("cannot fail the queues of accounts not linked again", zap.Error(err))
		}
		return n
	}
	if n > 0 {
		log.Info("failed and refunded the queued messages of whatsapp accounts not linked again within --relink-grace",
			zap.Int("messages", n), zap.Time("logged_out_before", before))
	}
	return n
}
