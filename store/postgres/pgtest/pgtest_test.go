package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// TestDatabase: Main started a real server, and a database of it answers
// a query over pgx.
func TestDatabase(t *testing.T) {
	ctx := context.Background()
	url := Database(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	var fsync string
	if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != "off" {
		t.Errorf("fsync = %q, %v; want off for tests", fsync, err)
	}
}

// TestDatabasesAreSeparate: each test gets an empty database of its own.
func TestDatabasesAreSeparate(t *testing.T) {
	ctx := context.Background()
	a, b := Database(t), Database(t)
	if a == b {
		t.Fatalf("two databases with one URL %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_here (x int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the other database sees the table: %d, %v", n, err)
	}
}

// TestStartWithoutPostgreSQLFails: with no server programs, Start is an
// error that names the fix; Main turns it into a failed test binary.
func TestStartWithoutPostgreSQLFails(t *testing.T) {
	_, err := Start(Options{Bin: t.TempDir()})
	if err == nil {
		t.Fatal("Start succeeded without initdb")
	}
	if !strings.Contains(err.Error(), "WAGATE_PG_BIN") {
		t.Errorf("the error %q does not name the fix", err)
	}
}

// TestStartedClusterStops: a second cluster starts beside the first on
// another port and is gone after Stop.
func TestStartedClusterStops(t *testing.T) {
	c, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.port == shared.port {
		t.Errorf("two clusters on port %d", c.port)
	}
	c.Stop()
	select {
	case <-c.exit:
	default:
		t.Error("the server still runs after Stop")
	}
	ctx := context.Background()
	if conn, err := pgx.Connect(ctx, c.URL("postgres")); err == nil {
		conn.Close(ctx)
		t.Error("a stopped cluster accepts connections")
	}
}

// TestSweepRemovesOnlyAbandonedFolders: a folder whose cluster's lock is
// free (its test binary died) goes; a locked one and a young one stay.
func TestSweepRemovesOnlyAbandonedFolders(t *testing.T) {
	parent := t.TempDir()
	mk := func(name string, old bool) string {
		dir := filepath.Join(parent, dirPrefix+name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".lock"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if old {
			past := time.Now().Add(-time.Hour)
			if err := os.Chtimes(dir, past, past); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	abandoned, live, young := mk("abandoned", true), mk("live", true), mk("young", false)
	lock, err := lockDir(live)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(live, past, past); err != nil { // lockDir touched it
		t.Fatal(err)
	}
	sweep(parent)
	for dir, want := range map[string]bool{abandoned: false, live: true, young: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: exists=%v after sweep, want %v", filepath.Base(dir), err == nil, want)
		}
	}
}
