package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// Phones and recipients of the fixtures.
const (
	phone1 = "+14155552671"
	phone2 = "+447911123456"
	jidA   = "14155550100@s.whatsapp.net"
	jidB   = "4915112345678@s.whatsapp.net"
	group  = "120363025246125486@g.us"
)

// ids hands out message ids for every behaviour: ids grow with time and
// never repeat within the test binary.
var ids = wagate.NewMessageIDs(rand.Reader)

// wantCode fails t unless err carries the domain code (a *wagate.Error in
// its chain); "" wants no error.
func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := wagate.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// must fails t on an error.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// sameTime fails t unless got and want are the same instant.
func sameTime(t *testing.T, got, want time.Time, what string) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func newToken(t *testing.T) string {
	t.Helper()
	tok, err := wagate.NewToken(rand.Reader)
	must(t, err, "NewToken")
	return tok
}

// tenant is a workspace made by newWorkspace with the owner token it was
// created with.
type tenant struct {
	*wagate.Workspace
	owner     string // the owner token itself
	ownerHash [32]byte
}

// newWorkspace creates a workspace with credits, an enabled inbound URL and
// its first owner token.
func newWorkspace(t *testing.T, ctx context.Context, s wagate.WorkspaceService, credits int64) *tenant {
	t.Helper()
	id, err := wagate.NewWorkspaceID(rand.Reader)
	must(t, err, "NewWorkspaceID")
	owner := newToken(t)
	ws := &wagate.Workspace{ID: id, Name: "Acme " + id, Credits: credits, Webhook: wagate.Webhook{Token: newToken(t), Enabled: true}}
	tok := &wagate.Token{Hash: wagate.HashToken(owner), WorkspaceID: id, Role: wagate.RoleOwner, Name: "first", Prefix: owner[:wagate.TokenPrefixLen]}
	must(t, s.CreateWorkspace(ctx, ws, tok), "CreateWorkspace")
	return &tenant{Workspace: ws, owner: owner, ownerHash: tok.Hash}
}

// balance reads a workspace's credit balance.
func balance(t *testing.T, ctx context.Context, s wagate.WorkspaceService, id string) int64 {
	t.Helper()
	ws, err := s.FindWorkspace(ctx, id)
	must(t, err, "FindWorkspace")
	return ws.Credits
}

// accountWorld is a fixture of an AccountStore with one workspace and one
// active dryrun account, phone1.
type accountWorld[S AccountStore] struct {
	*fixture[S]
	ws *tenant
}

func newAccountWorld[S AccountStore](f *fixture[S], credits int64) *accountWorld[S] {
	f.t.Helper()
	w := &accountWorld[S]{fixture: f, ws: newWorkspace(f.t, f.ctx, f.s, credits)}
	w.account(w.ws.ID, phone1, true)
	return w
}

func (w *accountWorld[S]) account(wsID, phone string, active bool) *wagate.Account {
	w.t.Helper()
	a := &wagate.Account{WorkspaceID: wsID, Phone: phone, Transport: wagate.TransportDryrun, Active: active,
		ConnectedAt: w.clock.Now(), Settings: map[string]string{"phone_number_id": "pn-" + strings.TrimPrefix(phone, "+")}}
	must(w.t, w.s.CreateAccount(w.ctx, a), "CreateAccount "+phone)
	return a
}

// ref is the queue of phone1.
func (w *accountWorld[S]) ref() wagate.AccountRef {
	return wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone1}
}

// messageWorld is a fixture of a MessageStore with one workspace and one
// active dryrun account, phone1; it checks at the end that credits add up.
type messageWorld[S MessageStore] struct {
	*accountWorld[S]
}

func newMessageWorld[S MessageStore](f *fixture[S], credits int64) *messageWorld[S] {
	f.t.Helper()
	w := &messageWorld[S]{newAccountWorld(f, credits)}
	f.checks = append(f.checks, func() { w.creditsAddUp(w.ws.ID) })
	return w
}

