package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// The committer's batch rules, driven one batch at a time by calling
// commit directly on a real bbolt file: which requests share a batch would
// otherwise depend on scheduling.

// openBolt opens a bare bbolt file with one bucket "t".
func openBolt(t *testing.T) *bolt.DB {
	t.Helper()
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bdb.Close() })
	if err := bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("t"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return bdb
}

// putReq returns a request that writes key, counting its runs in *runs.
func putReq(ctx context.Context, key string, runs *int, fail error) *commitReq {
	return &commitReq{ctx: ctx, op: "test", done: make(chan error, 1), fn: func(tx *bolt.Tx) error {
		*runs++
		if err := tx.Bucket([]byte("t")).Put([]byte(key), []byte("v")); err != nil {
			return err
		}
		return fail
	}}
}

func keys(t *testing.T, bdb *bolt.DB) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	if err := bdb.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("t")).ForEach(func(k, _ []byte) error {
			got[string(k)] = true
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCommitterFailingFunctionFailsAlone(t *testing.T) {
	bdb := openBolt(t)
	c := &committer{bolt: bdb}
	ctx := t.Context()
	var runs [3]int
	boom := errors.New("boom")
	batch := []*commitReq{putReq(ctx, "a", &runs[0], nil), putReq(ctx, "b", &runs[1], boom), putReq(ctx, "c", &runs[2], nil)}
	c.commit(batch)
	for i, want := range []error{nil, boom, nil} {
		if err := <-batch[i].done; !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("request %d: err %v, want %v", i, err, want)
		}
	}
	// a ran in the rolled-back batch and again with c; c never ran in the
	// batch (b failed first); b ran in the batch and once alone.
	if runs != [3]int{2, 2, 1} {
		t.Errorf("runs = %v, want [2 2 1]", runs)
	}
	if got := keys(t, bdb); !got["a"] || got["b"] || !got["c"] {
		t.Errorf("keys after commit = %v, want a and c only", got)
	}
}

// TestCommitterOthersCommitTogetherAfterAFailure: after one function fails,
// the rest share one Update again rather than one each.
func TestCommitterOthersCommitTogetherAfterAFailure(t *testing.T) {
	bdb := openBolt(t)
	c := &committer{bolt: bdb}
	var runs [4]int
	txs := map[*bolt.Tx]int{} // holding the pointers keeps them distinct
	batch := make([]*commitReq, len(runs))
	for i := range batch {
		var fail error
		if i == 1 {
			fail = errors.New("boom")
		}
		r := putReq(t.Context(), string(rune('a'+i)), &runs[i], fail)
		fn := r.fn
		r.fn = func(tx *bolt.Tx) error {
			txs[tx]++
			return fn(tx)
		}
		batch[i] = r
	}
	c.commit(batch)
	for _, r := range batch {
		<-r.done
	}
	// The first Update (a, b), b alone, then a, c and d in one Update.
	if len(txs) != 3 {
		t.Errorf("%d transactions, want 3", len(txs))
	}
	// The stats count each Update and the functions it was given: 4 in
	// the rolled-back one, 1, then 3.
	if st := (&DB{commits: c}).CommitStats(); st.Commits != 3 || st.Functions != 8 || st.Busy <= 0 {
		t.Errorf("CommitStats = %+v, want 3 commits carrying 8 functions and some busy time", st)
	}
	if got := keys(t, bdb); !got["a"] || got["b"] || !got["c"] || !got["d"] {
		t.Errorf("keys = %v, want a, c and d", got)
	}
}

func TestCommitterOneBatchOneUpdate(t *testing.T) {
	bdb := openBolt(t)
	c := &committer{bolt: bdb}
	var runs [4]int
	txIDs := map[int]bool{}
	batch := make([]*commitReq, len(runs))
	for i := range batch {
		r := putReq(t.Context(), string(rune('a'+i)), &runs[i], nil)
		fn := r.fn
		r.fn = func(tx *bolt.Tx) error {
			txIDs[tx.ID()] = true
			return fn(tx)
		}
		batch[i] = r
	}
	c.commit(batch)
	for i, r := range batch {
		if err := <-r.done; err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if runs != [4]int{1, 1, 1, 1} {
		t.Errorf("runs = %v, want each function run once", runs)
	}
	if len(txIDs) != 1 {
		t.Errorf("functions ran in %d transactions, want 1", len(txIDs))
	}
	if got := keys(t, bdb); len(got) != 4 {
		t.Errorf("keys = %v, want 4", got)
	}
}

func TestCommitterSkipsCallerThatGaveUp(t *testing.T) {
	bdb := openBolt(t)
	c := &committer{bolt: bdb}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var runs [2]int
	batch := []*commitReq{putReq(ctx, "gone", &runs[0], nil), putReq(t.Context(), "here", &runs[1], nil)}
	c.commit(batch)
	err := <-batch[0].done
	if !errors.Is(err, context.Canceled) || wagate.ErrorCode(err) != wagate.EUNAVAILABLE {
		t.Errorf("cancelled caller: err %v, want EUNAVAILABLE wrapping context.Canceled", err)
	}
	if err := <-batch[1].done; err != nil {
		t.Errorf("live caller: %v", err)
	}
	if runs[0] != 0 {
		t.Errorf("a cancelled caller's function ran %d times, want 0", runs[0])
	}
	if got := keys(t, bdb); got["gone"] || !got["here"] {
		t.Errorf("keys = %v, want here only", got)
	}
}

func TestCommitterPanicFailsOnlyItsCaller(t *testing.T) {
	bdb := openBolt(t)
	c := &committer{bolt: bdb}
	var runs int
	ok := putReq(t.Context(), "ok", &runs, nil)
	bad := &commitReq{ctx: t.Context(), op: "test", done: make(chan error, 1), fn: func(*bolt.Tx) error { panic("bug") }}
	c.commit([]*commitReq{ok, bad})
	if err := <-ok.done; err != nil {
		t.Errorf("ok: %v", err)
	}
	if err := <-bad.done; err == nil {
		t.Error("a panicking function committed without error")
	}
	if !keys(t, bdb)["ok"] {
		t.Error("the other function's write is missing")
	}
}

func TestCommitterStopFailsPending(t *testing.T) {
	bdb := openBolt(t)
	c := &committer{bolt: bdb, stopped: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	var runs [2]int
	c.queue = []*commitReq{putReq(t.Context(), "a", &runs[0], nil), putReq(t.Context(), "b", &runs[1], nil)}
	pending := append([]*commitReq(nil), c.queue...)
	c.closed = true // stopped before the goroutine took the queue
	go c.loop()
	<-c.stopped
	for i, r := range pending {
		if err := <-r.done; wagate.ErrorCode(err) != wagate.EUNAVAILABLE {
			t.Errorf("pending %d: err %v, want EUNAVAILABLE", i, err)
		}
	}
	if runs != [2]int{} || len(keys(t, bdb)) != 0 {
		t.Errorf("runs %v, keys %v: nothing should have run", runs, keys(t, bdb))
	}
	c.stop() // idempotent
	if err := c.do(t.Context(), "late", func(*bolt.Tx) error { return nil }); wagate.ErrorCode(err) != wagate.EUNAVAILABLE {
		t.Errorf("write after stop: err %v, want EUNAVAILABLE", err)
	}
}

func TestWriteAfterCloseIsUnavailable(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "w.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err = db.RecordAttempt(t.Context(), "ws", &wagate.Attempt{RequestID: "r", Code: wagate.EINVALID})
	if wagate.ErrorCode(err) != wagate.EUNAVAILABLE {
		t.Errorf("RecordAttempt after Close: %v, want EUNAVAILABLE", err)
	}
}

// TestConcurrentFaultsFailAlone runs many writers through the real
// committer while one kind of write always fails: the failures stay with
// their callers and every other write commits.
func TestConcurrentFaultsFailAlone(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "f.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Go(func() {
			errs[i] = db.commits.do(t.Context(), "w", func(tx *bolt.Tx) error {
				if i%4 == 0 {
					return syscall.ENOSPC
				}
				return tx.Bucket(bucketMeta).Put([]byte{'k', byte(i)}, []byte("v"))
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (i%4 == 0) != errors.Is(err, syscall.ENOSPC) || (i%4 != 0 && err != nil) {
			t.Errorf("writer %d: err %v", i, err)
		}
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		for i := range errs {
			if got := tx.Bucket(bucketMeta).Get([]byte{'k', byte(i)}) != nil; got != (i%4 != 0) {
				t.Errorf("writer %d: stored %v", i, got)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
