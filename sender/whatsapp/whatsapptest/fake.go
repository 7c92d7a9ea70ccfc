//go:build !nowhatsapp

// Package whatsapptest is a fake WhatsApp for tests of the real Manager
// (whatsapp.Config.NewClient): it hands out fake clients, one per account,
// that show QR codes, pair, take messages and send the receipts and
// events a test asks for. Nothing here reaches the network.
package whatsapptest

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
)

// WhatsApp is the fake network: its NewClient is whatsapp.Config.NewClient.
type WhatsApp struct {
	mu         sync.Mutex
	clients    map[wagate.AccountRef]*Client
	linking    map[wagate.AccountRef]*Client // the last to ask for QR codes
	connecting map[wagate.AccountRef]*Client // the last to Connect
	sent       map[wagate.AccountRef][]Sent  // what every client of an account took, in order
	pairCode   string
	changed    chan struct{}
}

// DefaultPairCode is the pairing code PairPhone answers unless SetPairCode
// changed it.
const DefaultPairCode = "FAKE-CODE"

// New returns a fake WhatsApp with no clients.
func New() *WhatsApp {
	return &WhatsApp{clients: map[wagate.AccountRef]*Client{}, linking: map[wagate.AccountRef]*Client{},
		connecting: map[wagate.AccountRef]*Client{}, sent: map[wagate.AccountRef][]Sent{},
		pairCode: DefaultPairCode, changed: make(chan struct{})}
}

// SetPairCode sets the pairing code PairPhone answers from now on.
func (w *WhatsApp) SetPairCode(code string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pairCode = code
}

// SentBy returns every message the account's clients took, of every client
// it had (a restarted wagate makes new ones), in order: a message handed
// over twice shows twice.
func (w *WhatsApp) SentBy(ref wagate.AccountRef) []Sent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Sent(nil), w.sent[ref]...)
}

func (w *WhatsApp) took(ref wagate.AccountRef, s Sent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent[ref] = append(w.sent[ref], s)
}

// NewClient makes the account's client (the Manager calls it at Start and
// Link); the newest one is what Client returns. A linked client is logged in.
func (w *WhatsApp) NewClient(ref wagate.AccountRef, linked bool) whatsapp.Client {
	c := &Client{w: w, ref: ref, handlers: map[uint32]whatsmeow.EventHandler{}, loggedIn: linked, qr: make(chan whatsmeow.QRChannelItem, 16)}
	w.note(w.clients, ref, c)
	return c
}

