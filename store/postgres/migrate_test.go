package postgres

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagate/wagate/store/postgres/pgtest"
)

func pool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// versions lists schema_migrations.
func versions(t *testing.T, p *pgxpool.Pool) []int32 {
	t.Helper()
	rows, err := p.Query(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// withEmbedded returns the embedded migrations plus extra files.
func withEmbedded(t *testing.T, extra map[string]string) fstest.MapFS {
	t.Helper()
	ms, err := readMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, m := range ms {
		fsys["migrations/"+m.name] = &fstest.MapFile{Data: []byte(m.sql)}
	}
	for name, sql := range extra {
		fsys["migrations/"+name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return fsys
}

// TestOpenTwice: the second Open applies nothing and keeps the data.
func TestOpenTwice(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO workspaces (id, name, balance, granted, inbound_token, inbound_hash, inbound_enabled, inbound_created_at, created_at)
		VALUES ('ws_1', 'a', 1, 1, 't', '\x00', true, now(), now())`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, url, Options{})
	if err != nil {
		t.Fatalf("the second Open: %v", err)
	}
	defer db.Close()
	ms, err := readMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	vs := versions(t, db.pool)
	if len(vs) != len(ms) || int(vs[len(vs)-1]) != ms[len(ms)-1].version {
		t.Errorf("schema_migrations = %v, want each of the %d embedded migrations once", vs, len(ms))
	}
	if _, err := db.FindWorkspace(ctx, "ws_1"); err != nil {
		t.Errorf("the second Open lost the data: %v", err)
	}
}

// TestMigrationAddedLaterRunsOnce: a new migration file runs at the next
// open, once, after those already applied.
func TestMigrationAddedLaterRunsOnce(t *testing.T) {
	ctx := context.Background()
	p := pool(t, pgtest.Database(t))
	applied, err := migrate(ctx, p, migrationFiles, "migrations")
	if err != nil || len(applied) == 0 {
		t.Fatalf("first migrate: applied %v, %v", applied, err)
	}
	embedded := len(applied)
	next := withEmbedded(t, map[string]string{
		"9001_counter.sql": `CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);`,
	})
	for run := range 3 {
		applied, err := migrate(ctx, p, next, "migrations")
		if err != nil {
			t.Fatalf("migrate run %d: %v", run, err)
		}
		want := 0
		if run == 0 {
			want = 1
		}
		if len(applied) != want {
			t.Errorf("run %d applied %v", run, applied)
		}
	}
	var n int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM counter").Scan(&n); err != nil || n != 1 {
		t.Errorf("the added migration ran %d times (%v), want once", n, err)
	}
	if vs := versions(t, p); len(vs) != embedded+1 || vs[embedded] != 9001 {
		t.Errorf("schema_migrations = %v, want the embedded ones and 9001", vs)
	}
}

// TestFailedMigrationAppliesNothing: migrations run in one transaction, so
// a broken one leaves the database as it was, the ones before it included.
func TestFailedMigrationAppliesNothing(t *testing.T) {
	ctx := context.Background()
	p := pool(t, pgtest.Database(t))
	broken := withEmbedded(t, map[string]string{"8999_broken.sql": `CREATE TABLE fine (x int); SELECT * FROM no_such_table;`})
	_, err := migrate(ctx, p, broken, "migrations")
	if err == nil || !strings.Contains(err.Error(), "8999_broken.sql") {
		t.Fatalf("migrate with a broken migration: %v, want an error naming it", err)
	}
	var n int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename IN ('workspaces', 'fine', 'schema_migrations')").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d tables left by the failed migration (%v), want none", n, err)
	}
}

// TestNewerSchemaRefused: a database migrated by a newer wagate is refused.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	p := pool(t, url)
	if _, err := migrate(ctx, p, withEmbedded(t, map[string]string{"9002_future.sql": `SELECT 1;`}), "migrations"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, url, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer wagate") {
		t.Errorf("Open of a newer schema: %v, want a refusal naming a newer wagate", err)
	}
}

// TestMigrationNames: files not named NNNN_words.sql, or two with one
// version, are refused before anything runs.
func TestMigrationNames(t *testing.T) {
	for _, files := range []map[string]string{
		{"0001_a.sql": "", "0001_b.sql": ""},
		{"1_a.sql": ""},
		{"0000_zero.sql": ""},
		{"0003_a.txt": ""},
	} {
		fsys := fstest.MapFS{}
		for name, sql := range files {
			fsys["m/"+name] = &fstest.MapFile{Data: []byte(sql)}
		}
		if _, err := readMigrations(fsys, "m"); err == nil {
			t.Errorf("readMigrations accepted %v", files)
		}
	}
}

// TestReplicasOpeningTogetherMigrateOnce: replicas starting at the same
// moment on an empty database all open it, and each migration runs once
// (the advisory lock makes them take turns).
func TestReplicasOpeningTogetherMigrateOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			db, err := Open(ctx, url, Options{})
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("Open by a replica starting with others: %v", err)
		}
	}
	ms, err := readMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if vs := versions(t, pool(t, url)); len(vs) != len(ms) {
		t.Errorf("schema_migrations = %v, want each of the %d migrations once", vs, len(ms))
	}
}
