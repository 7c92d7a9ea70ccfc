package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

// Audit is `wagate check` on PostgreSQL: it checks the invariants of the
// database at url that its constraints cannot state, and returns one
// human-readable line per problem (none when all is well); the error is
// for a database that cannot be read at all.
//
// Unlike Open it migrates nothing and writes nothing: it reads in one
// read-only REPEATABLE READ transaction, so it sees one consistent
// snapshot and, unlike bbolt's audit, may run while replicas serve. What
// bbolt's audit checks by hand (indexes pointing at their records, queue
// entries at queued messages) PostgreSQL keeps itself, with its indexes
// and foreign keys; what is left is the domain's:
//   - the schema is the one this wagate knows, every migration applied;
//   - per workspace, credits add up: granted == balance + the credits of
//     its queued, sending and sent messages (quota.Check), and the
//     balance is not negative;
//   - no queued or sending message belongs to an account that is gone
//     (DeleteAccount fails them, with their refund);
//   - no workspace keeps more than wagate.AttemptLimit attempts.
//
// The backend's later parts add theirs here: retention's count of the
// credits of deleted sent messages (as store/retain.go keeps it), the
// outbox's deliveries, the replicas' leases.
func Audit(ctx context.Context, url string) ([]string, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may hold a password: name the problem, not the URL.
		return nil, errors.New("postgres: the database URL is not a valid postgres://user@host/database URL")
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	defer pool.Close()
	ms, err := readMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		if ok, err := auditSchema(ctx, tx, ms, report); err != nil || !ok {
			return err // the checks below need every table
		}
		return audit(ctx, tx, report)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: audit: %w", err)
	}
	return problems, nil
}

// auditSchema reports a database whose migrations are not exactly ms; ok
// is false when the other checks cannot run.
func auditSchema(ctx context.Context, tx pgx.Tx, ms []migration, report func(string, ...any)) (ok bool, err error) {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return false, err
	}
	if !exists {
		report("no wagate schema in this database (no schema_migrations table): wagate serve creates it at its first start")
		return false, nil
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return false, err
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return false, err
	}
	done := map[int]bool{}
	for _, v := range have {
		done[int(v)] = true
	}
	known := map[int]bool{}
	ok = true
	for _, m := range ms {
		known[m.version] = true
		if !done[m.version] {
			report("schema: migration %s is not applied: start this wagate's serve on the database once, it migrates at start", m.name)
			ok = false
		}
	}
	for v := range done {
		if !known[v] {
			report("schema: version %d is not one this wagate knows: the database was migrated by a newer wagate; check it with that one", v)
			ok = false
		}
	}
	return ok, nil
}

// audit runs the domain's checks in tx.
func audit(ctx context.Context, tx pgx.Tx, report func(string, ...any)) error {
	rows, err := tx.Query(ctx, `SELECT w.id, w.granted, w.balance,
			COALESCE(SUM(m.credits) FILTER (WHERE m.status IN ('queued', 'sending', 'sent')), 0)
		FROM workspaces w LEFT JOIN messages m ON m.workspace_id = w.id
		GROUP BY w.id ORDER BY w.id`)
	if err != nil {
		return err
	}
	var id string
	var granted, balance, held int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &granted, &balance, &held}, func() error {
		if balance < 0 {
			report("workspace %s: negative balance %d", id, balance)
		}
		if err := quota.Check(granted, balance, held); err != nil {
			report("workspace %s: %v", id, err)
		}
		return nil
	}); err != nil {
		return err
	}

	rows, err = tx.Query(ctx, `SELECT m.id, m.status, m.workspace_id, m.account_phone FROM messages m
		WHERE m.status IN ('queued', 'sending')
		AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.workspace_id = m.workspace_id AND a.phone = m.account_phone)
		ORDER BY m.seq`)
	if err != nil {
		return err
	}
	var msg, status, ws, phone string
	if _, err := pgx.ForEachRow(rows, []any{&msg, &status, &ws, &phone}, func() error {
		report("message %s is %s, but its account %s is no longer in workspace %s (deleting an account fails its queue)", msg, status, phone, ws)
		return nil
	}); err != nil {
		return err
	}

	rows, err = tx.Query(ctx, `SELECT workspace_id, count(*) FROM attempts GROUP BY workspace_id HAVING count(*) > $1 ORDER BY workspace_id`, wagate.AttemptLimit)
	if err != nil {
		return err
	}
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&ws, &n}, func() error {
		report("workspace %s keeps %d attempts, more than the last %d", ws, n, wagate.AttemptLimit)
		return nil
	})
	return err
}
