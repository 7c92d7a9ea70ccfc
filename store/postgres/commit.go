package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate"
)

// Group commit.
//
// One transaction per accept serialises on the workspace's row: every
// accept of a workspace charges its balance, so each waits for the commit
// of the one before. Measured for issue 15, one transaction per request
// reached ~2k accepts/s with a p99 of ~1 s for one workspace; sending a
// batch of accepts in one transaction reached ~16k/s with a p99 of ~7 ms.
// So Accept hands its request to the committer its workspace hashes to
// (below), and a committer takes every request waiting for it at that
// moment (up to maxBatch) into one transaction:
//
//   - a real error in one request (a lost connection aside) aborts the
//     transaction; the batch is tried again without that request, which
//     then runs alone in a transaction of its own and gets its own answer
//     (no savepoint per request: SAVEPOINT and RELEASE were two of the
//     nine round trips an accept cost, and errors are rare);
//   - client faults (no credits, a reused key…) are outcomes, not errors:
//     they commit their attempt with the batch and are returned as results;
//   - a batch runs its requests in workspace id order, so two committers
//     lock workspaces in the same order and never deadlock;
//   - when the batch's commit fails, every request in it runs again alone;
//   - a batch that queued messages sends one NOTIFY (notify.go) with its
//     commit, for the other replicas' senders;
//   - a batch locks its workspaces and reads their accounts and chats in
//     one round trip that also begins the transaction, and sends its writes
//     and its COMMIT in another (acceptTx, accepttx.go; pipeTx, pipetx.go),
//     so it costs two round trips in all instead of nine per accept, and
//     its messages and its attempts go in one INSERT each.
//
// A single waiting request runs alone at once: no wait.

// maxBatch bounds one batch, so one commit stays short.
const maxBatch = 128

// acceptJob is one Accept waiting for a committer.
type acceptJob struct {
	ctx  context.Context
	a    *wagate.Accept
	now  time.Time
	run  acceptRun
	err  error
	done chan struct{}
	// taken: a committer has it (guarded by its queue's mu); from then on
	// the caller waits for its answer.
	taken bool
}

// A committer per workspace hash.
//
// Each committer has a queue of its own, and an accept goes to the queue
// its workspace's id hashes to. With one shared queue, a hot workspace's
// accepts were spread over every committer, whose batches then waited on
// each other for the workspace's row lock, held until each commit's fsync
// (BENCHMARKS.md 1b): four committers gave batches of ~13 and a p99 of
// 0.1 s. With a queue per hash, one committer holds a workspace's accepts
// of this replica, and its next batch is everything that arrived while it
// committed the last, as bbolt's single writer does; different workspaces
// still commit in parallel on different committers, and a batch of
// several workspaces still locks them in id order (commitBatch).

// commitQueue is one committer's waiting accepts.
type commitQueue struct {
	mu      sync.Mutex
	waiting []*acceptJob
	closed  bool          // Close: no more accepts; the committer ends once the queue is empty
	wake    chan struct{} // capacity 1: something was queued, or the queue closed
}

// startCommitters starts n committers, each on a queue of its own;
// stopCommitters stops them.
func (db *DB) startCommitters(n int) {
	db.queues = make([]*commitQueue, n)
	for i := range db.queues {
		q := &commitQueue{wake: make(chan struct{}, 1)}
		db.queues[i] = q
		db.wg.Go(func() { db.committer(q) })
	}
}

// stopCommitters refuses new accepts and waits for the committers to
// commit what they were given.
func (db *DB) stopCommitters() {
	for _, q := range db.queues {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		q.signal()
	}
	db.wg.Wait()
}

// queueOf is the queue of a workspace's accepts: FNV-1a of its id.
func (db *DB) queueOf(workspaceID string) *commitQueue {
	h := uint32(2166136261)
	for i := range len(workspaceID) {
		h = (h ^ uint32(workspaceID[i])) * 16777619
	}
	return db.queues[h%uint32(len(db.queues))]
}

func (q *commitQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// push queues j for the committer; false once the queue is closed.
func (q *commitQueue) push(j *acceptJob) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.waiting = append(q.waiting, j)
	q.signal()
	return true
}

