package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Group commit.
//
// Every hot-path write (Accept, RecordAttempt, the sender's MarkSending and
// friends) goes through one committer goroutine instead of bbolt's DB.Batch.
// Callers enqueue their transaction function and wait; the committer takes
// every function that is waiting when the previous commit has ended and runs
// them all in ONE bolt Update, so they share its two fdatasyncs.
//
// Why not DB.Batch: Batch starts a batch with a timer (MaxBatchDelay) and
// commits when it fires or the batch is full. A lone request pays the whole
// timer on top of its fsync (1 ms of a 1.2 ms accept), and under load the
// timer adds latency without adding batching, since the writers that arrive
// while a commit is fsyncing are waiting anyway. The committer needs no
// timer: when idle, a request commits at once; under load, the batch is
// exactly what piled up during the previous fsync, which grows with the load.
//
// Semantics are bbolt Batch's: if a function returns an error (or panics),
// the whole Update is rolled back; the failing function runs again alone, in
// its own Update (so only it fails), and the others commit together again.
// A function may therefore run more than once and must reset whatever it
// captured at the start of each run (runBatch's callers do).

// maxCommitBatch bounds how many functions share one Update, so one commit
// (and the memory its dirty pages take) stays bounded under a flood. bbolt's
// MaxBatchSize default is the same.
const maxCommitBatch = 1000

// errCommitterClosed is the cause a caller gets when Close stopped the
// committer before its function ran.
var errCommitterClosed = errors.New("store is closed")

// commitReq is one caller's transaction function waiting for a commit.
type commitReq struct {
	ctx  context.Context
	op   string
	fn   func(tx *bolt.Tx) error
	done chan error // buffered: the committer never blocks on a caller
}

// committer is the single goroutine that group-commits commitReqs.
type committer struct {
	bolt *bolt.DB

	// Counters for CommitStats, written by the committer goroutine only.
	commits, functions atomic.Uint64
	busyNanos          atomic.Int64

	mu      sync.Mutex
	cond    *sync.Cond // signalled when queue grows or closed is set
	queue   []*commitReq
	closed  bool
	stopped chan struct{} // closed when the goroutine has returned
}

// startCommitter starts the committer goroutine of bdb; stop ends it.
func startCommitter(bdb *bolt.DB) *committer {
	c := &committer{bolt: bdb, stopped: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.loop()
	return c
}

// do runs fn in a group commit and returns its error, the commit's error,
// or, wrapped as EUNAVAILABLE, the caller's ctx error when ctx was done
// before fn started, or errCommitterClosed after stop.
func (c *committer) do(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	r := &commitReq{ctx: ctx, op: op, fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return unavailable(op, errCommitterClosed)
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	c.cond.Signal()
	// No select on ctx: once fn may have started, the caller waits for the
	// commit, so a 200 is never withheld from a committed message and an
	// error never stands for one that committed.
	return <-r.done
}

// stop fails every waiting caller with EUNAVAILABLE, lets the commit in
// progress (if any) finish, and waits for the goroutine to return. It is
// safe to call more than once.
func (c *committer) stop() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cond.Signal()
	<-c.stopped
}

// loop takes every waiting request after each commit and commits them
// together, until stop.
func (c *committer) loop() {
	defer close(c.stopped)
	var batch []*commitReq
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closed {
			c.cond.Wait()
		}
		if c.closed {
			pending := c.queue
			c.queue = nil
			c.mu.Unlock()
			for _, r := range pending {
				r.done <- unavailable(r.op, errCommitterClosed)
			}
			return
		}
		n := min(len(c.queue), maxCommitBatch)
		batch = append(batch[:0], c.queue[:n]...)
		// Shift rather than reslice, so the queue's backing array does not
		// creep forward and grow without bound.
		rest := copy(c.queue, c.queue[n:])
		clear(c.queue[rest:])
		c.queue = c.queue[:rest]
		c.mu.Unlock()
		c.commit(batch)
		clear(batch) // drop references to finished requests
	}
}

// commit runs batch in one Update, falling back to one Update per function
// when a function fails.
func (c *committer) commit(batch []*commitReq) {
	live := make([]*commitReq, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- unavailable(r.op, err) // gave up before its turn
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	failed := -1
	err := c.update(len(live), func(tx *bolt.Tx) error {
		for i, r := range live {
			if err := safeCall(r.fn, tx); err != nil {
				failed = i
				return err
			}
		}
		return nil
	})
	if err == nil || failed < 0 || len(live) == 1 {
		// Committed, or the commit itself failed (it failed for everyone,
		// as with DB.Batch), or the one function failed alone.
		for _, r := range live {
			r.done <- err
		}
		return
	}
	// One function failed and rolled everyone back: as bbolt's Batch does,
	// it runs again alone (and fails alone), and the others commit together
	// again, so one bad request costs one extra commit, not one per request.
	bad := live[failed]
	bad.done <- c.update(1, func(tx *bolt.Tx) error { return safeCall(bad.fn, tx) })
	rest := append(live[:failed:failed], live[failed+1:]...)
	c.commit(rest)
}

// update runs one bolt Update carrying n functions and counts it.
func (c *committer) update(n int, fn func(tx *bolt.Tx) error) error {
	start := time.Now()
	err := c.bolt.Update(fn)
	c.busyNanos.Add(int64(time.Since(start)))
	c.commits.Add(1)
	c.functions.Add(uint64(n))
	return err
}

// CommitStats counts the store's group commits since Open: how many there
// were, how many transaction functions (accepts, attempts, sends' state
// changes) they carried, and how long the writer spent in them, running
// the functions, writing and fsyncing. Functions/Commits is the mean batch;
// Busy over a span of time is how saturated the single writer was. After a
// failing function (rare: client faults are outcomes, not errors) the
// functions of the rolled-back commit are counted again in the commits
// that follow. The type is the domain's, shared with store/postgres.
type CommitStats = wagate.CommitStats

// CommitStats returns the counters of the group commit (commit.go).
func (db *DB) CommitStats() CommitStats {
	c := db.commits
	return CommitStats{Commits: c.commits.Load(), Functions: c.functions.Load(), Busy: time.Duration(c.busyNanos.Load())}
}

// safeCall runs fn, turning a panic into an error as DB.Batch did, so a bug
// in one request's function fails that request instead of the process.
func safeCall(fn func(tx *bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a write transaction: %v", p)
		}
	}()
	return fn(tx)
}
