package store

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/cloudapi"
)

// faultSwitch is an Options.FailCommit that fails one operation, by name,
// with ENOSPC (a full disk), and counts how often it did.
type faultSwitch struct {
	mu    sync.Mutex
	op    string
	calls int
}

func (s *faultSwitch) failCommit(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op != s.op {
		return nil
	}
	s.calls++
	return fmt.Errorf("injected fault: %w", syscall.ENOSPC)
}

func (s *faultSwitch) set(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.op, s.calls = op, 0
}

func (s *faultSwitch) fired() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// newFaultFixture is newFixture on a store whose writes fail on demand.
func newFaultFixture(t *testing.T, credits int64) (*fixture, *faultSwitch) {
	t.Helper()
	sw := &faultSwitch{}
	clock := newTestClock()
	path := filepath.Join(t.TempDir(), "wagate.db")
	db, err := Open(path, Options{Logger: zaptest.NewLogger(t), Now: clock.Now, FailCommit: sw.failCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkConsistent(t, db)
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	f := &fixture{t: t, ctx: t.Context(), db: db, path: path, clock: clock, phone: testPhone}
	f.ws = f.createWorkspace(credits)
	f.createAccount(f.ws.ID, testPhone, true)
	return f, sw
}

// snapshot is every key and value of the file, nested buckets included,
// one line each: two equal snapshots mean not one byte was written.
func snapshot(t *testing.T, db *DB) string {
	t.Helper()
	var lines []string
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		lines = append(lines, fmt.Sprintf("%s sequence=%d", prefix, b.Sequence()))
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(fmt.Sprintf("%s/%q", prefix, k), b.Bucket(k))
			}
			lines = append(lines, fmt.Sprintf("%s/%q = %q", prefix, k, v))
			return nil
		})
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestFailedCommitLeavesNothingWritten makes each write of the store fail
// at the last moment (every change made, the commit refused, as with a
// full disk) and checks the promise of Options.FailCommit: the caller gets
// EUNAVAILABLE with the cause kept, the file is byte for byte what it was
// (no message, no charge, no queue entry, no attempt, no half a refund),
// the audit is clean, and the same call succeeds once the fault is gone,
// so the write under test really writes.
func TestFailedCommitLeavesNothingWritten(t *testing.T) {
	const key = "order-42"
	tests := []struct {
		op      string
		prepare func(f *fixture) faultState
		act     func(f *fixture, s faultState) error
	}{
		{"accept", nil, func(f *fixture, _ faultState) error {
			a := f.request("hello", 2)
			a.IdempotencyKey = key
			res, err := f.db.Accept(f.ctx, a)
			if err == nil && res.Replayed {
				return errors.New("the retry after the fault was a replay: the failed commit left its idempotency record")
			}
			return err
		}},
		{"replay", func(f *fixture) faultState {
			a := f.request("hello", 1)
			a.IdempotencyKey = key
			return faultState{f.accept(a).Message.ID}
		}, func(f *fixture, s faultState) error {
			m, err := f.db.Replay(f.ctx, f.ws.ID, key, sha256.Sum256([]byte("hello")), &wagate.Attempt{At: f.clock.Now(), RequestID: "again"})
			if err == nil && (m == nil || m.ID != s.id) {
				return fmt.Errorf("replay = %v, want message %s", m, s.id)
			}
			return err
		}},
		{"record attempt", nil, func(f *fixture, _ faultState) error {
			return f.db.RecordAttempt(f.ctx, f.ws.ID, &wagate.Attempt{At: f.clock.Now(), RequestID: "r", Code: wagate.EINVALID, Message: "bad"})
		}},
		{"mark sending", func(f *fixture) faultState { return faultState{f.send("one")} }, func(f *fixture, s faultState) error {
			return f.db.MarkSending(f.ctx, s.id, f.clock.Now())
		}},
		{"mark sent", sendingMessage, func(f *fixture, s faultState) error {
			return f.db.MarkSent(f.ctx, s.id, wagate.Try{At: f.clock.Now(), ProviderID: "wamid.1"})
		}},
		{"mark failed", sendingMessage, func(f *fixture, s faultState) error {
			return f.db.MarkFailed(f.ctx, s.id, wagate.Try{At: f.clock.Now(), Class: wagate.TryClassPermanent, Error: "not on WhatsApp"})
		}},
		{"retry", sendingMessage, func(f *fixture, s faultState) error {
			return f.db.Retry(f.ctx, s.id, wagate.Try{At: f.clock.Now(), Error: "timeout"}, f.clock.Now())
		}},
		{"recover sending", sendingMessage, func(f *fixture, _ faultState) error {
			_, err := f.db.RecoverSending(f.ctx, f.clock.Now())
			return err
		}},
		{"apply delivery", func(f *fixture) faultState { return faultState{f.sendWith("wamid.late")} }, func(f *fixture, _ faultState) error {
			_, _, err := f.db.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.late", Status: "failed", At: f.clock.Now(), Error: "131026"}, cloudapi.Advance)
			return err
		}},
		{"add credits", nil, func(f *fixture, _ faultState) error {
			_, err := f.db.AddCredits(f.ctx, f.ws.ID, 5)
			return err
		}},
		{"regenerate webhook", nil, func(f *fixture, _ faultState) error {
			tok, err := wagate.NewToken(rand.Reader)
			if err != nil {
				return err
			}
			_, err = f.db.RegenerateWebhook(f.ctx, f.ws.ID, tok, f.clock.Now())
			return err
		}},
		{"delete account", func(f *fixture) faultState { return faultState{f.send("queued")} }, func(f *fixture, _ faultState) error {
			return f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now())
		}},
		{"create token", nil, func(f *fixture, _ faultState) error {
			tok, err := wagate.NewToken(rand.Reader)
			if err != nil {
				return err
			}
			return f.db.CreateToken(f.ctx, &wagate.Token{Hash: wagate.HashToken(tok), WorkspaceID: f.ws.ID, Role: wagate.RoleSupport, CreatedAt: f.clock.Now()})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			f, sw := newFaultFixture(t, 10)
			var s faultState
			if tt.prepare != nil {
				s = tt.prepare(f)
			}
			before := snapshot(t, f.db)
			balance := f.balance()

			sw.set(tt.op)
			err := tt.act(f, s)
			if sw.fired() == 0 {
				t.Fatalf("FailCommit was never asked about %q", tt.op)
			}
			wantCode(t, err, wagate.EUNAVAILABLE)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("error %v lost its cause", err)
			}
			if got := snapshot(t, f.db); got != before {
				t.Fatalf("a failed %q changed the file:\nbefore:\n%s\nafter:\n%s", tt.op, before, got)
			}
			if got := f.balance(); got != balance {
				t.Errorf("balance %d after the failed %q, want %d", got, tt.op, balance)
			}
			checkConsistent(t, f.db)

			sw.set("")
			if err := tt.act(f, s); err != nil {
				t.Fatalf("%q without the fault: %v", tt.op, err)
			}
			if snapshot(t, f.db) == before {
				t.Fatalf("%q without the fault wrote nothing: the test proves nothing", tt.op)
			}
		})
	}
}