// withdraw takes j back unless a committer has it already.
func (q *commitQueue) withdraw(j *acceptJob) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if j.taken {
		return false
	}
	if i := slices.Index(q.waiting, j); i >= 0 {
		q.waiting = slices.Delete(q.waiting, i, i+1)
	}
	return true
}

// next waits for accepts and takes up to maxBatch of them, oldest first;
// nil once the queue is closed and empty.
func (q *commitQueue) next() []*acceptJob {
	q.mu.Lock()
	for len(q.waiting) == 0 {
		if q.closed {
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		<-q.wake
		q.mu.Lock()
	}
	n := min(len(q.waiting), maxBatch)
	batch := slices.Clone(q.waiting[:n])
	for _, j := range batch {
		j.taken = true
	}
	clear(q.waiting[:n]) // no references kept for the garbage collector
	q.waiting = slices.Delete(q.waiting, 0, n)
	q.mu.Unlock()
	return batch
}

func (db *DB) committer(q *commitQueue) {
	for {
		batch := q.next()
		if batch == nil {
			return
		}
		db.commitBatch(batch)
	}
}

// errClosed answers an Accept made after Close.
var errClosed = errors.New("the store is closed")

// Accept commits an inbound request in one transaction shared with the
// requests arriving at the same time (see Group commit above): the
// idempotency check, the account and chat checks, the credit charge, the
// message, the chat if new, the idempotency record and the attempt record.
// Client faults commit only the attempt and are returned after the commit;
// a replay commits only the attempt. Storage faults commit nothing and are
// EUNAVAILABLE. The caller's Attempt is filled from the run that committed.
func (db *DB) Accept(ctx context.Context, a *wagate.Accept) (*wagate.AcceptResult, error) {
	if a == nil || a.Message == nil || a.Message.ID == "" || a.Message.Credits < 0 {
		return nil, wagate.Errorf(wagate.EINTERNAL, "postgres: Accept needs a message with an id and credits >= 0")
	}
	if err := ctx.Err(); err != nil {
		return nil, unavailable("accept", err)
	}
	job := &acceptJob{ctx: ctx, a: a, now: db.now(), done: make(chan struct{})}
	q := db.queueOf(a.WorkspaceID)
	if !q.push(job) {
		return nil, unavailable("accept", errClosed)
	}
	if db.queued != nil {
		db.queued(job)
	}
	select {
	case <-job.done:
	case <-ctx.Done():
		if q.withdraw(job) {
			return nil, unavailable("accept", ctx.Err())
		}
		// Once a committer has it the request may commit: wait for its
		// answer even if the caller gives up, so a 200 is never lost to a
		// cancel.
		<-job.done
	}
	if job.err != nil {
		return nil, job.err
	}
	if att := job.run.att; att != nil && a.Attempt != nil {
		a.Attempt.Code, a.Attempt.Message, a.Attempt.MessageID, a.Attempt.Credits = att.Code, att.Message, att.MessageID, att.Credits
	}
	if job.run.outcome != nil {
		return nil, job.run.outcome
	}
	return job.run.res, nil
}

// commitBatch commits the jobs and answers each of them. The batch runs
// without savepoints (a savepoint and its release are two more round trips
// per request): a real error of one request aborts the transaction, and
// the batch is tried again without that request, which runs alone after
// it. Errors are rare (client faults are outcomes, not errors), so the
// common batch costs one transaction and no savepoint.
func (db *DB) commitBatch(batch []*acceptJob) {
	slices.SortStableFunc(batch, func(x, y *acceptJob) int { return strings.Compare(x.a.WorkspaceID, y.a.WorkspaceID) })
	var failed []*acceptJob
	for len(batch) > 1 {
		i, err := db.tryBatch(batch)
		if err == nil {
			batch = nil
			break
		}
		if i < 0 {
			break // the transaction was lost (its commit, the connection): each runs alone
		}
		failed = append(failed, batch[i])
		batch = slices.Delete(batch, i, i+1)
	}
	for _, j := range batch {
		db.commitAlone(j)
	}
	for _, j := range failed {
		db.commitAlone(j)
	}
}

// tryBatch runs the whole batch in one transaction and, when it commits,
// answers every job. Otherwise it answers none and returns the index of
// the job whose error aborted the transaction (-1 when none did) and the
// error.
func (db *DB) tryBatch(batch []*acceptJob) (int, error) {
	ctx := context.Background() // one caller's cancel must not fail the others
	start := time.Now()
	runs, woken, failed, err := db.runAccepts(ctx, batch)
	if err != nil {
		db.counters.add(0, start)
		return failed, err
	}
	db.counters.add(len(batch), start)
	db.wake(woken)
	for i, j := range batch {
		j.run = runs[i]
		close(j.done)
	}
	return -1, nil
}

// commitAlone commits one job in a transaction of its own.
func (db *DB) commitAlone(j *acceptJob) {
	defer close(j.done)
	if err := j.ctx.Err(); err != nil {
		j.err = unavailable("accept", err)
		return
	}
	ctx := context.WithoutCancel(j.ctx) // handed over: it runs to its answer
	start := time.Now()
	runs, woken, _, err := db.runAccepts(ctx, []*acceptJob{j})
	if err != nil {
		db.counters.add(0, start)
		j.err = unavailable("accept", err)
		return
	}
	db.counters.add(1, start)
	db.wake(woken)
	j.run = runs[0]
}

// runAccepts runs the batch, in workspace id order, in one transaction of
// two round trips when nothing needs more (pipeTx, acceptTx): BEGIN, the
// locks and the reads; then the writes and COMMIT. It returns each job's
// run and the outbox's wake-ups; or the index of the job whose error
// aborted the transaction (-1 when none did) and the error, having rolled
// it back.
func (db *DB) runAccepts(ctx context.Context, batch []*acceptJob) (runs []acceptRun, woken []wagate.EndpointRef, failed int, err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, -1, err
	}
	pipe := &pipeTx{conn: conn.Conn()}
	defer func() {
		_ = pipe.Rollback(ctx) // nothing when it committed
		conn.Release()         // the pool drops a connection left in a transaction
	}()
	tx := newAcceptTx(&wakeTx{Tx: pipe, refs: &woken})
	tx.pipe, tx.job = pipe, -1
	if err := tx.prefetch(ctx, batch); err != nil {
		return nil, nil, -1, err
	}
	queuePrune(tx, batch[0].now)
	runs = make([]acceptRun, len(batch))
	for i, j := range batch {
		tx.job = i
		if runs[i], err = db.acceptOne(ctx, tx, j.a, j.now); err != nil {
			return nil, nil, culprit(i, err), err
		}
	}
	// One wake-up for the whole batch, delivered if it commits, sent with
	// the batch's writes.
	tx.job = -1
	queueNotify(tx, acceptedRefs(runs))
	if db.failCommit != nil {
		if err := db.failCommit("accept"); err != nil {
			return nil, nil, -1, err
		}
	}
	if err := tx.commit(ctx); err != nil {
		return nil, nil, culprit(-1, err), err
	}
	return runs, woken, -1, nil
}

// commitCounters feed CommitStats; every committer adds to them.
type commitCounters struct {
	commits, functions atomic.Uint64
	busyNanos          atomic.Int64
}

// add counts one transaction of accepts that began at start and carried n
// of them (0 when it rolled back: its accepts are counted again alone).
func (c *commitCounters) add(n int, start time.Time) {
	c.busyNanos.Add(int64(time.Since(start)))
	c.commits.Add(1)
	c.functions.Add(uint64(n))
}

// CommitStats counts the transactions of accepts since Open (see
// wagate.CommitStats): Functions/Commits is the mean batch. With several
// committers Busy grows faster than the clock: up to Options.Committers
// seconds a second when every committer is always busy.
func (db *DB) CommitStats() wagate.CommitStats {
	c := &db.counters
	return wagate.CommitStats{Commits: c.commits.Load(), Functions: c.functions.Load(), Busy: time.Duration(c.busyNanos.Load())}
}
