package gateway_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/store"
)

// storeFault is a store.Options.FailCommit that fails the named write
// operations with ENOSPC, as a full disk would.
type storeFault struct {
	mu  sync.Mutex
	ops map[string]bool
}

func (f *storeFault) failCommit(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ops[op] {
		return syscall.ENOSPC
	}
	return nil
}

// fail makes the named operations fail from now on; none heals the store.
func (f *storeFault) fail(ops ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = map[string]bool{}
	for _, op := range ops {
		f.ops[op] = true
	}
}

// newFaultEnv is newEnv on a store whose writes fail on demand.
func newFaultEnv(t *testing.T) (*env, *storeFault) {
	t.Helper()
	fault := &storeFault{}
	e := &env{t: t, clock: &clock{now: t0}, waker: &waker{}}
	log := zaptest.NewLogger(t)
	db, err := store.Open(filepath.Join(t.TempDir(), "wagate.db"), store.Options{Logger: log, Now: e.clock.Now, FailCommit: fault.failCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		problems, err := db.Audit(context.Background())
		if err != nil || len(problems) > 0 {
			t.Errorf("audit at the end: %v %v", problems, err)
		}
		db.Close()
	})
	e.db = db
	e.srv = gateway.New(gateway.Config{PublicURL: "http://wagate.test/", InboundRate: 1, InboundBurst: 1000, Logger: log, Now: e.clock.Now},
		gateway.Services{Workspaces: db, Accounts: db, Chats: db, Messages: db, Attempts: db, Tokens: db, Waker: e.waker, Transports: testTransports})
	e.operator, err = wagate.NewToken(strings.NewReader(strings.Repeat("operator-token-seed-bytes-000000", 2)))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(context.Background(), &wagate.Token{Hash: wagate.HashToken(e.operator), Role: wagate.RoleOperator, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	return e, fault
}

// TestInboundStoreWriteFails: when the commit of an accepted request fails
// (a full disk), the client gets 503 and nothing of the request exists:
// no message, no charge, no queue entry, no idempotency record, no
// attempt, no wake-up. The retry with the same Idempotency-Key, once the
// disk has room again, is accepted fresh and charged once.
func TestInboundStoreWriteFails(t *testing.T) {
	e, fault := newFaultEnv(t)
	ws := e.workspace("Acme", 10)
	e.account(ws, acctPhone)
	body := `{"action":"send","phone":"+14155552671","text":"hi","file_url":"https://example.com/a.pdf","file_name":"a.pdf"}`
	key := []string{"Idempotency-Key", "order-7"}

	fault.fail("accept")
	b := wantError(t, e.send(ws.Inbound, body, key...), http.StatusServiceUnavailable, wagate.EUNAVAILABLE, "try again")
	if strings.Contains(b.Message, "no space") || strings.Contains(b.Message, "store:") {
		t.Errorf("503 message %q shows the storage error; it belongs in the log", b.Message)
	}
	ctx := context.Background()
	if got := e.balance(ws); got != 10 {
		t.Errorf("balance = %d after a failed commit, want 10: nothing charged", got)
	}
	if n := len(e.messages(ws)); n != 0 {
		t.Errorf("%d messages after a failed commit, want 0", n)
	}
	if n, err := e.db.QueuedTotal(ctx); err != nil || n != 0 {
		t.Errorf("queue entries = %d, %v; want 0", n, err)
	}
	if list, err := e.db.ListAttempts(ctx, ws.ID, 0); err != nil || len(list) != 0 {
		t.Errorf("attempts = %+v, %v; want none (the write that held it failed)", list, err)
	}
	if refs := e.waker.Refs(); len(refs) != 0 {
		t.Errorf("the sender was woken for a message that does not exist: %v", refs)
	}

	// The same key after the fault: a fresh accept, not a replay of
	// something half-written.
	fault.fail()
	rec := e.send(ws.Inbound, body, key...)
	id := accepted(t, rec)
	if rec.Header().Get("Idempotent-Replayed") != "" {
		t.Error("the retry after a failed commit was answered as a replay")
	}
	if got := e.balance(ws); got != 8 {
		t.Errorf("balance = %d, want 8 (text and file, charged once)", got)
	}

	// A replay whose attempt record cannot be written is a 503 too, and
	// leaves the message as it was.
	fault.fail("replay")
	wantError(t, e.send(ws.Inbound, body, key...), http.StatusServiceUnavailable, wagate.EUNAVAILABLE)
	fault.fail()
	rec = e.send(ws.Inbound, body, key...)
	if got := accepted(t, rec); got != id || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay after the fault = %s (replayed %q), want %s replayed", got, rec.Header().Get("Idempotent-Replayed"), id)
	}
	if got := e.balance(ws); got != 8 {
		t.Errorf("balance = %d after replays, want 8", got)
	}
}

// TestAttemptRecordFailureKeepsTheAnswer: the attempt record of a refused
// request is written best effort; when that write fails, the client still
// gets the answer its request deserves (here a 400), not a 503.
func TestAttemptRecordFailureKeepsTheAnswer(t *testing.T) {
	e, fault := newFaultEnv(t)
	ws := e.workspace("Acme", 10)
	e.account(ws, acctPhone)
	fault.fail("record attempt")
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone_number":"+14155552671","text":"hi"}`), http.StatusBadRequest, wagate.EINVALID, `did you mean "phone"`)
	if list, err := e.db.ListAttempts(context.Background(), ws.ID, 0); err != nil || len(list) != 0 {
		t.Errorf("attempts = %d, %v; want none", len(list), err)
	}
}

// TestAdminStoreWriteFails: an admin write whose commit fails is a 503
// that changed nothing.
func TestAdminStoreWriteFails(t *testing.T) {
	e, fault := newFaultEnv(t)
	ws := e.workspace("Acme", 10)
	fault.fail("add credits", "regenerate webhook", "create account")
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/credits", e.operator, `{"amount":5}`), http.StatusServiceUnavailable, wagate.EUNAVAILABLE)
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/webhook/regenerate", ws.Owner, ""), http.StatusServiceUnavailable, wagate.EUNAVAILABLE)
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, `{"phone":"+15105566777"}`), http.StatusServiceUnavailable, wagate.EUNAVAILABLE)
	fault.fail()
	if got := e.balance(ws); got != 10 {
		t.Errorf("balance = %d, want 10", got)
	}
	// The old inbound URL still works, so the regeneration did not happen;
	// the account was not created, so the request has no account to use.
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi"}`), http.StatusBadRequest, wagate.EINVALID, "no active WhatsApp account")
	if _, err := e.db.FindWorkspaceByInboundToken(context.Background(), ws.Inbound); err != nil {
		t.Errorf("the inbound token after a failed regeneration: %v", err)
	}
}
