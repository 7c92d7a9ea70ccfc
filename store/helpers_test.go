package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
)

// testClock is an injectable clock (Options.Now) that only moves when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openTest opens a store at path and, at cleanup, checks it (bbolt's
// consistency check and the credit/queue audit) and closes it. A test that
// closes the store itself skips the check.
func openTest(t *testing.T, path string, clock *testClock) *DB {
	t.Helper()
	db, err := Open(path, Options{Logger: zaptest.NewLogger(t), Now: clock.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.bolt.View(func(*bolt.Tx) error { return nil }); errors.Is(err, berrors.ErrDatabaseNotOpen) {
			return
		}
		checkConsistent(t, db)
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// checkBolt runs bbolt's own consistency check (tx.Check).
func checkBolt(t *testing.T, db *DB) {
	t.Helper()
	err := db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("View: %v", err)
	}
}

// checkConsistent is checkBolt plus an empty Audit.
func checkConsistent(t *testing.T, db *DB) {
	t.Helper()
	checkBolt(t, db)
	problems, err := db.Audit(context.Background())
	if err != nil {
		t.Errorf("Audit: %v", err)
	}
	for _, p := range problems {
		t.Errorf("audit: %s", p)
	}
}

// fixture is a store with one workspace and one active account.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *DB
	path  string
	clock *testClock
	ws    *wagate.Workspace
	owner string // the owner token
	phone string // the account
}

const (
	testPhone  = "+14155552671"
	testPhone2 = "+447911123456"
	testJID    = "14155550100@s.whatsapp.net"
	testJID2   = "4915112345678@s.whatsapp.net"
	testGroup  = "120363025246125486@g.us"
)

func newFixture(t *testing.T, credits int64) *fixture {
	t.Helper()
	clock := newTestClock()
	path := filepath.Join(t.TempDir(), "wagate.db")
	f := &fixture{t: t, ctx: context.Background(), db: openTest(t, path, clock), path: path, clock: clock, phone: testPhone}
	f.ws = f.createWorkspace(credits)
	f.createAccount(f.ws.ID, testPhone, true)
	return f
}

func (f *fixture) createWorkspace(credits int64) *wagate.Workspace {
	f.t.Helper()
	id, err := wagate.NewWorkspaceID(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	inbound, err := wagate.NewToken(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	owner, err := wagate.NewToken(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	ws := &wagate.Workspace{ID: id, Name: "Acme " + id, Credits: credits, Webhook: wagate.Webhook{Token: inbound, Enabled: true}}
	tok := &wagate.Token{Hash: wagate.HashToken(owner), WorkspaceID: id, Role: wagate.RoleOwner}
	if err := f.db.CreateWorkspace(f.ctx, ws, tok); err != nil {
		f.t.Fatalf("CreateWorkspace: %v", err)
	}
	f.owner = owner
	return ws
}

func (f *fixture) createAccount(wsID, phone string, active bool) *wagate.Account {
	f.t.Helper()
	a := &wagate.Account{WorkspaceID: wsID, Phone: phone, Transport: wagate.TransportDryrun, Active: active, ConnectedAt: f.clock.Now()}
	if err := f.db.CreateAccount(f.ctx, a); err != nil {
		f.t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

// testIDs makes the message ids of the store's tests, as the gateway does.
var testIDs = wagate.NewMessageIDs(rand.Reader)

// request builds an Accept for the fixture's workspace and account.
func (f *fixture) request(body string, credits int64) *wagate.Accept {
	f.t.Helper()
	id, err := testIDs.Next(time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return &wagate.Accept{
		WorkspaceID: f.ws.ID,
		BodyHash:    sha256.Sum256([]byte(body)),
		Message: &wagate.Message{
			ID:           id,
			AccountPhone: f.phone,
			JID:          testJID,
			Text:         body,
			Credits:      credits,
			CreatedAt:    f.clock.Now(),
		},
		ChatName: "Customer",
		Source:   wagate.SourceInbound,
		Attempt: &wagate.Attempt{
			At:          f.clock.Now(),
			RequestID:   "req-" + id,
			RemoteAddr:  "192.0.2.1:5555",
			ContentType: "application/json",
			Body:        body,
		},
	}
}

// accept commits a request that must succeed.
func (f *fixture) accept(a *wagate.Accept) *wagate.AcceptResult {
	f.t.Helper()
	res, err := f.db.Accept(f.ctx, a)
	if err != nil {
		f.t.Fatalf("Accept: %v", err)
	}
	return res
}

// send accepts a text message of 1 credit and returns its id.
func (f *fixture) send(text string) string {
	f.t.Helper()
	return f.accept(f.request(text, 1)).Message.ID
}

func (f *fixture) balance() int64 {
	f.t.Helper()
	ws, err := f.db.FindWorkspace(f.ctx, f.ws.ID)
	if err != nil {
		f.t.Fatalf("FindWorkspace: %v", err)
	}
	return ws.Credits
}

func (f *fixture) message(id string) *wagate.Message {
	f.t.Helper()
	m, err := f.db.FindMessage(f.ctx, f.ws.ID, id)
	if err != nil {
		f.t.Fatalf("FindMessage: %v", err)
	}
	return m
}

func (f *fixture) ref() wagate.AccountRef {
	return wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: f.phone}
}

// head returns the id of the account's queue head, "" when empty.
func (f *fixture) head(ref wagate.AccountRef) string {
	f.t.Helper()
	m, err := f.db.Head(f.ctx, ref)
	if err != nil {
		f.t.Fatalf("Head: %v", err)
	}
	if m == nil {
		return ""
	}
	return m.ID
}

// wantCode fails unless err carries the domain code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := wagate.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
