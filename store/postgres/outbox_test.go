package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	mathrand "math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
	"github.com/wagate/wagate/store/storetest"
)

// The outbox behaviours only PostgreSQL has: several replicas on one
// database claiming deliveries, and the wake-ups after a commit. The rest
// of the outbox is the contract's (storetest.RunEndpoints, RunOutbox).

const outboxPhone = "+14155552671"

// outboxWorld is a database with one workspace, its account and an
// endpoint subscribed to every event, and the stores opened on it.
type outboxWorld struct {
	t     *testing.T
	ctx   context.Context
	url   string
	clock *storetest.Clock
	ws    string
	ep    wagate.EndpointRef
}

func newOutboxWorld(t *testing.T) *outboxWorld {
	return &outboxWorld{t: t, ctx: context.Background(), url: pgtest.Clone(t, migratedTemplate), clock: storetest.NewClock()}
}

// open opens a store (a replica) on the world's database.
func (w *outboxWorld) open(opts Options) *DB {
	w.t.Helper()
	opts.Logger, opts.Now = zaptest.NewLogger(w.t), w.clock.Now
	db, err := Open(w.ctx, w.url, opts)
	if err != nil {
		w.t.Fatalf("Open: %v", err)
	}
	w.t.Cleanup(func() { _ = db.Close() })
	return db
}

