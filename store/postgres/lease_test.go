package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
)

// Replicas on one database: two handles (replicas "a" and "b") share a
// clock the test moves, so expiry is decided by the test, never by a sleep.

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const testTTL = 30 * time.Second

// replicas is one database and two replicas on it, with a workspace "ws"
// of 1000 credits.
type replicas struct {
	t     *testing.T
	url   string
	clock *testClock
	a, b  *DB
}

func newReplicas(t *testing.T) *replicas {
	t.Helper()
	r := &replicas{t: t, url: pgtest.Clone(t, migratedTemplate), clock: &testClock{now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}}
	r.a = r.open("a")
	r.b = r.open("b")
	ctx := context.Background()
	tok, _ := wagate.NewToken(rand.Reader)
	if err := r.a.CreateWorkspace(ctx, &wagate.Workspace{ID: "ws", Name: "ws", Credits: 1000, Webhook: wagate.Webhook{Token: tok, Enabled: true}}, nil); err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	return r
}

// open opens another handle on the database, as replica name.
func (r *replicas) open(name string) *DB {
	r.t.Helper()
	db, err := Open(context.Background(), r.url, Options{Logger: zaptest.NewLogger(r.t), Now: r.clock.Now, Replica: name, LeaseTTL: testTTL})
	if err != nil {
		r.t.Fatalf("Open: %v", err)
	}
	r.t.Cleanup(func() { _ = db.Close() })
	return db
}

// account creates an active account with n queued messages of 1 credit.
func (r *replicas) account(phone string, n int) wagate.AccountRef {
	r.t.Helper()
	ctx := context.Background()
	ref := wagate.AccountRef{WorkspaceID: "ws", Phone: phone}
	if err := r.a.CreateAccount(ctx, &wagate.Account{WorkspaceID: "ws", Phone: phone, Transport: wagate.TransportDryrun, Active: true}); err != nil {
		r.t.Fatalf("CreateAccount: %v", err)
	}
	for range n {
		r.accept(r.a, ref)
	}
	return ref
}

// accept queues one message of 1 credit for ref through db and returns it.
func (r *replicas) accept(db *DB, ref wagate.AccountRef) *wagate.Message {
	r.t.Helper()
	id, err := testIDs.Next(r.clock.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	res, err := db.Accept(context.Background(), &wagate.Accept{WorkspaceID: ref.WorkspaceID,
		Message: &wagate.Message{ID: id, AccountPhone: ref.Phone, JID: "14155550100@s.whatsapp.net", Text: "hi", Credits: 1}})
	if err != nil {
		r.t.Fatalf("Accept: %v", err)
	}
	return res.Message
}

// setSending puts a message in sending directly, as a replica that died
// mid-send left it.
func (r *replicas) setSending(id string) {
	r.t.Helper()
	if _, err := r.a.pool.Exec(context.Background(), `UPDATE messages SET status = 'sending' WHERE id = $1`, id); err != nil {
		r.t.Fatal(err)
	}
}

func (r *replicas) lease(db *DB) map[wagate.AccountRef]wagate.AccountLease {
	r.t.Helper()
	list, err := db.Lease(context.Background())
	if err != nil {
		r.t.Fatalf("Lease (%s): %v", db.Replica(), err)
	}
	held := make(map[wagate.AccountRef]wagate.AccountLease, len(list))
	for _, l := range list {
		if _, dup := held[l.Account]; dup {
			r.t.Errorf("Lease (%s) lists %v twice", db.Replica(), l.Account)
		}
		held[l.Account] = l
	}
	return held
}

// fence runs db's fence for ref in a transaction of its own.
func (r *replicas) fence(db *DB, ref wagate.AccountRef, starting bool) error {
	return db.update(context.Background(), "test fence", func(tx pgx.Tx) error {
		return db.fence(context.Background(), tx, ref, db.now(), starting)
	})
}

func wantLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, wagate.ErrLeaseLost) || wagate.ErrorCode(err) != wagate.ECONFLICT {
		t.Errorf("%s: got %v, want ECONFLICT wrapping ErrLeaseLost", what, err)
	}
}

