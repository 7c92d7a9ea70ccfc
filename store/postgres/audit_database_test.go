package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
)

// AuditDatabase, `wagate check --database-url`: Audit's checks on a URL,
// read-only (TestAudit covers the checks themselves).

// auditWorld is a migrated database with workspace ws_a (10 credits), its
// account and one accepted message of 3 credits. AuditDatabase reads it on
// its own connection, as `wagate check` does.
func auditWorld(t *testing.T) (*batchWorld, string) {
	t.Helper()
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	if _, err := w.db.Accept(context.Background(), w.job("ws_a", 3).a); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	url, _ := urls.Load(w.db)
	return w, url.(string)
}

func audited(t *testing.T, url string) []string {
	t.Helper()
	problems, err := AuditDatabase(context.Background(), url)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return problems
}

func wantProblem(t *testing.T, problems []string, parts ...string) {
	t.Helper()
	for _, p := range problems {
		ok := true
		for _, part := range parts {
			ok = ok && strings.Contains(p, part)
		}
		if ok {
			return
		}
	}
	t.Errorf("problems %q, want one naming %q", problems, parts)
}

func TestAuditDatabaseOfAConsistentDatabaseFindsNothing(t *testing.T) {
	_, url := auditWorld(t)
	if p := audited(t, url); len(p) != 0 {
		t.Errorf("problems %q, want none", p)
	}
}

func TestAuditDatabaseFindsAnAttemptRingThatOverflowed(t *testing.T) {
	w, url := auditWorld(t)
	if _, err := w.db.pool.Exec(context.Background(), `INSERT INTO attempts (workspace_id, n, slot, at) SELECT 'ws_a', 1000 + i, $1 + i, now() FROM generate_series(1, $1) i`, wagate.AttemptLimit); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, audited(t, url), "workspace ws_a keeps 101 attempts", "more than the last 100")
}

// Messages, attempts and idempotency records have no foreign key to their
// workspace (0017_pgspeed.sql): a row whose workspace is missing is damage.
func TestAuditDatabaseFindsRowsOfAMissingWorkspace(t *testing.T) {
	w, url := auditWorld(t)
	for _, sql := range []string{
		`INSERT INTO attempts (workspace_id, n, slot, at) VALUES ('ws_gone', 1, 1, now()), ('ws_gone', 2, 2, now())`,
		`INSERT INTO idempotency (workspace_id, key, body_hash, message_id, at) VALUES ('ws_gone', 'k', decode(repeat('00', 32), 'hex'), 'm', now())`,
		`INSERT INTO messages (id, workspace_id, status, account_phone, account_connected_at, chat_id, jid, credits, created_at)
			SELECT id || 'x', 'ws_gone', 'failed', account_phone, account_connected_at, chat_id, jid, credits, created_at FROM messages`,
	} {
		if _, err := w.db.pool.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	p := audited(t, url)
	if len(p) != 3 {
		t.Errorf("problems %q, want 3", p)
	}
	wantProblem(t, p, "2 attempts name workspace ws_gone, which does not exist")
	wantProblem(t, p, "1 idempotency records name workspace ws_gone")
	wantProblem(t, p, "1 messages name workspace ws_gone")
}

// AuditDatabase never migrates: an empty database is reported, and stays empty.
func TestAuditDatabaseOfAnEmptyDatabaseReportsItAndWritesNothing(t *testing.T) {
	url := pgtest.Database(t)
	wantProblem(t, audited(t, url), "no wagate schema", "wagate serve creates it")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var absent bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NULL`).Scan(&absent); err != nil {
		t.Fatal(err)
	}
	if !absent {
		t.Error("schema_migrations exists after the audit: AuditDatabase must not migrate")
	}
}

func TestAuditDatabaseFindsAMissingMigration(t *testing.T) {
	w, url := auditWorld(t)
	if _, err := w.db.pool.Exec(context.Background(), `DELETE FROM schema_migrations WHERE version = 5`); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, audited(t, url), "migration 0005_messages.sql is not applied", "migrates at start")
}

func TestAuditDatabaseRefusesABadURLWithoutEchoingIt(t *testing.T) {
	_, err := AuditDatabase(context.Background(), "postgres://user:s3cret@[::1")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "not a valid postgres://") {
		t.Errorf("AuditDatabase of a bad URL: %v, want a refusal naming the form and not the password", err)
	}
}
