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
	"github.com/wagate/wagate/store/postgres"
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

	// put holds the accounts whose link code this replica put in the
	// database (linkCodes), to delete when their linking ends, with the
	// time the state of the last code put was set.
	mu  sync.Mutex
	put map[wagate.AccountRef]time.Time

	// bell rings at each notification of link requests (linkany.go).
	bell linkBell
}

// openWhatsApp opens the transport on the data folder; nil (and a log
// line) in a build without it.
func openWhatsApp(ctx context.Context, cfg Config, db Backend, log *zap.Logger) (*whatsappWiring, error) {
	w := &whatsappWiring{db: db, log: log.Named("whatsapp"), links: newLinkHub(), put: map[wagate.AccountRef]time.Time{}}
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

// leaseHolder is the side of a backend that replicas share (postgres.DB)
// that the transport needs: with replicas, a whatsapp account's session
// runs only on the replica holding the account's lease (the sender starts
// and stops it with the lease), so two replicas never connect one device.
type leaseHolder interface {
	// ClaimLease claims the account's lease for this replica, or answers
	// ECONFLICT naming the replica that holds it.
	ClaimLease(ctx context.Context, ref wagate.AccountRef) error
	// HoldsLease reports whether this replica holds the account's lease.
	HoldsLease(ref wagate.AccountRef) bool
}

// leases is the backend's leaseHolder; nil for one process (bbolt).
func (w *whatsappWiring) leases() leaseHolder {
	if l, ok := w.db.(leaseHolder); ok {
		return l
	}
	return nil
}

// ours reports whether a session's report about the account may be
// stored: always with one process; with replicas only while this replica
// holds the account's lease, so a session caught in a takeover (replaced
// by the new holder's connection, or stopped when the lease was found
// lost) does not overwrite what the new holder's session reports.
func (w *whatsappWiring) ours(ref wagate.AccountRef) bool {
	l := w.leases()
	return l == nil || l.HoldsLease(ref)
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
	if !w.ours(ref) {
		return // the lease moved: the new holder's session reports the state
	}
	a, err := w.db.FindAccount(ctx, ref)
	if err != nil {
		return // deleted, or the store is failing: nothing to show either way
	}
	switch whatsapp.LinkState(a.Link.State) {
	case whatsapp.StateConnected, whatsapp.StateDisconnected, whatsapp.StateLinking:
	default:
		return
	}
	defer w.deleteLinkCode(ctx, ref, time.Time{})
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
	if !w.ours(ref) {
		w.log.Info("a session of an account whose lease moved to another replica reported a link state; not stored",
			zap.String("account", ref.Phone), zap.String("state", string(l.State)))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The code first, the state after: a replica that reads "linking"
	// finds its code.
	if l.State == whatsapp.StateLinking && (l.QR != "" || l.Code != "") {
		w.putLinkCode(ctx, ref, l)
	} else {
		// A relink stops the old session and starts a new one at once:
		// the old one's last report may come after the new one put its
		// code; a state set before that code leaves it in place.
		defer w.deleteLinkCode(ctx, ref, l.Since)
	}
	if l.State == whatsapp.StateUnlinked {
		// Start reports "unlinked" for every account without a device, at
		// each boot: an account already stored as needing a link keeps its
		// state and, above all, its since, or a restart would reset the
		// --relink-grace of a logged-out account.
		if a, err := w.db.FindAccount(ctx, ref); err == nil && a.Link.State != "" && a.Link.NeedsLinking() {
			return
		}
	}
	// The error quotes WhatsApp (a reason, a phone that linked): kept as
	// every backend can store it, or a NUL would drop the write on
	// PostgreSQL.
	err := w.db.SetAccountLink(ctx, ref, wagate.AccountLink{State: string(l.State), Since: l.Since, Error: wagate.StorableText(l.Error), Until: l.Until})
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
// receipts. The sender's StartAccount later finds them running. With
// replicas it starts none: the sender starts each session when this
// replica claims the account's lease (and recovers per account, without
// Confirm).
func (w *whatsappWiring) startLinked(ctx context.Context) error {
	if w.leases() != nil {
		return nil
	}
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

// Link starts linking the account; see gateway.AccountLinker. With
// replicas, this replica claims the account's lease first, so the linking
// session runs where the account's session will (the sender takes the
// account over at its next lease round and finds the session running);
// when another replica holds it, that replica links it (linkany.go).
func (w *whatsappWiring) Link(ctx context.Context, acct *wagate.Account, method string) (gateway.LinkStatus, error) {
	if l := w.leases(); l != nil {
		if err := l.ClaimLease(ctx, acct.Ref()); err != nil {
			if wagate.ErrorCode(err) == wagate.ECONFLICT && w.requests() != nil {
				return w.linkElsewhere(ctx, acct, method)
			}
			return gateway.LinkStatus{}, err
		}
	}
	l, err := w.svc.Link(ctx, acct, method)
	return linkStatus(l), err
}

// LinkStatus is the account's state with its QR or pairing code. With
// replicas, a replica that does not hold the account's lease runs no
// session of it and knows only what the store says (the holder keeps it
// there): that state, without a QR or pairing code, which only the
// holder's memory has.
func (w *whatsappWiring) LinkStatus(ref wagate.AccountRef) gateway.LinkStatus {
	if !w.ours(ref) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if a, err := w.db.FindAccount(ctx, ref); err == nil {
			st := a.Link.State
			if st == "" {
				st = string(whatsapp.StateUnlinked)
			}
			ls := gateway.LinkStatus{State: st, Error: a.Link.Error}
			// The holder puts a code before it stores "linking", and stores
			// its session's reports after it has answered the request: a
			// live code beside a state that still says "needs a link" is a
			// linking that started a moment ago.
			if codes := w.codes(); codes != nil && (st == string(whatsapp.StateLinking) || a.Link.NeedsLinking()) {
				if c, err := codes.FindLinkCode(ctx, ref); err == nil {
					ls.State, ls.Error = string(whatsapp.StateLinking), ""
					ls.QR, ls.Code, ls.ExpiresAt = c.QR, c.Code, c.ExpiresAt
				}
			}
			return ls
		}
	}
	return linkStatus(w.svc.Status(ref))
}

// Unlink logs the account's device out. With replicas, only the replica
// holding the account's lease does (it claims it when free): logging out
// from another one would connect the device a second time. Another
// replica hands the request to the holder (linkany.go).
func (w *whatsappWiring) Unlink(ctx context.Context, ref wagate.AccountRef) error {
	if l := w.leases(); l != nil {
		if err := l.ClaimLease(ctx, ref); err != nil {
			if wagate.ErrorCode(err) != wagate.ECONFLICT || w.requests() == nil {
				return err
			}
			claimed, _, err := w.forward(ctx, ref, postgres.LinkActionUnlink)
			if err != nil || !claimed {
				return err
			}
		}
	}
	return w.svc.Unlink(ctx, ref)
}

// LinkChanged is closed at the account's next change of state. On a
// replica that does not hold the account's session, no change is heard
// here: the state in the database is polled instead (linkPollEvery).
func (w *whatsappWiring) LinkChanged(ref wagate.AccountRef) <-chan struct{} {
	if w.ours(ref) || w.codes() == nil {
		return w.links.next(ref)
	}
	return w.pollLink(ref)
}

// linkPollEvery is how often a link page served by a replica that does
// not hold the account's session reads the state and code again; at most
// linkPollFor after it began, the page is woken anyway (it reads and asks
// again), so a poll never outlives its page by long.
const (
	linkPollEvery = 500 * time.Millisecond
	linkPollFor   = time.Minute
)

// pollLink returns a channel closed when ref's link status (as LinkStatus
// reads it on this replica) differs from now's, or this replica took the
// session, or linkPollFor passed.
func (w *whatsappWiring) pollLink(ref wagate.AccountRef) <-chan struct{} {
	ch := make(chan struct{})
	was := w.LinkStatus(ref)
	go func() {
		defer close(ch)
		t := time.NewTicker(linkPollEvery)
		defer t.Stop()
		end := time.After(linkPollFor)
		for {
			select {
			case <-end:
				return
			case <-t.C:
			}
			if w.ours(ref) || w.LinkStatus(ref) != was {
				return
			}
		}
	}()
	return ch
}

// linkCodes is the side of a backend that replicas share (postgres.DB)
// through which the link page works on every replica: the replica linking
// an account puts its QR code or pairing code there, the others read it.
type linkCodes interface {
	PutLinkCode(ctx context.Context, ref wagate.AccountRef, c postgres.LinkCode) error
	DeleteLinkCode(ctx context.Context, ref wagate.AccountRef) error
	FindLinkCode(ctx context.Context, ref wagate.AccountRef) (postgres.LinkCode, error)
}

// codes is the backend's linkCodes; nil for one process (bbolt).
func (w *whatsappWiring) codes() linkCodes {
	if c, ok := w.db.(linkCodes); ok {
		return c
	}
	return nil
}

// putLinkCode puts the code of l (linking) for the other replicas. A
// failure is logged without the code: the page on this replica still
// shows it.
func (w *whatsappWiring) putLinkCode(ctx context.Context, ref wagate.AccountRef, l whatsapp.Link) {
	codes := w.codes()
	if codes == nil {
		return
	}
	w.mu.Lock()
	w.put[ref] = l.Since
	w.mu.Unlock()
	if err := codes.PutLinkCode(ctx, ref, postgres.LinkCode{QR: wagate.StorableText(l.QR), Code: wagate.StorableText(l.Code), ExpiresAt: l.ExpiresAt}); err != nil {
		w.log.Warn("cannot share the account's link code with the other replicas; its link page shows it only on this replica",
			zap.String("account", ref.Phone), zap.Error(err))
	}
}

// deleteLinkCode deletes the code this replica put for ref, if any:
// linking ended, by a state set at since (zero: the session stopped). A
// state set before the last code was put is a stopped session's late
// report, and the code of the linking that replaced it stays.
func (w *whatsappWiring) deleteLinkCode(ctx context.Context, ref wagate.AccountRef, since time.Time) {
	codes := w.codes()
	w.mu.Lock()
	put, ok := w.put[ref]
	stale := ok && !since.IsZero() && since.Before(put)
	if !stale {
		delete(w.put, ref)
	}
	w.mu.Unlock()
	if codes == nil || !ok || stale {
		return
	}
	if err := codes.DeleteLinkCode(ctx, ref); err != nil {
		w.log.Warn("cannot delete the account's link code; it expires by itself", zap.String("account", ref.Phone), zap.Error(err))
	}
}

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