func TestLeaseOneClaimWins(t *testing.T) {
	r := newReplicas(t)
	var refs []wagate.AccountRef
	for _, p := range []string{"+14155550001", "+14155550002", "+14155550003", "+14155550004", "+14155550005", "+14155550006"} {
		refs = append(refs, r.account(p, 1))
	}
	r.account("+14155550009", 0) // no work: nobody claims it

	// Both replicas are live (registered) before they claim, so each
	// claims its share and a second round moves nothing (replicas.go).
	r.register(r.a, r.b)
	// Both replicas claim at once, again and again: every account ends
	// with exactly one of them.
	var held [2]map[wagate.AccountRef]wagate.AccountLease
	var wg sync.WaitGroup
	for i, db := range []*DB{r.a, r.b} {
		wg.Go(func() { held[i] = r.lease(db) })
	}
	wg.Wait()
	for _, ref := range refs {
		la, inA := held[0][ref]
		lb, inB := held[1][ref]
		if inA == inB {
			t.Errorf("%s: held by a %v, by b %v; want exactly one", ref.Phone, inA, inB)
		}
		l := la
		if inB {
			l = lb
		}
		if l.Epoch != 1 || !l.Ready {
			t.Errorf("%s: epoch %d ready %v, want 1 and true", ref.Phone, l.Epoch, l.Ready)
		}
	}
	if n := len(held[0]) + len(held[1]); n != len(refs) {
		t.Errorf("%d leases held, want %d (the account without messages is not claimed)", n, len(refs))
	}
	// A second round of each changes nothing.
	again := [2]map[wagate.AccountRef]wagate.AccountLease{r.lease(r.a), r.lease(r.b)}
	for i := range held {
		if len(again[i]) != len(held[i]) {
			t.Errorf("replica %d holds %d after its renewal, want %d", i, len(again[i]), len(held[i]))
		}
		for ref, l := range held[i] {
			if again[i][ref].Epoch != l.Epoch {
				t.Errorf("%s: epoch %d after renewal, want %d", ref.Phone, again[i][ref].Epoch, l.Epoch)
			}
		}
	}
}

func TestLeaseRenewalKeepsEveryHeldLease(t *testing.T) {
	r := newReplicas(t)
	refs := []wagate.AccountRef{r.account("+14155550001", 1), r.account("+14155550002", 1), r.account("+14155550003", 1)}
	if got := r.lease(r.a); len(got) != 3 {
		t.Fatalf("a holds %d, want 3", len(got))
	}
	// a renews within the TTL, twice: b, looking after the first claim's
	// expiry, finds nothing to take.
	r.clock.advance(20 * time.Second)
	if got := r.lease(r.a); len(got) != 3 {
		t.Fatalf("a holds %d after renewing, want 3", len(got))
	}
	r.clock.advance(20 * time.Second)
	if got := r.lease(r.b); len(got) != 0 {
		t.Errorf("b took %v from a replica that renewed in time", got)
	}
	for _, ref := range refs {
		if err := r.fence(r.a, ref, true); err != nil {
			t.Errorf("a's send of %s after renewal: %v", ref.Phone, err)
		}
	}
}

func TestLeaseTakeoverAfterExpiry(t *testing.T) {
	r := newReplicas(t)
	ref := r.account("+14155550001", 1)
	if l := r.lease(r.a)[ref]; l.Epoch != 1 {
		t.Fatalf("a's claim: epoch %d, want 1", l.Epoch)
	}
	r.clock.advance(testTTL - time.Second)
	if got := r.lease(r.b); len(got) != 0 {
		t.Fatalf("b took %v before a's lease expired", got)
	}
	// a stops renewing (dead, or stuck); once its lease expires b takes
	// over with the next epoch.
	r.clock.advance(time.Second)
	l, ok := r.lease(r.b)[ref]
	if !ok || l.Epoch != 2 {
		t.Fatalf("b after the expiry: held %v epoch %d, want epoch 2", ok, l.Epoch)
	}
	if err := r.fence(r.b, ref, true); err != nil {
		t.Errorf("b's send after the takeover: %v", err)
	}
	wantLost(t, "a's send after the takeover", r.fence(r.a, ref, true))
	wantLost(t, "a's outcome after the takeover", r.fence(r.a, ref, false))
	// a comes back: its renewal no longer lists the account, and its
	// writes stay refused.
	if got := r.lease(r.a); len(got) != 0 {
		t.Errorf("a still holds %v after b took over", got)
	}
	wantLost(t, "a's send after its next round", r.fence(r.a, ref, true))
}

