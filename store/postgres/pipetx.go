package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipeTx is the transaction of a commit of accepts, begun and committed
// inside its pipelines: its BEGIN is sent in front of its first
// statements (the workspaces' locks and the reads, acceptTx.prefetch) and
// its COMMIT behind its last writes (acceptTx.commit), so a batch costs
// two round trips where pgx.BeginFunc adds two more (BEGIN, COMMIT). The
// commit of a hot workspace holds its row lock for those round trips
// (BENCHMARKS.md 1b): each one less shortens every commit of it.
//
// It is a pgx.Tx for the package's helpers; savepoints (Begin) and large
// objects are not offered: no accept uses them.
type pipeTx struct {
	conn  *pgx.Conn
	begun bool // BEGIN was sent
	ended bool // COMMIT or ROLLBACK ran
}

var _ pgx.Tx = (*pipeTx)(nil)

// begin sends BEGIN alone, for a statement sent before any pipeline.
func (t *pipeTx) begin(ctx context.Context) error {
	if t.begun {
		return nil
	}
	t.begun = true
	_, err := t.conn.Exec(ctx, "BEGIN")
	return err
}

// SendBatch sends b, behind a BEGIN when it is the transaction's first.
func (t *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.begun {
		return t.conn.SendBatch(ctx, b)
	}
	t.begun = true
	withBegin := &pgx.Batch{QueuedQueries: append([]*pgx.QueuedQuery{{SQL: "BEGIN"}}, b.QueuedQueries...)}
	br := t.conn.SendBatch(ctx, withBegin)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return failedBatch{BatchResults: br, err: err}
	}
	return br
}

// Commit sends COMMIT alone (acceptTx.commit sends it in its pipeline).
func (t *pipeTx) Commit(ctx context.Context) error {
	if !t.begun || t.ended {
		return nil
	}
	t.ended = true
	tag, err := t.conn.Exec(ctx, "COMMIT")
	return commitTag(tag, err)
}

// commitTag is the error of a COMMIT that answered tag: one sent in a
// failed transaction answers ROLLBACK without an error.
func commitTag(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.String() != "COMMIT" {
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// Rollback ends a transaction that did not commit. A connection it cannot
// bring back to idle is discarded by the pool on release.
func (t *pipeTx) Rollback(ctx context.Context) error {
	if !t.begun || t.ended {
		return nil
	}
	t.ended = true
	if t.conn.PgConn().TxStatus() == 'I' {
		return nil // a failed COMMIT ended it
	}
	_, err := t.conn.Exec(ctx, "ROLLBACK")
	return err
}

func (t *pipeTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("postgres: a commit of accepts takes no savepoints")
}

func (t *pipeTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.begin(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

func (t *pipeTx) LargeObjects() pgx.LargeObjects {
	panic("postgres: a commit of accepts uses no large objects")
}

func (t *pipeTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.conn.Prepare(ctx, name, sql)
}

func (t *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.begin(ctx); err != nil {
		return failedRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *pipeTx) Conn() *pgx.Conn { return t.conn }

// failedBatch answers every result of a pipeline whose BEGIN failed.
type failedBatch struct {
	pgx.BatchResults // closed
	err              error
}

func (b failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b failedBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b failedBatch) QueryRow() pgx.Row                { return failedRow{b.err} }
func (b failedBatch) Close() error                     { return b.err }

type failedRow struct{ err error }

func (r failedRow) Scan(...any) error { return r.err }
