package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AuditDatabase is `wagate check --database-url`: DB.Audit's checks on
// the database at url, without opening a store. Unlike Open it migrates
// nothing and writes nothing: a database without wagate's schema, or with
// a migration missing or unknown to this wagate, is reported as such and
// the other checks are skipped. It reads in one read-only REPEATABLE READ
// transaction, so it sees one consistent snapshot and, unlike bbolt's
// audit, may run while replicas serve. The error is for a database that
// cannot be read at all; it never shows the URL, which may hold a
// password.
func AuditDatabase(ctx context.Context, url string) ([]string, error) {
	problems, _, err := AuditDatabaseNotes(ctx, url)
	return problems, err
}

// AuditDatabaseNotes is AuditDatabase that also returns notes: what is
// normal but worth telling an operator, such as a message in sending
// whose replica stopped, to be recovered at takeover (audit_replicas.go).
// Notes are not problems: a database with notes only is consistent.
func AuditDatabaseNotes(ctx context.Context, url string) (problems, notes []string, err error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may hold a password: name the problem, not the URL.
		return nil, nil, errors.New("postgres: the database URL is not a valid postgres://user@host/database URL")
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: connect: %w", err)
	}
	defer pool.Close()
	ms, err := readMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, nil, err
	}
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		problems, notes = nil, nil
		if ok, err := auditSchema(ctx, tx, ms, report); err != nil || !ok {
			return err // the checks below need every table
		}
		if err := audit(ctx, tx, report); err != nil {
			return err
		}
		return auditNotes(ctx, tx, note)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: audit: %w", err)
	}
	return problems, notes, nil
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
