//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
)

// fakeClient plays WhatsApp for one device: tests set what its calls
// answer and emit the events WhatsApp would.
type fakeClient struct {
	mu         sync.Mutex
	handlers   map[uint32]whatsmeow.EventHandler
	nextID     uint32
	connected  bool
	loggedIn   bool
	connectErr []error // answers of the next Connect calls; nil afterwards
	connects   []time.Time
	qr         chan whatsmeow.QRChannelItem
	pairCode   string
	pairPhones []string
	onWA       map[string]bool // digits → on WhatsApp
	isOnCalls  int
	isOnErr    error
	sendErr    func(id string) error
	sent       []sentMessage
	uploadFn   func(data []byte, mt whatsmeow.MediaType) (whatsmeow.UploadResponse, error)
	presence   []types.ChatPresence
	logouts    int
}

type sentMessage struct {
	to  types.JID
	msg *waE2E.Message
	id  string
}

var _ Client = (*fakeClient)(nil)

func newFakeClient(loggedIn bool) *fakeClient {
	return &fakeClient{handlers: map[uint32]whatsmeow.EventHandler{}, loggedIn: loggedIn, onWA: map[string]bool{}}
}

func (f *fakeClient) Connect() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects = append(f.connects, time.Now())
	if len(f.connectErr) > 0 {
		err := f.connectErr[0]
		f.connectErr = f.connectErr[1:]
		if err != nil {
			return err
		}
	}
	f.connected = true
	return nil
}

func (f *fakeClient) Disconnect() {
	f.mu.Lock()
	f.connected = false
	f.mu.Unlock()
}

func (f *fakeClient) Logout(context.Context) error {
	f.mu.Lock()
	f.logouts++
	f.loggedIn = false
	f.mu.Unlock()
	return nil
}

func (f *fakeClient) IsConnected() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.connected }
func (f *fakeClient) IsLoggedIn() bool  { f.mu.Lock(); defer f.mu.Unlock(); return f.loggedIn }

func (f *fakeClient) GetQRChannel(context.Context) (<-chan whatsmeow.QRChannelItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.qr == nil {
		f.qr = make(chan whatsmeow.QRChannelItem, 8)
	}
	return f.qr, nil
}

func (f *fakeClient) PairPhone(_ context.Context, phone string, _ bool, _ whatsmeow.PairClientType, _ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pairPhones = append(f.pairPhones, phone)
	return f.pairCode, nil
}

func (f *fakeClient) IsOnWhatsApp(_ context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.isOnCalls++
	if f.isOnErr != nil {
		return nil, f.isOnErr
	}
	var out []types.IsOnWhatsAppResponse
	for _, p := range phones {
		d := p[1:]
		r := types.IsOnWhatsAppResponse{Query: p, IsIn: f.onWA[d]}
		if r.IsIn {
			r.JID = types.NewJID(d, types.DefaultUserServer)
		}
		out = append(out, r)
	}
	return out, nil
}

func (f *fakeClient) SendMessage(_ context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(extra) != 1 || extra[0].ID == "" {
		return whatsmeow.SendResponse{}, errors.New("fake: SendMessage without an explicit id")
	}
	id := extra[0].ID
	if !f.connected {
		return whatsmeow.SendResponse{}, whatsmeow.ErrNotConnected
	}
	if f.sendErr != nil {
		if err := f.sendErr(id); err != nil {
			return whatsmeow.SendResponse{}, err
		}
	}
	f.sent = append(f.sent, sentMessage{to: to, msg: msg, id: id})
	return whatsmeow.SendResponse{ID: id, Timestamp: time.Now()}, nil
}

func (f *fakeClient) Upload(_ context.Context, data []byte, mt whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	if f.uploadFn != nil {
		return f.uploadFn(data, mt)
	}
	return whatsmeow.UploadResponse{URL: "https://mmg.example/x", DirectPath: "/x", MediaKey: []byte{1}, FileEncSHA256: []byte{2}, FileSHA256: []byte{3}, FileLength: uint64(len(data))}, nil
}

func (f *fakeClient) SendChatPresence(_ context.Context, _ types.JID, state types.ChatPresence, _ types.ChatPresenceMedia) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.presence = append(f.presence, state)
	return nil
}

func (f *fakeClient) AddEventHandler(h whatsmeow.EventHandler) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.handlers[f.nextID] = h
	return f.nextID
}

func (f *fakeClient) RemoveEventHandler(id uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.handlers[id]
	delete(f.handlers, id)
	return ok
}

// emit delivers evt to the handlers in the order they were added, as
// whatsmeow's event goroutine does.
func (f *fakeClient) emit(evt any) {
	f.mu.Lock()
	ids := make([]uint32, 0, len(f.handlers))
	for id := range f.handlers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	hs := make([]whatsmeow.EventHandler, 0, len(ids))
	for _, id := range ids {
		hs = append(hs, f.handlers[id])
	}
	f.mu.Unlock()
	for _, h := range hs {
		h(evt)
	}
}

func (f *fakeClient) sentMessages() []sentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentMessage(nil), f.sent...)
}

// fakeDevices hands out fake clients: the linked one of each account, or a
// new unlinked one (kept in fresh, for the test to drive).
type fakeDevices struct {
	mu      sync.Mutex
	linked  map[wagate.AccountRef]*fakeClient
	fresh   map[wagate.AccountRef]*fakeClient
	pairs   map[wagate.AccountRef]types.JID
	forgets int
	// beforeForget, when set, is called as forget begins (a test holds
	// a relink there, between its stop of the old session and its spawn).
	beforeForget func()
}

