package main

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres"
)

// `wagate check --database-url` audits a PostgreSQL database with the
// answers and exit codes of the bbolt check, from the flag or from
// WAGATE_DATABASE_URL, and never prints the URL's password. The test
// starts its own throwaway PostgreSQL and fails, never skips, without one.
func TestCheckPostgres(t *testing.T) {
	ctx := context.Background()
	url := newPGDatabase(t)
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := wagate.NewToken(rand.Reader)
	now := time.Now().UTC()
	if err := db.CreateWorkspace(ctx, &wagate.Workspace{ID: "ws_check", Name: "check", Credits: 10, Webhook: wagate.Webhook{Token: tok, Enabled: true}, CreatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// trust authentication ignores the password: it is there to be hidden.
	withPassword := strings.Replace(url, "postgres://postgres@", "postgres://postgres:s3cret@", 1)

	check := func(args []string, env map[string]string) (int, string) {
		t.Helper()
		var out, errOut strings.Builder
		code := run(append([]string{"check"}, args...), &out, &errOut, func(k string) string { return env[k] })
		all := out.String() + errOut.String()
		if strings.Contains(all, "s3cret") {
			t.Errorf("the output shows the URL's password:\n%s", all)
		}
		return code, all
	}
	if code, out := check([]string{"--database-url", withPassword}, nil); code != 0 || !strings.Contains(out, "is consistent") || !strings.Contains(out, "127.0.0.1") {
		t.Errorf("check of a consistent database: exit %d\n%s", code, out)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE workspaces SET balance = 11 WHERE id = 'ws_check'`); err != nil {
		t.Fatal(err)
	}
	code, out := check([]string{"--data", t.TempDir()}, map[string]string{"WAGATE_DATABASE_URL": withPassword})
	if code != 1 || !strings.Contains(out, "1 problem(s)") || !strings.Contains(out, "workspace ws_check: credits do not add up") {
		t.Errorf("check of a database whose credits do not add up, URL from WAGATE_DATABASE_URL: exit %d, want 1 naming the workspace\n%s", code, out)
	}
	if code, out := check([]string{"--database-url", "postgres://postgres:s3cret@[::1"}, nil); code != 1 || !strings.Contains(out, "not a valid postgres://") {
		t.Errorf("check of a malformed URL: exit %d, want 1 naming the form\n%s", code, out)
	}

	// A message left in sending by a replica that stopped (no live lease
	// on its account) is normal: a note, and the database is consistent.
	if _, err := conn.Exec(ctx, `UPDATE workspaces SET balance = 10 WHERE id = 'ws_check'`); err != nil {
		t.Fatal(err)
	}
	db, err = postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAccount(ctx, &wagate.Account{WorkspaceID: "ws_check", Phone: "+14155552671", Transport: wagate.TransportDryrun, Active: true}); err != nil {
		t.Fatal(err)
	}
	id, err := wagate.NewMessageIDs(rand.Reader).Next(now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Accept(ctx, &wagate.Accept{WorkspaceID: "ws_check",
		Message: &wagate.Message{ID: id, AccountPhone: "+14155552671", JID: "14155550100@s.whatsapp.net", Text: "hi", Credits: 1}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := conn.Exec(ctx, `UPDATE messages SET status = 'sending'`); err != nil {
		t.Fatal(err)
	}
	code, out = check([]string{"--database-url", withPassword}, nil)
	if code != 0 || !strings.Contains(out, "is consistent") || !strings.Contains(out, "note: message "+id) || !strings.Contains(out, "to be recovered at takeover") {
		t.Errorf("check of a database with a message its replica left in sending: exit %d, want 0 with a note naming it\n%s", code, out)
	}
}