// faultState is what a case's prepare hands to its act: the message made.
type faultState struct{ id string }

// sendingMessage accepts a 1-credit message and marks it sending.
func sendingMessage(f *fixture) faultState {
	id := f.send("in flight")
	mustNoErr(f.t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
	return faultState{id}
}

// TestFailedCommitsInGroupCommits: concurrent accepts share group
// commits, and bbolt runs a batch again without the call that failed, so a
// transaction function may run several times and a fault hits whole
// batches. With a seeded third of the commits failing, each request still
// ends all or nothing: a nil error means its message is queued and charged
// once, EUNAVAILABLE means no message, no charge and no attempt record.
func TestFailedCommitsInGroupCommits(t *testing.T) {
	const workers, each, credits = 16, 8, 1000
	f, _ := newFaultFixture(t, credits)
	seed := mathrand.Uint64()
	t.Logf("seed %d", seed)
	var mu sync.Mutex
	rng := mathrand.New(mathrand.NewPCG(seed, seed))
	f.db.failCommit = func(op string) error {
		mu.Lock()
		defer mu.Unlock()
		if op == "accept" && rng.IntN(3) == 0 {
			return syscall.ENOSPC
		}
		return nil
	}
	type result struct {
		id  string
		err error
	}
	results := make(chan result, workers*each)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		reqs := make([]*wagate.Accept, each)
		for i := range reqs {
			reqs[i] = f.request(fmt.Sprintf("w%d m%d", w, i), 1)
		}
		wg.Go(func() {
			for _, a := range reqs {
				_, err := f.db.Accept(f.ctx, a)
				results <- result{a.Message.ID, err}
			}
		})
	}
	wg.Wait()
	close(results)
	f.db.failCommit = nil

	ok, failed := 0, 0
	for r := range results {
		m, err := f.db.FindMessage(f.ctx, f.ws.ID, r.id)
		switch {
		case r.err == nil:
			ok++
			if err != nil || m.Status != wagate.StatusQueued {
				t.Errorf("accepted %s: %v, %v; want it queued", r.id, m, err)
			}
		case wagate.ErrorCode(r.err) == wagate.EUNAVAILABLE:
			failed++
			if wagate.ErrorCode(err) != wagate.ENOTFOUND {
				t.Errorf("message %s whose commit failed exists: %v, %v", r.id, m, err)
			}
		default:
			t.Errorf("accept %s: %v; want nil or EUNAVAILABLE", r.id, r.err)
		}
	}
	if ok == 0 || failed == 0 {
		t.Fatalf("%d accepted, %d failed: the seed did not mix successes and faults", ok, failed)
	}
	if got := f.balance(); got != credits-int64(ok) {
		t.Errorf("balance = %d after %d accepts, want %d", got, ok, credits-ok)
	}
	if n, err := f.db.QueuedTotal(f.ctx); err != nil || n != ok {
		t.Errorf("queue entries = %d, %v; want %d", n, err, ok)
	}
	if list, err := f.db.ListAttempts(f.ctx, f.ws.ID, 0); err != nil || len(list) != min(ok, wagate.AttemptLimit) {
		t.Errorf("attempt records = %d, %v; want %d (one per accepted request)", len(list), err, min(ok, wagate.AttemptLimit))
	}
	t.Logf("%d accepted, %d refused with EUNAVAILABLE", ok, failed)
}
