package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
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
//   - each request runs in a savepoint, so a real error (a lost connection
//     aside) in one rolls back only that request, which then runs again
//     alone in a transaction of its own and gets its own answer;
//   - client faults (no credits, a reused key…) are outcomes, not errors:
//     they commit their attempt with the batch and are returned as results;
//   - a batch runs its requests in workspace id order, so two committers
//     lock workspaces in the same order and never deadlock;
//   - when the batch's commit fails, every request in it runs again alone;
//   - a batch that queued messages sends one NOTIFY (notify.go) with its
//     commit, for the other replicas' senders.
//
// A single waiting request runs alone at once: no savepoint, no wait.

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

// commitBatch commits the jobs and answers each of them.
func (db *DB) commitBatch(batch []*acceptJob) {
	if len(batch) == 1 {
		db.commitAlone(batch[0])
		return
	}
	slices.SortStableFunc(batch, func(x, y *acceptJob) int { return strings.Compare(x.a.WorkspaceID, y.a.WorkspaceID) })
	runs := make([]acceptRun, len(batch))
	alone := make([]bool, len(batch))
	ctx := context.Background() // one caller's cancel must not fail the others

	var woken []wagate.EndpointRef // the outbox's wake-ups (event.go)
	err := pgx.BeginFunc(ctx, db.pool, func(ptx pgx.Tx) error {
		tx := &wakeTx{Tx: ptx, refs: &woken}
		if err := pruneIdempotency(ctx, tx, batch[0].now, idempotencyPruneMax); err != nil {
			return err
		}
		for i, j := range batch {
			sp, err := tx.Begin(ctx) // a savepoint
			if err != nil {
				return err
			}
			run, err := db.acceptOne(ctx, sp, j.a, j.now)
			if err != nil {
				if rerr := sp.Rollback(ctx); rerr != nil {
					return rerr // the transaction is lost: every request reruns
				}
				alone[i] = true
				continue
			}
			if err := sp.Commit(ctx); err != nil {
				return err
			}
			runs[i] = run
		}
		// One wake-up for the whole batch, delivered if it commits.
		if err := notifyQueued(ctx, tx, acceptedRefs(runs)); err != nil {
			return err
		}
		if db.failCommit != nil {
			return db.failCommit("accept")
		}
		return nil
	})
	if err == nil {
		db.wake(woken)
	}
	for i, j := range batch {
		if err != nil || alone[i] {
			db.commitAlone(j)
			continue
		}
		j.run = runs[i]
		close(j.done)
	}
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
	j.err = db.update(ctx, "accept", func(tx pgx.Tx) error {
		if err := pruneIdempotency(ctx, tx, j.now, idempotencyPruneMax); err != nil {
			return err
		}
		var err error
		if run, err = db.acceptOne(ctx, tx, j.a, j.now); err != nil {
			return err
		}
		return notifyQueued(ctx, tx, acceptedRefs([]acceptRun{run}))
	})
	if j.err == nil {
		j.run = run
	}
}
