package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
	"github.com/wagate/wagate/store/storetest"
)

// The group commit's rules, driven deterministically: the tests hand a
// batch to commitBatch themselves instead of hoping that racing callers
// form one.

var testIDs = wagate.NewMessageIDs(rand.Reader)

// batchWorld is a store with workspaces of credits, each with the account
// +14155552671.
type batchWorld struct {
	t   *testing.T
	db  *DB
	now time.Time
}

func newBatchWorld(t *testing.T, fault func(string) error) *batchWorld {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	db := openContract(t, pgtest.Clone(t, migratedTemplate), storetest.Env{Now: func() time.Time { return now }, Fault: fault})
	return &batchWorld{t: t, db: db, now: now}
}

func (w *batchWorld) workspace(id string, credits int64) {
	w.t.Helper()
	ctx := context.Background()
	tok, _ := wagate.NewToken(rand.Reader)
	if err := w.db.CreateWorkspace(ctx, &wagate.Workspace{ID: id, Name: id, Credits: credits, Webhook: wagate.Webhook{Token: tok, Enabled: true}}, nil); err != nil {
		w.t.Fatalf("CreateWorkspace: %v", err)
	}
	if err := w.db.CreateAccount(ctx, &wagate.Account{WorkspaceID: id, Phone: "+14155552671", Transport: wagate.TransportDryrun, Active: true}); err != nil {
		w.t.Fatalf("CreateAccount: %v", err)
	}
}