// setUp creates the workspace, its account and the endpoint through db.
func (w *outboxWorld) setUp(db *DB, credits int64) {
	w.t.Helper()
	id, err := wagate.NewWorkspaceID(rand.Reader)
	mustOK(w.t, err)
	tok, err := wagate.NewToken(rand.Reader)
	mustOK(w.t, err)
	mustOK(w.t, db.CreateWorkspace(w.ctx, &wagate.Workspace{ID: id, Name: id, Credits: credits, Webhook: wagate.Webhook{Token: tok, Enabled: true}}, nil))
	mustOK(w.t, db.CreateAccount(w.ctx, &wagate.Account{WorkspaceID: id, Phone: outboxPhone, Transport: wagate.TransportDryrun, Active: true}))
	w.ws = id
	w.ep = wagate.EndpointRef{WorkspaceID: id, ID: "ep_replicas"}
	mustOK(w.t, db.CreateEndpoint(w.ctx, &wagate.Endpoint{ID: w.ep.ID, WorkspaceID: id, Enabled: true, URL: "https://crm.example",
		Events: wagate.EventTypes, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
}

// accept sends one message of the world's workspace through db.
func (w *outboxWorld) accept(db *DB, text string) (*wagate.AcceptResult, error) {
	w.t.Helper()
	id, err := testIDs.Next(w.clock.Now())
	mustOK(w.t, err)
	return db.Accept(w.ctx, &wagate.Accept{WorkspaceID: w.ws, Attempt: &wagate.Attempt{RequestID: "req-" + id},
		Message: &wagate.Message{ID: id, AccountPhone: outboxPhone, JID: "14155550100@s.whatsapp.net", Text: text, Credits: 1}})
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErrCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := wagate.ErrorCode(err); got != code {
		t.Fatalf("%s: %v (code %q), want %q", what, err, got, code)
	}
}

// next is NextDeliveries of the world's endpoint at the clock's time.
func (w *outboxWorld) next(db *DB) ([]*wagate.PendingDelivery, time.Time) {
	w.t.Helper()
	ds, due, err := db.NextDeliveries(w.ctx, w.ep, w.clock.Now(), 10)
	mustOK(w.t, err)
	return ds, due
}

func succeeded(d *wagate.EndpointDelivery, at time.Time) *wagate.EndpointDelivery {
	out := *d
	out.Status, out.At, out.Response = wagate.DeliverySucceeded, at, wagate.DeliveryResponse{Status: 204}
	return &out
}

// Two replicas on one database: a delivery one of them claimed is not
// handed to the other while the lease lasts, and the other cannot record
// an attempt of it; after the lease ends the other takes it over, and then
// the first is the one refused.
func TestTwoReplicasNeverHoldOneDelivery(t *testing.T) {
	w := newOutboxWorld(t)
	a, b := w.open(Options{DeliveryLease: time.Minute}), w.open(Options{DeliveryLease: time.Minute})
	w.setUp(a, 10)
	_, err := a.UpdateEndpoint(w.ctx, w.ep, func(e *wagate.Endpoint) error { e.Events = []string{wagate.EventMessageQueued}; return nil })
	mustOK(t, err)
	_, err = w.accept(a, "one")
	mustOK(t, err)

	claimed, _ := w.next(a)
	if len(claimed) != 1 {
		t.Fatalf("replica a got %d deliveries, want the one", len(claimed))
	}
	leaseEnd := w.clock.Now().Add(time.Minute)
	if ds, due := w.next(b); len(ds) != 0 || !due.Equal(leaseEnd) {
		t.Fatalf("replica b got %d deliveries (next %v) while a holds the lease; want none until %v", len(ds), due, leaseEnd)
	}
	if ds, _ := w.next(a); len(ds) != 1 || ds[0].Delivery.ID != claimed[0].Delivery.ID {
		t.Fatalf("replica a asked again got %d, want its own delivery again (the deliverer tracks what is in flight)", len(ds))
	}
	leaseEnd = w.clock.Now().Add(time.Minute) // renewed
	err = b.FinishAttempt(w.ctx, succeeded(claimed[0].Delivery, w.clock.Now()), "")
	wantErrCode(t, err, wagate.ECONFLICT, "FinishAttempt by the replica without the lease")

	// a stops answering: its lease ends, and b takes the delivery over.
	w.clock.Advance(time.Minute)
	if !w.clock.Now().Equal(leaseEnd) {
		t.Fatalf("clock %v, lease end %v", w.clock.Now(), leaseEnd)
	}
	took, _ := w.next(b)
	if len(took) != 1 || took[0].Delivery.ID != claimed[0].Delivery.ID || took[0].Event.ID != claimed[0].Event.ID {
		t.Fatalf("replica b after the lease ended got %+v, want the same delivery and event", took)
	}
	if ds, _ := w.next(a); len(ds) != 0 {
		t.Errorf("replica a got %d deliveries after b took them over", len(ds))
	}
	err = a.FinishAttempt(w.ctx, succeeded(claimed[0].Delivery, w.clock.Now()), "")
	wantErrCode(t, err, wagate.ECONFLICT, "FinishAttempt by the replica whose lease ended")
	mustOK(t, b.FinishAttempt(w.ctx, succeeded(took[0].Delivery, w.clock.Now()), ""))
	list, _, err := a.ListDeliveries(w.ctx, w.ep, 10, "")
	mustOK(t, err)
	if len(list) != 1 || list[0].Status != wagate.DeliverySucceeded || list[0].Attempt != 1 {
		t.Errorf("history %+v, want one delivery, succeeded at the first recorded attempt", list)
	}
}

// A replica claiming while another's claim is still open skips the rows
// that one has locked instead of waiting for it (FOR UPDATE SKIP LOCKED),
// and takes the next ones: here a transaction of the test holds the first
// delivery's row as a claim in progress would.
func TestClaimSkipsRowsLockedByAnotherClaim(t *testing.T) {
	w := newOutboxWorld(t)
	db := w.open(Options{})
	w.setUp(db, 10)
	_, err := db.UpdateEndpoint(w.ctx, w.ep, func(e *wagate.Endpoint) error { e.Events = []string{wagate.EventMessageQueued}; return nil })
	mustOK(t, err)
	for _, text := range []string{"one", "two"} {
		_, err := w.accept(db, text)
		mustOK(t, err)
	}
	conn, err := pgx.Connect(w.ctx, w.url)
	mustOK(t, err)
	defer conn.Close(w.ctx)
	tx, err := conn.Begin(w.ctx)
	mustOK(t, err)
	defer tx.Rollback(w.ctx)
	var locked string
	mustOK(t, tx.QueryRow(w.ctx, `SELECT id FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2 ORDER BY seq LIMIT 1 FOR UPDATE`,
		w.ep.WorkspaceID, w.ep.ID).Scan(&locked))

	ds, _ := w.next(db) // would wait for tx without SKIP LOCKED: the test's deadline would end it
	if len(ds) != 1 || ds[0].Delivery.ID == locked || ds[0].Event.Message.Text != "two" {
		t.Fatalf("claimed %d deliveries while %s is locked, want only the second", len(ds), locked)
	}
	mustOK(t, tx.Rollback(w.ctx))
	ds, _ = w.next(db)
	if len(ds) != 2 || ds[0].Delivery.ID != locked {
		t.Errorf("after the lock ended: %d deliveries, want both in order", len(ds))
	}
}

// Close hands the deliveries it holds back: a replica restarted (or
// another one) takes them at once, not when the lease would have ended.
func TestCloseReleasesLeases(t *testing.T) {
	w := newOutboxWorld(t)
	a := w.open(Options{})
	w.setUp(a, 10)
	_, err := w.accept(a, "one")
	mustOK(t, err)
	held, _ := w.next(a)
	if len(held) == 0 {
		t.Fatal("nothing to claim")
	}
	mustOK(t, a.Close())
	b := w.open(Options{})
	if ds, _ := w.next(b); len(ds) != len(held) {
		t.Errorf("after a closed, b got %d deliveries at once, want the %d a held", len(ds), len(held))
	}
}

// wakes records Options.OnDeliveries calls.
type wakes struct {
	mu    sync.Mutex
	calls [][]wagate.EndpointRef
}

func (w *wakes) record(refs []wagate.EndpointRef) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, slices.Clone(refs))
}

func (w *wakes) take() [][]wagate.EndpointRef {
	w.mu.Lock()
	defer w.mu.Unlock()
	calls := w.calls
	w.calls = nil
	return calls
}

// The deliverer of this replica is woken after each commit that gave an
// endpoint deliveries, once per endpoint, and never for a write that did
// not commit or a workspace without endpoints.
func TestWakeUpsAfterCommitOnly(t *testing.T) {
	w := newOutboxWorld(t)
	var fail sync.Mutex
	failing := false
	woken := &wakes{}
	db := w.open(Options{OnDeliveries: woken.record, FailCommit: func(string) error {
		fail.Lock()
		defer fail.Unlock()
		if failing {
			return syscall.ENOSPC
		}
		return nil
	}})
	w.setUp(db, 10)
	second := wagate.EndpointRef{WorkspaceID: w.ws, ID: "ep_second"}
	mustOK(t, db.CreateEndpoint(w.ctx, &wagate.Endpoint{ID: second.ID, WorkspaceID: w.ws, Enabled: true, URL: "https://crm.example",
		Events: []string{wagate.EventMessageQueued}, Secret: "whsec_x"}))
	if got := woken.take(); len(got) != 0 {
		t.Fatalf("wake-ups %v before any event", got)
	}

	res, err := w.accept(db, "hi") // message.queued to both, webhook.attempt to the first
	mustOK(t, err)
	if got := woken.take(); len(got) != 1 || !slices.Equal(got[0], []wagate.EndpointRef{w.ep, second}) {
		t.Errorf("wake-ups after an accept: %v, want one call with both endpoints, each once", got)
	}

	fail.Lock()
	failing = true
	fail.Unlock()
	_, err = db.CancelMessage(w.ctx, w.ws, res.Message.ID, wagate.SourceAPI, time.Time{})
	wantErrCode(t, err, wagate.EUNAVAILABLE, "CancelMessage failed at commit")
	_, err = w.accept(db, "lost")
	wantErrCode(t, err, wagate.EUNAVAILABLE, "Accept failed at commit")
	if got := woken.take(); len(got) != 0 {
		t.Errorf("failed writes woke the deliverer: %v", got)
	}
	fail.Lock()
	failing = false
	fail.Unlock()

	// A workspace without endpoints: nothing written, nobody woken.
	other := &outboxWorld{t: t, ctx: w.ctx, url: w.url, clock: w.clock}
	id, err := wagate.NewWorkspaceID(rand.Reader)
	mustOK(t, err)
	mustOK(t, db.CreateWorkspace(w.ctx, &wagate.Workspace{ID: id, Name: id, Credits: 5, Webhook: wagate.Webhook{Token: "t-" + id, Enabled: true}}, nil))
	mustOK(t, db.CreateAccount(w.ctx, &wagate.Account{WorkspaceID: id, Phone: outboxPhone, Transport: wagate.TransportDryrun, Active: true}))
	other.ws = id
	_, err = other.accept(db, "quiet")
	mustOK(t, err)
	if got := woken.take(); len(got) != 0 {
		t.Errorf("an accept of a workspace without endpoints woke %v", got)
	}
	var n int
	mustOK(t, db.pool.QueryRow(w.ctx, `SELECT count(*) FROM deliveries WHERE workspace_id = $1`, id).Scan(&n))
	if n != 0 {
		t.Errorf("%d deliveries written for a workspace without endpoints", n)
	}

	// A retry, and enabling an endpoint with pending deliveries, wake it.
	_, err = db.UpdateEndpoint(w.ctx, second, func(e *wagate.Endpoint) error { e.Enabled = false; return nil })
	mustOK(t, err)
	_, err = db.UpdateEndpoint(w.ctx, second, func(e *wagate.Endpoint) error { e.Enabled = true; return nil })
	mustOK(t, err)
	if got := woken.take(); len(got) != 1 || !slices.Equal(got[0], []wagate.EndpointRef{second}) {
		t.Errorf("wake-ups after enabling an endpoint with a pending delivery: %v", got)
	}
	ds, _ := w.next(db)
	failed := *ds[0].Delivery
	failed.Status, failed.At = wagate.DeliveryFailed, w.clock.Now()
	mustOK(t, db.FinishAttempt(w.ctx, &failed, ""))
	if got := woken.take(); len(got) != 0 {
		t.Errorf("a failed attempt woke the deliverer: %v", got)
	}
	_, err = db.RetryDelivery(w.ctx, w.ep, failed.ID, time.Time{})
	mustOK(t, err)
	if got := woken.take(); len(got) != 1 || !slices.Equal(got[0], []wagate.EndpointRef{w.ep}) {
		t.Errorf("wake-ups after a retry: %v, want the endpoint", got)
	}
}

// Concurrent accepts share group commits, a seeded third of which fail,
// and a batch's requests then run again alone: every accepted message has
// exactly one message.queued event, a refused one none, and no event is
// written twice.
func TestEventsInFailingGroupCommits(t *testing.T) {
	const workers, each = 16, 8
	seed := mathrand.Uint64()
	t.Logf("seed %d", seed)
	var (
		mu    sync.Mutex
		rng   = mathrand.New(mathrand.NewPCG(seed, seed))
		armed bool
	)
	w := newOutboxWorld(t)
	db := w.open(Options{FailCommit: func(op string) error {
		mu.Lock()
		defer mu.Unlock()
		if armed && op == "accept" && rng.IntN(3) == 0 {
			return syscall.ENOSPC
		}
		return nil
	}})
	w.setUp(db, 1000)
	_, err := db.UpdateEndpoint(w.ctx, w.ep, func(e *wagate.Endpoint) error { e.Events = []string{wagate.EventMessageQueued}; return nil })
	mustOK(t, err)
	mu.Lock()
	armed = true
	mu.Unlock()
	var (
		accepted sync.Map // message id -> committed
		wg       sync.WaitGroup
	)
	for i := range workers {
		wg.Go(func() {
			for j := range each {
				id, err := testIDs.Next(w.clock.Now())
				if err != nil {
					t.Error(err)
					return
				}
				_, err = db.Accept(w.ctx, &wagate.Accept{WorkspaceID: w.ws, Attempt: &wagate.Attempt{},
					Message: &wagate.Message{ID: id, AccountPhone: outboxPhone, JID: "14155550100@s.whatsapp.net", Text: fmt.Sprintf("w%d m%d", i, j), Credits: 1}})
				accepted.Store(id, err == nil)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	armed = false
	mu.Unlock()

	ds, _, err := db.NextDeliveries(w.ctx, w.ep, w.clock.Now(), workers*each*2)
	mustOK(t, err)
	counts, ids := map[string]int{}, map[string]bool{}
	for _, d := range ds {
		counts[d.Event.Message.ID]++
		if ids[d.Event.ID] {
			t.Errorf("event id %s written twice", d.Event.ID)
		}
		ids[d.Event.ID] = true
	}
	ok, failed := 0, 0
	accepted.Range(func(k, v any) bool {
		want := 0
		if v.(bool) {
			want, ok = 1, ok+1
		} else {
			failed++
		}
		if counts[k.(string)] != want {
			t.Errorf("message %s (committed %v) has %d message.queued events, want %d", k, v, counts[k.(string)], want)
		}
		return true
	})
	if ok == 0 || failed == 0 {
		t.Fatalf("%d accepted, %d failed: the seed did not mix successes and faults", ok, failed)
	}
}