func TestLeaseStaleEpochRefused(t *testing.T) {
	r := newReplicas(t)
	ref := r.account("+14155550001", 1)
	r.lease(r.a) // epoch 1
	r.clock.advance(testTTL)
	r.lease(r.b) // epoch 2
	if err := r.b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A new handle under a's name (a restarted replica with a fixed name)
	// claims epoch 3. The old handle has the same owner name but the old
	// epoch: refused.
	a2 := r.open("a")
	if l := r.lease(a2)[ref]; l.Epoch != 3 {
		t.Fatalf("a2's claim: epoch %d, want 3", l.Epoch)
	}
	wantLost(t, "the stale handle's send", r.fence(r.a, ref, true))
	wantLost(t, "the stale handle's outcome", r.fence(r.a, ref, false))
	wantLost(t, "b's outcome after its release", r.fence(r.b, ref, false))
	if err := r.fence(a2, ref, true); err != nil {
		t.Errorf("the holder's send: %v", err)
	}
}

func TestLeaseExpiredButUntakenMayFinishNotStart(t *testing.T) {
	r := newReplicas(t)
	ref := r.account("+14155550001", 1)
	r.lease(r.a)
	r.clock.advance(testTTL + time.Second)
	// Nobody claimed it: the outcome of a send under way is still a's to
	// write, but a new send waits for a's next renewal.
	wantLost(t, "a new send on an expired lease", r.fence(r.a, ref, true))
	if err := r.fence(r.a, ref, false); err != nil {
		t.Errorf("the outcome of a send under way: %v", err)
	}
	if l, ok := r.lease(r.a)[ref]; !ok || l.Epoch != 1 {
		t.Fatalf("a's renewal of its expired, untaken lease: held %v epoch %d, want epoch 1", ok, l.Epoch)
	}
	if err := r.fence(r.a, ref, true); err != nil {
		t.Errorf("a new send after the renewal: %v", err)
	}
}

func TestLeaseReleaseHandsOverAtOnce(t *testing.T) {
	r := newReplicas(t)
	ref := r.account("+14155550001", 1)
	r.lease(r.a)
	if err := r.a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantLost(t, "a's send after its release", r.fence(r.a, ref, true))
	if l, ok := r.lease(r.b)[ref]; !ok || l.Epoch != 2 {
		t.Fatalf("b right after a's release: held %v epoch %d, want epoch 2", ok, l.Epoch)
	}
}

func TestLeaseUnfencedUntilLeased(t *testing.T) {
	r := newReplicas(t)
	ref := r.account("+14155550001", 1)
	if err := r.fence(r.a, ref, true); err != nil {
		t.Errorf("a handle that never leased is not fenced: %v", err)
	}
	r.lease(r.b)
	wantLost(t, "b's send of an account it does not hold", r.fence(r.b, wagate.AccountRef{WorkspaceID: "ws", Phone: "+14155550002"}, true))
}

func TestLeasePaceAndReady(t *testing.T) {
	r := newReplicas(t)
	ref := r.account("+14155550001", 1)
	idle := r.account("+14155550002", 1)
	if _, err := r.a.SetAccountActive(context.Background(), idle, false); err != nil {
		t.Fatal(err)
	}
	got := r.lease(r.a)
	if got[ref].Sending {
		t.Errorf("an account with nothing in sending says Sending")
	}
	if !got[ref].Ready || got[idle].Ready {
		t.Errorf("ready: active %v, inactive %v; want true, false", got[ref].Ready, got[idle].Ready)
	}
	if !got[ref].LastSendAt.IsZero() || got[ref].Gap != 0 {
		t.Errorf("pace of an account that never sent: %v %v, want zero", got[ref].LastSendAt, got[ref].Gap)
	}
	sent := r.clock.Now()
	if err := r.a.update(context.Background(), "test pace", func(tx pgx.Tx) error {
		return setPace(context.Background(), tx, ref, sent, 7*time.Minute)
	}); err != nil {
		t.Fatal(err)
	}
	r.clock.advance(testTTL)
	l := r.lease(r.b)[ref]
	if !l.LastSendAt.Equal(sent) || l.Gap != 7*time.Minute {
		t.Errorf("pace seen by the new holder: %v %v, want %v 7m", l.LastSendAt, l.Gap, sent)
	}
}