// note records c in m and wakes the waiters.
func (w *WhatsApp) note(m map[wagate.AccountRef]*Client, ref wagate.AccountRef, c *Client) {
	w.mu.Lock()
	m[ref] = c
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// await waits for a client of ref in m that is not old; nil when ctx ends.
func (w *WhatsApp) await(ctx context.Context, m map[wagate.AccountRef]*Client, ref wagate.AccountRef, old *Client) *Client {
	for {
		w.mu.Lock()
		c, ch := m[ref], w.changed
		w.mu.Unlock()
		if c != nil && c != old {
			return c
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

// Linking waits for the client of ref that asks for QR codes (the one a
// Link made: Start makes clients too, for unlinked accounts); nil when ctx
// ends first.
func (w *WhatsApp) Linking(ctx context.Context, ref wagate.AccountRef) *Client {
	return w.await(ctx, w.linking, ref, nil)
}

// LinkingAfter waits for a client of ref that asks for QR codes other
// than old: the one of a new Link that replaced old's linking.
func (w *WhatsApp) LinkingAfter(ctx context.Context, ref wagate.AccountRef, old *Client) *Client {
	return w.await(ctx, w.linking, ref, old)
}

// Connecting waits for a client of ref other than old to call Connect (its
// session's event handler is in place then); nil when ctx ends first.
func (w *WhatsApp) Connecting(ctx context.Context, ref wagate.AccountRef, old *Client) *Client {
	return w.await(ctx, w.connecting, ref, old)
}

// Sent is one message a client took.
type Sent struct {
	To      types.JID
	Message *waE2E.Message
	ID      string
}

// Client is one fake device. Its zero value is not usable: get it from
// WhatsApp.NewClient.
type Client struct {
	w         *WhatsApp
	ref       wagate.AccountRef
	mu        sync.Mutex
	handlers  map[uint32]whatsmeow.EventHandler
	nextID    uint32
	connected bool
	loggedIn  bool
	qr        chan whatsmeow.QRChannelItem
	sent      []Sent
	// hold, when set, makes SendMessage keep the message (recorded in
	// Sent) and wait for an ack that never comes until release is closed
	// or its context ends.
	hold    bool
	took    chan struct{}
	release chan struct{}
	// lookups, when set, holds IsOnWhatsApp the same way (HoldLookups).
	lookups *holdPoint
	// pairPhones are the numbers PairPhone was asked for.
	pairPhones []string
}

// holdPoint is a call that waits: took is closed when the first call
// arrives, release ends every wait.
type holdPoint struct {
	took    chan struct{}
	release chan struct{}
}

func newHoldPoint() (*holdPoint, func()) {
	h := &holdPoint{took: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	return h, func() { once.Do(func() { close(h.release) }) }
}

// wait marks the call taken and waits for the release or ctx; false when
// ctx ended first.
func (h *holdPoint) wait(ctx context.Context) bool {
	select {
	case <-h.took:
	default:
		close(h.took)
	}
	select {
	case <-h.release:
		return true
	case <-ctx.Done():
		return false
	}
}

var _ whatsapp.Client = (*Client)(nil)

func (c *Client) Connect() error {
	c.mu.Lock()
	c.connected = true
	c.mu.Unlock()
	c.w.note(c.w.connecting, c.ref, c)
	return nil
}

func (c *Client) Disconnect() { c.mu.Lock(); c.connected = false; c.mu.Unlock() }

func (c *Client) Logout(context.Context) error {
	c.mu.Lock()
	c.loggedIn = false
	c.mu.Unlock()
	return nil
}

func (c *Client) IsConnected() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.connected }
func (c *Client) IsLoggedIn() bool  { c.mu.Lock(); defer c.mu.Unlock(); return c.loggedIn }

func (c *Client) GetQRChannel(context.Context) (<-chan whatsmeow.QRChannelItem, error) {
	c.w.note(c.w.linking, c.ref, c)
	return c.qr, nil
}

// PairPhone answers the WhatsApp's pairing code (SetPairCode) and keeps
// the number it was asked for (PairPhones).
func (c *Client) PairPhone(_ context.Context, phone string, _ bool, _ whatsmeow.PairClientType, _ string) (string, error) {
	c.mu.Lock()
	c.pairPhones = append(c.pairPhones, phone)
	c.mu.Unlock()
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	return c.w.pairCode, nil
}

// PairPhones returns the numbers PairPhone was asked for.
func (c *Client) PairPhones() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.pairPhones...)
}

// HoldLookups makes the next IsOnWhatsApp calls wait until release (then
// they answer) or until their context ends: the moment of a send before
// anything was handed over. took is closed when the first one waits.
func (c *Client) HoldLookups() (took <-chan struct{}, release func()) {
	h, rel := newHoldPoint()
	c.mu.Lock()
	c.lookups = h
	c.mu.Unlock()
	return h.took, rel
}

// IsOnWhatsApp says every number is on WhatsApp.
func (c *Client) IsOnWhatsApp(ctx context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error) {
	c.mu.Lock()
	h := c.lookups
	c.mu.Unlock()
	if h != nil && !h.wait(ctx) {
		return nil, ctx.Err()
	}
	out := make([]types.IsOnWhatsAppResponse, 0, len(phones))
	for _, p := range phones {
		d := p
		if len(d) > 0 && d[0] == '+' {
			d = d[1:]
		}
		out = append(out, types.IsOnWhatsAppResponse{Query: p, IsIn: true, JID: types.NewJID(d, types.DefaultUserServer)})
	}
	return out, nil
}

// SendMessage takes the message under the id wagate chose; without one
// it refuses, as wagate must always choose it.
func (c *Client) SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	if len(extra) != 1 || extra[0].ID == "" {
		return whatsmeow.SendResponse{}, errors.New("whatsapptest: SendMessage without an explicit id")
	}
	c.mu.Lock()
	if !c.connected {
		c.mu.Unlock()
		return whatsmeow.SendResponse{}, whatsmeow.ErrNotConnected
	}
	c.sent = append(c.sent, Sent{To: to, Message: msg, ID: extra[0].ID})
	hold, took, release := c.hold, c.took, c.release
	c.mu.Unlock()
	c.w.took(c.ref, Sent{To: to, Message: msg, ID: extra[0].ID})
	if hold {
		select {
		case <-took:
		default:
			close(took)
		}
		select { // the ack never comes
		case <-release:
			return whatsmeow.SendResponse{}, whatsmeow.ErrMessageTimedOut
		case <-ctx.Done():
			return whatsmeow.SendResponse{}, ctx.Err()
		}
	}
	return whatsmeow.SendResponse{ID: extra[0].ID, Timestamp: time.Now()}, nil
}

// HoldAcks makes the next SendMessage calls take their message and then
// wait for an ack that never comes (what a crash between the hand-over
// and the ack looks like); took is closed when the first such message is
// taken, and release ends the waits (as an ack timeout).
func (c *Client) HoldAcks() (took <-chan struct{}, release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = true
	c.took = make(chan struct{})
	rel := make(chan struct{})
	c.release = rel
	var once sync.Once
	return c.took, func() { once.Do(func() { close(rel) }) }
}

func (c *Client) Upload(_ context.Context, data []byte, _ whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	return whatsmeow.UploadResponse{URL: "https://mmg.example/x", DirectPath: "/x", MediaKey: []byte{1}, FileEncSHA256: []byte{2}, FileSHA256: []byte{3}, FileLength: uint64(len(data))}, nil
}

func (c *Client) SendChatPresence(context.Context, types.JID, types.ChatPresence, types.ChatPresenceMedia) error {
	return nil
}

func (c *Client) AddEventHandler(h whatsmeow.EventHandler) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	c.handlers[c.nextID] = h
	return c.nextID
}

