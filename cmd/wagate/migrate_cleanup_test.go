//go:build !nowhatsapp

package main

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
	"github.com/wagate/wagate/store/postgres"
)

// keysDataDir is the data folder of a stopped bbolt wagate with a key
// store (whatsapp.db) and one workspace, and a snapshot folder that a
// migrate killed outright (kill -9) left in it.
func keysDataDir(t *testing.T) string {
	t.Helper()
	useFakeWhatsApp(t, whatsapptest.New())
	dir := t.TempDir()
	in := start(t, testConfig(dir, 10*time.Millisecond, 0))
	createWorkspace(t, in, operatorToken(t, dir), 10)
	in.stop()
	if _, err := os.Stat(filepath.Join(dir, whatsapp.DBFile)); err != nil {
		t.Fatalf("no key store in the data folder: %v", err)
	}
	stale := filepath.Join(dir, ".migrate-keys-killed")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, whatsapp.DBFile), []byte("keys"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// migrateLeftovers fails t when the database at url has the key schema or
// dir a snapshot folder.
func migrateLeftovers(t *testing.T, conn *pgx.Conn, dir, after string) {
	t.Helper()
	var schema bool
	if err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, whatsapp.KeySchema).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if schema {
		t.Errorf("%s: the database still has the key schema %s", after, whatsapp.KeySchema)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".migrate-keys-*")); len(left) > 0 {
		t.Errorf("%s: snapshot folders left in the data folder: %v", after, left)
	}
}

// A `wagate migrate` that fails (the database is not empty) leaves the
// database without the key schema it made and the data folder without
// its key snapshot, and removes the snapshot a killed migrate left; once
// the database is emptied, migrate runs again and copies.
func TestMigrateFailedLeavesNoKeySchemaNorSnapshot(t *testing.T) {
	dir := keysDataDir(t)
	url := newPGDatabase(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{Logger: newTestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := wagate.NewToken(rand.Reader)
	if err := db.CreateWorkspace(ctx, &wagate.Workspace{ID: "ws_0123456789abcdef", Name: "there", Credits: 1, Webhook: wagate.Webhook{Token: tok, Enabled: true}}, nil); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	var out, errOut strings.Builder
	code := run([]string{"migrate", "--from", dir, "--to", url}, &out, &errOut, func(string) string { return "" })
	if code != 1 || !strings.Contains(errOut.String(), "EMPTY database") {
		t.Fatalf("migrate into a database with data: exit %d, want 1 asking for an EMPTY database\n%s%s", code, out.String(), errOut.String())
	}
	migrateLeftovers(t, conn, dir, "after the failed migrate")

	if _, err := conn.Exec(ctx, `DELETE FROM workspaces`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"migrate", "--from", dir, "--to", url}, &out, &errOut, func(string) string { return "" }); code != 0 || !strings.Contains(out.String(), "whatsapp keys") {
		t.Fatalf("migrate again: exit %d, want 0 with the keys copied\n%s%s", code, out.String(), errOut.String())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".migrate-keys-*")); len(left) > 0 {
		t.Errorf("snapshot folders left after a migrate: %v", left)
	}
}

// A `wagate migrate` interrupted (Ctrl-C: its context ends) while the
// copy waits for the database leaves neither the key schema nor the
// snapshot.
func TestMigrateInterruptedLeavesNoKeySchemaNorSnapshot(t *testing.T) {
	dir := keysDataDir(t)
	url := newPGDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	db, err := postgres.Open(ctx, url, postgres.Options{Logger: newTestLogger(t)}) // the schema, so its table can be locked
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	// Another session holds the table the copy locks first: the copy waits.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE workspaces IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	mctx, interrupt := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- migrateStore(mctx, dir, url, false, io.Discard) }()
	watch, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	waitFor(t, "the copy to wait for the lock", func() bool {
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE workspaces%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
	interrupt()
	if err := <-done; err == nil {
		t.Fatal("the interrupted migrate reported no error")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	migrateLeftovers(t, conn, dir, "after the interrupted migrate")
}