func TestRecoverAccountAtTakeover(t *testing.T) {
	r := newReplicas(t)
	ref := r.account("+14155550001", 0)
	m := r.accept(r.a, ref)
	r.setSending(m.ID)
	other := r.account("+14155550002", 0)
	live := r.accept(r.a, other)
	r.setSending(live.ID)
	// An account whose only message is in sending has work: it is
	// claimed, so its message is settled.
	held := r.lease(r.a)
	if _, ok := held[ref]; !ok {
		t.Fatalf("a did not claim the account with a message in sending")
	}
	if held[ref].Ready || !held[ref].Sending {
		t.Errorf("ready %v sending %v, want an account with nothing queued and a message in sending", held[ref].Ready, held[ref].Sending)
	}
	wsBefore, _ := r.a.FindWorkspace(context.Background(), "ws")
	_, err := r.b.Lease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.b.RecoverAccount(context.Background(), ref, time.Time{}); !errors.Is(err, wagate.ErrLeaseLost) {
		t.Errorf("b's recovery of a's account: %v, want ErrLeaseLost", err)
	}
	n, err := r.a.RecoverAccount(context.Background(), ref, time.Time{})
	if err != nil || n != 1 {
		t.Fatalf("RecoverAccount: %d, %v; want 1", n, err)
	}
	got, _ := r.a.FindMessage(context.Background(), "ws", m.ID)
	if got.Status != wagate.StatusFailed || got.Error != ErrorInterrupted || len(got.Tries) != 1 || got.Tries[0].Class != wagate.TryClassInterrupted {
		t.Errorf("recovered message: status %s error %q tries %v", got.Status, got.Error, got.Tries)
	}
	ws, _ := r.a.FindWorkspace(context.Background(), "ws")
	if ws.Credits != wsBefore.Credits+1 {
		t.Errorf("balance %d after the recovery, want %d (one refund)", ws.Credits, wsBefore.Credits+1)
	}
	// The other account's message, in sending too, was not touched.
	if got, _ := r.a.FindMessage(context.Background(), "ws", live.ID); got.Status != wagate.StatusSending {
		t.Errorf("another account's sending message: %s, want sending", got.Status)
	}
}

func TestOperatorTokenOnce(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	toks := make([]string, 4)
	created := make([]bool, 4)
	var wg sync.WaitGroup
	for i := range toks {
		toks[i], _ = wagate.NewToken(rand.Reader)
		db := r.a
		if i%2 == 1 {
			db = r.b
		}
		wg.Go(func() {
			var err error
			created[i], err = db.CreateOperatorTokenOnce(ctx, &wagate.Token{Hash: wagate.HashToken(toks[i]), Role: wagate.RoleOperator})
			if err != nil {
				t.Errorf("CreateOperatorTokenOnce: %v", err)
			}
		})
	}
	wg.Wait()
	won := 0
	for i, tok := range toks {
		_, err := r.a.FindToken(ctx, wagate.HashToken(tok))
		if created[i] {
			won++
			if err != nil {
				t.Errorf("the created token is not found: %v", err)
			}
		} else if wagate.ErrorCode(err) != wagate.ENOTFOUND {
			t.Errorf("a token that was not created: FindToken %v, want ENOTFOUND", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d replicas created the operator token, want 1", won)
	}
	// A later start keeps it.
	tok, _ := wagate.NewToken(rand.Reader)
	if ok, err := r.b.CreateOperatorTokenOnce(ctx, &wagate.Token{Hash: wagate.HashToken(tok), Role: wagate.RoleOperator}); ok || err != nil {
		t.Errorf("a later start: created %v, %v; want false", ok, err)
	}
	if _, err := r.b.CreateOperatorTokenOnce(ctx, &wagate.Token{Hash: wagate.HashToken(tok), Role: wagate.RoleOwner, WorkspaceID: "ws"}); wagate.ErrorCode(err) != wagate.EINVALID {
		t.Errorf("an owner token: %v, want EINVALID", err)
	}
}