func (c *Client) RemoveEventHandler(id uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.handlers[id]
	delete(c.handlers, id)
	return ok
}

// Emit delivers evt to the handlers in the order they were added, as
// whatsmeow's event goroutine does.
func (c *Client) Emit(evt any) {
	c.mu.Lock()
	ids := make([]uint32, 0, len(c.handlers))
	for id := range c.handlers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	hs := make([]whatsmeow.EventHandler, 0, len(ids))
	for _, id := range ids {
		hs = append(hs, c.handlers[id])
	}
	c.mu.Unlock()
	for _, h := range hs {
		h(evt)
	}
}

// ShowQR sends a QR code to the linking session, as WhatsApp does after
// Connect of an unpaired device.
func (c *Client) ShowQR(code string) {
	c.qr <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: code, Timeout: time.Minute}
}

// Pair completes the linking as if the phone phone (E.164) scanned the
// code: the device is logged in, PairSuccess is emitted and the QR
// channel says success.
func (c *Client) Pair(phone string) {
	c.mu.Lock()
	c.loggedIn = true
	c.mu.Unlock()
	user := phone
	if len(user) > 0 && user[0] == '+' {
		user = user[1:]
	}
	c.Emit(&events.PairSuccess{ID: types.NewADJID(user, 0, 1)})
	c.qr <- whatsmeow.QRChannelSuccess
}

// Connected tells the session the connection is up.
func (c *Client) Connected() { c.Emit(&events.Connected{}) }

// Receipt sends a delivered (or read) receipt of the message id.
func (c *Client) Receipt(id string, typ types.ReceiptType) {
	c.Emit(&events.Receipt{MessageIDs: []types.MessageID{id}, Type: typ, Timestamp: time.Now()})
}

// LogOut tells the session the device was removed on the phone.
func (c *Client) LogOut() {
	c.mu.Lock()
	c.loggedIn = false
	c.mu.Unlock()
	c.Emit(&events.LoggedOut{Reason: events.ConnectFailureLoggedOut})
}

// Sent returns the messages the client took so far.
func (c *Client) Sent() []Sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Sent(nil), c.sent...)
}