// world is a fixture of a complete Store with one workspace of 100 credits
// and one active dryrun account, phone1.
type world[S Store] struct {
	*messageWorld[S]
}

func newWorld[S Store](f *fixture[S], credits int64) *world[S] {
	f.t.Helper()
	return &world[S]{newMessageWorld(f, credits)}
}

// send is one Accept of the world's workspace from phone1 to jid, costing
// credits; opts change it before it is committed.
func (w *messageWorld[S]) send(jid string, credits int64, opts ...func(*wagate.Accept)) (*wagate.AcceptResult, *wagate.Accept, error) {
	w.t.Helper()
	now := w.clock.Now()
	id, err := ids.Next(now)
	must(w.t, err, "message id")
	body := fmt.Sprintf(`{"jid":%q,"text":"hello %s"}`, jid, id)
	a := &wagate.Accept{
		WorkspaceID:  w.ws.ID,
		InboundToken: w.ws.Webhook.Token,
		BodyHash:     sha256.Sum256([]byte(body)),
		Message: &wagate.Message{ID: id, AccountPhone: phone1, JID: jid, Text: "hello " + id,
			Credits: credits, CreatedAt: now},
		Attempt: &wagate.Attempt{At: now, RequestID: "req-" + id, ContentType: "application/json", Body: body},
	}
	for _, o := range opts {
		o(a)
	}
	res, err := w.s.Accept(w.ctx, a)
	return res, a, err
}

// queued is send that must succeed; it returns the stored message.
func (w *messageWorld[S]) queued(jid string, credits int64, opts ...func(*wagate.Accept)) *wagate.Message {
	w.t.Helper()
	res, _, err := w.send(jid, credits, opts...)
	must(w.t, err, "Accept")
	return res.Message
}

// message reads a message of the world's workspace.
func (w *messageWorld[S]) message(id string) *wagate.Message {
	w.t.Helper()
	m, err := w.s.FindMessage(w.ctx, w.ws.ID, id)
	must(w.t, err, "FindMessage")
	return m
}

func (w *messageWorld[S]) balance() int64 {
	w.t.Helper()
	return balance(w.t, w.ctx, w.s, w.ws.ID)
}

// next is Queue.Next at the clock's time, returning the ids in order.
func (w *world[S]) next(n int) ([]string, time.Time) {
	w.t.Helper()
	msgs, due, err := w.s.Next(w.ctx, w.ref(), w.clock.Now(), n)
	must(w.t, err, "Next")
	return msgIDs(msgs), due
}

func msgIDs(msgs []*wagate.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// creditsAddUp checks the credit rule of SPEC §6 through the interfaces:
// what was granted is the balance plus what the queued, sending and sent
// messages hold; failed messages were refunded.
func (w *messageWorld[S]) creditsAddUp(wsID string) {
	w.t.Helper()
	ws, err := w.s.FindWorkspace(w.ctx, wsID)
	must(w.t, err, "FindWorkspace")
	msgs, err := w.s.ListMessages(w.ctx, wsID, "", 1_000_000)
	must(w.t, err, "ListMessages")
	var held int64
	for _, m := range msgs {
		if m.Status != wagate.StatusFailed {
			held += m.Credits
		}
	}
	if ws.Granted != ws.Credits+held {
		w.t.Errorf("credits do not add up: granted %d != balance %d + held by queued, sending and sent messages %d", ws.Granted, ws.Credits, held)
	}
}

func equalIDs(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
}

// randSource is crypto/rand's reader, named for ids made in behaviours.
var randSource = rand.Reader

// contextCancelled returns a context already cancelled.
func contextCancelled[S any](f *fixture[S]) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	return ctx, cancel
}

// cancelMessage is the one call of MessageService.CancelMessage, so a
// change of its signature is one edit here.
func cancelMessage[S MessageStore](f *fixture[S], workspaceID, id string, at time.Time) (*wagate.Message, error) {
	return f.s.CancelMessage(f.ctx, workspaceID, id, wagate.SourceAPI, at)
}