func newFakeDevices() *fakeDevices {
	return &fakeDevices{linked: map[wagate.AccountRef]*fakeClient{}, fresh: map[wagate.AccountRef]*fakeClient{}, pairs: map[wagate.AccountRef]types.JID{}}
}

func (d *fakeDevices) client(_ context.Context, ref wagate.AccountRef) (Client, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.linked[ref]; ok {
		return c, true, nil
	}
	c, ok := d.fresh[ref]
	if !ok {
		c = newFakeClient(false)
		d.fresh[ref] = c
	}
	return c, false, nil
}

func (d *fakeDevices) paired(_ context.Context, ref wagate.AccountRef, jid types.JID) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pairs[ref] = jid
	return nil
}

func (d *fakeDevices) forget(_ context.Context, ref wagate.AccountRef) error {
	d.mu.Lock()
	hook := d.beforeForget
	d.mu.Unlock()
	if hook != nil {
		hook()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgets++
	delete(d.linked, ref)
	return nil
}

// memLedger is the ledger in memory (the SQLite one is tested on a file).
type memLedger struct {
	mu sync.Mutex
	m  map[string]string
}

func newMemLedger() *memLedger { return &memLedger{m: map[string]string{}} }

func (l *memLedger) key(ref wagate.AccountRef, id string) string {
	return ref.WorkspaceID + "|" + ref.Phone + "|" + id
}

func (l *memLedger) posting(ctx context.Context, ref wagate.AccountRef, id string, at time.Time) error {
	return l.seen(ctx, ref, id, ledgerPosting, at)
}

func (l *memLedger) seen(_ context.Context, ref wagate.AccountRef, id, kind string, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ledgerRank[kind] > ledgerRank[l.m[l.key(ref, id)]] {
		l.m[l.key(ref, id)] = kind
	}
	return nil
}

func (l *memLedger) lookup(_ context.Context, ref wagate.AccountRef, id string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[l.key(ref, id)], nil
}

// linkRecorder collects the states OnLink reports.
type linkRecorder struct {
	mu    sync.Mutex
	links []Link
	ch    chan Link
}

func newLinkRecorder() *linkRecorder { return &linkRecorder{ch: make(chan Link, 256)} }

func (r *linkRecorder) on(_ wagate.AccountRef, l Link) {
	r.mu.Lock()
	r.links = append(r.links, l)
	r.mu.Unlock()
	select {
	case r.ch <- l:
	default:
	}
}

// waitState reads reported states until one in state st; it fails the
// test when the session reports nothing more (the channel is only read
// after the manager acted, so a missing state shows as a deadlock in
// synctest or as the test's timeout).
func (r *linkRecorder) waitState(t *testing.T, st LinkState) Link {
	t.Helper()
	for l := range r.ch {
		if l.State == st {
			return l
		}
	}
	t.Fatalf("no %s state", st)
	return Link{}
}

var testRef = wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550001"}

func testAccount() *wagate.Account {
	return &wagate.Account{WorkspaceID: testRef.WorkspaceID, Phone: testRef.Phone, Transport: TransportName, Active: true, Settings: map[string]string{}}
}

type harness struct {
	m   *Manager
	dev *fakeDevices
	led *memLedger
	rec *linkRecorder
	cli *fakeClient // the linked client of testRef
	now func() time.Time
	rcp chan Receipt
}

// newHarness returns a manager on fakes whose testRef is linked, started
// and connected (unless connected is false: then it is started and waits
// for the test to emit Connected).
func newHarness(t *testing.T, cfg Config, connected bool) *harness {
	t.Helper()
	h := &harness{dev: newFakeDevices(), led: newMemLedger(), rec: newLinkRecorder(), rcp: make(chan Receipt, 64)}
	h.cli = newFakeClient(true)
	h.dev.linked[testRef] = h.cli
	cfg.Logger = zaptest.NewLogger(t)
	cfg.OnLink = h.rec.on
	cfg.OnReceipt = func(r Receipt) { h.rcp <- r }
	h.m = newManager(cfg, h.dev, h.led)
	h.now = h.m.cfg.Now
	t.Cleanup(func() { _ = h.m.Close() })
	h.m.Start(context.Background(), testAccount())
	if connected {
		h.connect(t)
	}
	return h
}

// connect emits Connected once the session has called Connect (call it
// inside a synctest bubble).
func (h *harness) connect(t *testing.T) {
	t.Helper()
	synctest.Wait()
	h.cli.emit(&events.Connected{})
	h.rec.waitState(t, StateConnected)
}

// fakeStats is a copy of what a fakeClient saw, read under its lock.
type fakeStats struct {
	connects   []time.Time
	logouts    int
	pairPhones []string
	handlers   int
	presence   []types.ChatPresence
	isOnCalls  int
}

func (f *fakeClient) stats() fakeStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeStats{
		connects: append([]time.Time(nil), f.connects...), logouts: f.logouts,
		pairPhones: append([]string(nil), f.pairPhones...), handlers: len(f.handlers),
		presence: append([]types.ChatPresence(nil), f.presence...), isOnCalls: f.isOnCalls,
	}
}

func (f *fakeClient) setLoggedIn(v bool) { f.mu.Lock(); f.loggedIn = v; f.mu.Unlock() }

func (d *fakeDevices) forgetCount() int { d.mu.Lock(); defer d.mu.Unlock(); return d.forgets }

func (d *fakeDevices) pairedJID(ref wagate.AccountRef) (types.JID, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	j, ok := d.pairs[ref]
	return j, ok
}
