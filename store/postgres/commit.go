package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// Group commit.
//
// One transaction per accept serialises on the workspace's row: every
// accept of a workspace charges its balance, so each waits for the commit
// of the one before. Measured for issue 15, one transaction per request
// reached ~2k accepts/s with a p99 of ~1 s for one workspace; sending a
// batch of accepts in one transaction reached ~16k/s with a p99 of ~7 ms.
// So Accept hands its request to a committer, and a committer takes every
// request waiting at that moment (up to maxBatch) into one transaction:
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
//     commit, for the other replicas' senders.
//   - a batch reads each workspace, account and chat once and sends its
//     writes in one pipelined round trip (acceptTx, accepttx.go), so it
//     costs a few round trips in all instead of nine per accept.
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
}

// committers starts n committers; Close stops them.
func (db *DB) startCommitters(n int) {
	db.jobs = make(chan *acceptJob)
	db.stop = make(chan struct{})
	for range n {
		db.wg.Go(db.committer)
	}
}

func (db *DB) committer() {
	for {
		var job *acceptJob
		select {
		case <-db.stop:
			return
		case job = <-db.jobs:
		}
		batch := []*acceptJob{job}
	collect:
		for len(batch) < maxBatch {
			select {
			case j := <-db.jobs:
				batch = append(batch, j)
			default:
				break collect
			}
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
	select {
	case db.jobs <- job:
	case <-db.stop:
		return nil, unavailable("accept", errClosed)
	case <-ctx.Done():
		return nil, unavailable("accept", ctx.Err())
	}
	// Once handed over the request may commit: wait for its answer even if
	// the caller gives up, so a 200 is never lost to a cancel.
	<-job.done
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
	runs := make([]acceptRun, len(batch))
	failed := -1
	ctx := context.Background() // one caller's cancel must not fail the others
	start := time.Now()
	var woken []wagate.EndpointRef // the outbox's wake-ups (event.go)
	err := pgx.BeginFunc(ctx, db.pool, func(ptx pgx.Tx) error {
		tx := newAcceptTx(&wakeTx{Tx: ptx, refs: &woken})
		tx.job = -1
		queuePrune(tx, batch[0].now)
		for i, j := range batch {
			tx.job = i
			run, err := db.acceptOne(ctx, tx, j.a, j.now)
			if err != nil {
				failed = culprit(i, err)
				return err
			}
			runs[i] = run
		}
		// One wake-up for the whole batch, delivered if it commits, sent
		// with the batch's writes.
		tx.job = -1
		queueNotify(tx, acceptedRefs(runs))
		if err := tx.flush(ctx); err != nil {
			failed = culprit(-1, err)
			return err
		}
		if db.failCommit != nil {
			return db.failCommit("accept")
		}
		return nil
	})
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
	var run acceptRun
	ctx := context.WithoutCancel(j.ctx) // handed over: it runs to its answer
	start := time.Now()
	defer func() {
		if j.err != nil {
			db.counters.add(0, start)
		} else {
			db.counters.add(1, start)
		}
	}()
	j.err = db.update(ctx, "accept", func(ptx pgx.Tx) error {
		tx := newAcceptTx(ptx)
		queuePrune(tx, j.now)
		var err error
		if run, err = db.acceptOne(ctx, tx, j.a, j.now); err != nil {
			return err
		}
		queueNotify(tx, acceptedRefs([]acceptRun{run}))
		return tx.flush(ctx)
	})
	if j.err == nil {
		j.run = run
	}
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
