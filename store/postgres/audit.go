package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

// Audit checks the invariants the database's constraints cannot keep and
// returns one human-readable line per problem (none when all is well); the
// error is for a database that cannot be read at all. It is the twin of
// store.DB.Audit, for `wagate check`:
//   - every migration this wagate knows is applied (Open applies them all
//     or none, so a gap is a database written by something else);
//   - per workspace, credits add up: granted == balance + credits of the
//     messages queued, sending or sent + the credits of sent messages
//     retention deleted (workspaces.pruned_credits, retain.go);
//   - no chat has an id above its workspace's chat_seq, which numbers the
//     next chat;
//   - no queued message belongs to an account that is gone, or to an
//     earlier account of its phone: DeleteAccount fails them with a
//     refund, so such a message would hold credits forever;
//   - no workspace keeps more than wagate.AttemptLimit attempts;
//   - no message, attempt or idempotency record names a workspace that
//     does not exist (these tables have no foreign key since 0017: the
//     accept's writers check the workspace under its lock, and a foreign
//     key cost a trigger query per row);
//   - the events outbox and the account leases are whole
//     (audit_replicas.go says what is damage there and what is normal).
//
// It reads in one repeatable-read transaction, so it sees one state even
// while replicas write, but it is meant for a stopped one. AuditDatabase
// runs the same checks on a database URL without opening a store
// (`wagate check --database-url`).
func (db *DB) Audit(ctx context.Context) ([]string, error) {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	err := db.view(ctx, "audit", func(tx pgx.Tx) error { return audit(ctx, tx, report) })
	return problems, err
}

// audit runs Audit's checks in tx, reporting each problem.
func audit(ctx context.Context, tx pgx.Tx, report func(format string, args ...any)) error {
	ms, err := readMigrations(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	for _, m := range ms {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			report("migration %s is not applied", m.name)
		}
	}

	rows, err := tx.Query(ctx, `SELECT w.id, w.granted, w.balance, w.pruned_credits,
			coalesce((SELECT sum(credits) FROM messages m WHERE m.workspace_id = w.id AND m.status <> 'failed'), 0)
		FROM workspaces w ORDER BY w.seq`)
	if err != nil {
		return err
	}
	var (
		id                             string
		granted, balance, pruned, held int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &granted, &balance, &pruned, &held}, func() error {
		if err := quota.Check(granted, balance, held+pruned); err != nil {
			report("workspace %s: %v (and %d of sent messages deleted by retention)", id, err, pruned)
		}
		return nil
	}); err != nil {
		return err
	}

	rows, err = tx.Query(ctx, `SELECT c.workspace_id, c.id, w.chat_seq FROM chats c JOIN workspaces w ON w.id = c.workspace_id
		WHERE c.id > w.chat_seq ORDER BY c.workspace_id, c.id`)
	if err != nil {
		return err
	}
	var chat, seq int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &chat, &seq}, func() error {
		report("workspace %s: chat %d is above the chat counter %d, so a new chat would take its number", id, chat, seq)
		return nil
	}); err != nil {
		return err
	}

	rows, err = tx.Query(ctx, `SELECT m.id, m.workspace_id, m.account_phone, a.phone IS NOT NULL FROM messages m
		LEFT JOIN accounts a ON a.workspace_id = m.workspace_id AND a.phone = m.account_phone
		WHERE m.status = 'queued' AND (a.phone IS NULL OR a.connected_at <> m.account_connected_at) ORDER BY m.seq`)
	if err != nil {
		return err
	}
	var (
		msg, phone string
		exists     bool
	)
	if _, err := pgx.ForEachRow(rows, []any{&msg, &id, &phone, &exists}, func() error {
		if exists {
			report("message %s is queued for an earlier account %s of workspace %s, deleted since", msg, phone, id)
		} else {
			report("message %s is queued for account %s of workspace %s, which is gone", msg, phone, id)
		}
		return nil
	}); err != nil {
		return err
	}

	rows, err = tx.Query(ctx, `SELECT workspace_id, count(*) FROM attempts GROUP BY workspace_id HAVING count(*) > $1 ORDER BY workspace_id`, wagate.AttemptLimit)
	if err != nil {
		return err
	}
	var n int64
	if _, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		report("workspace %s keeps %d attempts, more than the last %d", id, n, wagate.AttemptLimit)
		return nil
	}); err != nil {
		return err
	}

	rows, err = tx.Query(ctx, `SELECT 'messages', workspace_id, count(*) FROM messages x WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.id = x.workspace_id) GROUP BY 2
		UNION ALL SELECT 'attempts', workspace_id, count(*) FROM attempts x WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.id = x.workspace_id) GROUP BY 2
		UNION ALL SELECT 'idempotency records', workspace_id, count(*) FROM idempotency x WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.id = x.workspace_id) GROUP BY 2
		ORDER BY 1, 2`)
	if err != nil {
		return err
	}
	var table string
	if _, err = pgx.ForEachRow(rows, []any{&table, &id, &n}, func() error {
		report("%d %s name workspace %s, which does not exist", n, table, id)
		return nil
	}); err != nil {
		return err
	}
	return auditOutboxAndLeases(ctx, tx, report)
}
