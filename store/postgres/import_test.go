package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
)

// Import is all or nothing: a record it cannot copy, after others were
// inserted, rolls the whole copy back and names the record's type; and a
// database that holds data is refused with ErrNotEmpty.
func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Clone(t, migratedTemplate)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ws := &wagate.ExportedWorkspace{Workspace: wagate.Workspace{ID: "ws_import", Name: "import", Credits: 5, Granted: 5,
		Webhook: wagate.Webhook{Token: "inbound-token", Enabled: true, CreatedAt: now}, CreatedAt: now}}
	type unknown struct{}
	_, err := Import(ctx, url, func(yield func(any) error) error {
		if err := yield(ws); err != nil {
			return err
		}
		return yield(&unknown{})
	}, ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "unknown") || !strings.Contains(err.Error(), "nothing was copied") {
		t.Fatalf("Import of an unknown record: %v, want a refusal naming its type", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM workspaces`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after the failed import the database has %d workspaces (%v), want 0", n, err)
	}

	counts, err := Import(ctx, url, func(yield func(any) error) error { return yield(ws) }, ImportOptions{})
	if err != nil || counts.Records["workspace"] != 1 || counts.Balance != 5 {
		t.Fatalf("Import of one workspace: %+v, %v", counts, err)
	}
	_, err = Import(ctx, url, func(yield func(any) error) error { return yield(ws) }, ImportOptions{})
	if !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Import into a database with a workspace: %v, want ErrNotEmpty", err)
	}
}