// job is an accept of credits from ws's account, ready for commitBatch.
func (w *batchWorld) job(ws string, credits int64) *acceptJob {
	w.t.Helper()
	id, err := testIDs.Next(w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	return &acceptJob{ctx: context.Background(), now: w.now, done: make(chan struct{}), a: &wagate.Accept{
		WorkspaceID: ws,
		Message:     &wagate.Message{ID: id, AccountPhone: "+14155552671", JID: "14155550100@s.whatsapp.net", Text: "hi", Credits: credits, CreatedAt: w.now},
		Attempt:     &wagate.Attempt{RequestID: "req-" + id},
	}}
}

func (w *batchWorld) balance(ws string) int64 {
	w.t.Helper()
	got, err := w.db.FindWorkspace(context.Background(), ws)
	if err != nil {
		w.t.Fatalf("FindWorkspace: %v", err)
	}
	return got.Credits
}

func (w *batchWorld) attempts(ws string) []*wagate.Attempt {
	w.t.Helper()
	list, err := w.db.ListAttempts(context.Background(), ws, 0)
	if err != nil {
		w.t.Fatalf("ListAttempts: %v", err)
	}
	return list
}

func TestBatchClientFaultIsAResultAndARealErrorRerunsAlone(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	ok1, poor, ok2 := w.job("ws_a", 3), w.job("ws_a", 50), w.job("ws_a", 4)
	dup := w.job("ws_a", 1)
	dup.a.Message.ID = ok1.a.Message.ID // a real error: the id is taken when it runs
	w.db.commitBatch([]*acceptJob{ok1, poor, dup, ok2})
	for _, j := range []*acceptJob{ok1, ok2} {
		if j.err != nil || j.run.outcome != nil || j.run.res == nil {
			t.Errorf("job %s: err %v outcome %v, want it accepted", j.a.Message.ID, j.err, j.run.outcome)
		}
	}
	if poor.err != nil || wagate.ErrorCode(poor.run.outcome) != wagate.ECREDITS {
		t.Errorf("the poor job: err %v outcome %v, want the ECREDITS outcome as its result", poor.err, poor.run.outcome)
	}
	if wagate.ErrorCode(dup.err) != wagate.EINTERNAL || !strings.Contains(dup.err.Error(), "already taken") {
		t.Errorf("the duplicate job: %v, want its own EINTERNAL after running alone", dup.err)
	}
	if b := w.balance("ws_a"); b != 3 {
		t.Errorf("balance %d, want 3 (10 - 3 - 4: the refused and the failed charged nothing)", b)
	}
	// The two accepts and the refusal each wrote their attempt; the failed
	// request wrote none.
	if got := w.attempts("ws_a"); len(got) != 3 || got[1].Code != wagate.ECREDITS {
		t.Errorf("%d attempts, want 3 with the ECREDITS one among them: %+v", len(got), got)
	}
}

func TestBatchWhoseCommitFailsRerunsEachRequestAlone(t *testing.T) {
	var (
		armed atomic.Bool // the set-up's writes do not count
		calls atomic.Int32
	)
	fault := func(string) error {
		if armed.Load() && calls.Add(1) == 1 {
			return errors.New("disk full")
		}
		return nil
	}
	w := newBatchWorld(t, fault)
	w.workspace("ws_a", 10)
	armed.Store(true)
	jobs := []*acceptJob{w.job("ws_a", 1), w.job("ws_a", 2), w.job("ws_a", 3)}
	w.db.commitBatch(jobs)
	for _, j := range jobs {
		if j.err != nil || j.run.outcome != nil {
			t.Errorf("job %s: err %v outcome %v, want it committed when run alone", j.a.Message.ID, j.err, j.run.outcome)
		}
	}
	armed.Store(false)
	if n := calls.Load(); n != 4 {
		t.Errorf("%d commits tried, want 4: the batch, then each of the 3 alone", n)
	}
	if b := w.balance("ws_a"); b != 4 {
		t.Errorf("balance %d, want 4: each request charged once", b)
	}
	if got := w.attempts("ws_a"); len(got) != 3 {
		t.Errorf("%d attempts, want 3: nothing of the failed batch stayed", len(got))
	}
}

func TestBatchLocksWorkspacesInIDOrder(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_b", 10)
	w.workspace("ws_a", 10)
	b1, a1, b2, a2 := w.job("ws_b", 1), w.job("ws_a", 1), w.job("ws_b", 1), w.job("ws_a", 1)
	w.db.commitBatch([]*acceptJob{b1, a1, b2, a2})
	// Messages are numbered as they are written: the order the batch ran.
	rows, err := w.db.pool.Query(context.Background(), `SELECT id FROM messages ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	want := []string{a1.a.Message.ID, a2.a.Message.ID, b1.a.Message.ID, b2.a.Message.ID}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("written in the order %v, want %v: by workspace id, each workspace's requests in arrival order", got, want)
	}
}

func TestAcceptAfterCloseIsUnavailable(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	if err := w.db.Close(); err != nil {
		t.Fatal(err)
	}
	j := w.job("ws_a", 1)
	_, err := w.db.Accept(context.Background(), j.a)
	if wagate.ErrorCode(err) != wagate.EUNAVAILABLE {
		t.Errorf("Accept after Close: %v, want EUNAVAILABLE", err)
	}
}

// Two replicas accepting at once for the same workspaces, in every order:
// their committers lock workspaces in id order, so no transaction is
// chosen as a deadlock victim (it would come back as EUNAVAILABLE), and
// each workspace's balance is spent exactly once.
func TestReplicasAcceptingTogetherNeitherDeadlockNorOverdraw(t *testing.T) {
	url := pgtest.Clone(t, migratedTemplate)
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	env := storetest.Env{Now: func() time.Time { return now }}
	first := &batchWorld{t: t, db: openContract(t, url, env), now: now}
	second := &batchWorld{t: t, db: openContract(t, url, env), now: now}
	spaces := []string{"ws_c", "ws_a", "ws_b"}
	for _, ws := range spaces {
		first.workspace(ws, 40)
	}
	const perReplica = 90 // 180 accepts of 1 credit for 120 credits
	var accepted, refused atomic.Int32
	done := make(chan struct{})
	for r, w := range []*batchWorld{first, second} {
		for i := range perReplica {
			go func() {
				defer func() { done <- struct{}{} }()
				ws := spaces[(i+r)%len(spaces)]
				_, err := w.db.Accept(context.Background(), w.job(ws, 1).a)
				switch wagate.ErrorCode(err) {
				case "":
					accepted.Add(1)
				case wagate.ECREDITS:
					refused.Add(1)
				default:
					t.Errorf("Accept on %s: %v, want it accepted or refused for credits", ws, err)
				}
			}()
		}
	}
	for range 2 * perReplica {
		<-done
	}
	if a, r := accepted.Load(), refused.Load(); a != 120 || r != 60 {
		t.Errorf("%d accepted and %d refused, want 120 and 60", a, r)
	}
	for _, ws := range spaces {
		if b := first.balance(ws); b != 0 {
			t.Errorf("%s: balance %d, want 0", ws, b)
		}
	}
}

// A real error retries the rest of the batch together, without savepoints,
// and CommitStats counts every transaction of accepts and what it carried.
func TestCommitStatsCountTheBatchRetriedWithoutTheFailingRequest(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	ok1, poor, ok2 := w.job("ws_a", 3), w.job("ws_a", 50), w.job("ws_a", 4)
	dup := w.job("ws_a", 1)
	dup.a.Message.ID = ok1.a.Message.ID
	before := w.db.CommitStats()
	w.db.commitBatch([]*acceptJob{ok1, dup, poor, ok2})
	got := w.db.CommitStats().Minus(before)
	// The try that dup aborted, the retry of ok1, poor and ok2 together,
	// and dup alone, which fails again.
	if got.Commits != 3 || got.Functions != 3 {
		t.Errorf("%d transactions carrying %d accepts, want 3 carrying 3: the retry commits the three others in one", got.Commits, got.Functions)
	}
	if got.Busy <= 0 {
		t.Errorf("busy %s, want the time spent in those transactions", got.Busy)
	}
	if wagate.ErrorCode(dup.err) != wagate.EINTERNAL || ok1.err != nil || ok2.err != nil {
		t.Errorf("dup %v, ok1 %v, ok2 %v: want only dup failing", dup.err, ok1.err, ok2.err)
	}
}
