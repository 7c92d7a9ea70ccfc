package postgres

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
)

// 0017_pgspeed.sql on a database written before it: each workspace keeps
// its last AttemptLimit attempts, numbered in their order with the newest
// last, and the next attempt goes after them (ListAttempts newest first).
func TestMigration0017NumbersTheAttemptsKept(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	p := pool(t, url)
	ms, err := readMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	before := fstest.MapFS{}
	for _, m := range ms {
		if m.version < 17 {
			before["migrations/"+m.name] = &fstest.MapFile{Data: []byte(m.sql)}
		}
	}
	if _, err := migrate(ctx, p, before, "migrations"); err != nil {
		t.Fatal(err)
	}
	// ws_a has more attempts than the ring (as the old trim could leave
	// none, but an import or a hand could), interleaved with ws_b's 3.
	if _, err := p.Exec(ctx, `INSERT INTO workspaces (id, name, balance, granted, inbound_token, inbound_hash, inbound_enabled, inbound_created_at, created_at)
		VALUES ('ws_a', 'a', 1, 1, 'ta', '\x01', true, now(), now()), ('ws_b', 'b', 1, 1, 'tb', '\x02', true, now(), now())`); err != nil {
		t.Fatal(err)
	}
	for i := range wagate.AttemptLimit + 20 {
		ws := "ws_a"
		if i%40 == 0 {
			ws = "ws_b"
		}
		if _, err := p.Exec(ctx, `INSERT INTO attempts (workspace_id, at, request_id) VALUES ($1, now(), $2)`, ws, fmt.Sprint("r", i)); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	db, err := Open(ctx, url, Options{}) // applies 0017
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.RecordAttempt(ctx, "ws_a", &wagate.Attempt{RequestID: "new"}); err != nil {
		t.Fatal(err)
	}
	got, err := db.ListAttempts(ctx, "ws_a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != wagate.AttemptLimit || got[0].RequestID != "new" || got[1].RequestID != fmt.Sprint("r", wagate.AttemptLimit+19) {
		t.Fatalf("ws_a: %d attempts, newest %q then %q; want %d, the new one then r%d", len(got), got[0].RequestID, got[1].RequestID, wagate.AttemptLimit, wagate.AttemptLimit+19)
	}
	for i := 1; i < len(got); i++ {
		if got[i].RequestID == "r0" || got[i].RequestID == "r1" {
			t.Errorf("attempt %d is %s, which fell out of the ring", i, got[i].RequestID)
		}
	}
	b, err := db.ListAttempts(ctx, "ws_b", 0)
	if err != nil || len(b) != 3 || b[0].RequestID != "r80" || b[2].RequestID != "r0" {
		t.Errorf("ws_b: %d attempts (%v), want r80, r40, r0", len(b), err)
	}
	if problems, err := db.Audit(ctx); err != nil || len(problems) != 0 {
		t.Errorf("Audit after the migration = %q, %v; want none", problems, err)
	}
}
