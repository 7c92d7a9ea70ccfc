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

// What an older wagate's bbolt store may hold and PostgreSQL cannot — a
// NUL in a text (a message's, a chat name), in JSON (a try's error), bytes
// that are not UTF-8 (an attempt's raw body) — is copied with U+FFFD in
// place of each, and counted, instead of failing the whole copy; a text
// that only spells `\u0000` is kept as it was.
func TestImportCleansWhatPostgreSQLCannotHold(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Clone(t, migratedTemplate)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ws := &wagate.ExportedWorkspace{Workspace: wagate.Workspace{ID: "ws_clean", Name: "clean", Credits: 5, Granted: 7,
		Webhook: wagate.Webhook{Token: "inbound-token", Enabled: true, CreatedAt: now}, CreatedAt: now}, ChatSeq: 1}
	chat := &wagate.Chat{WorkspaceID: ws.Workspace.ID, ID: 1, AccountPhone: "+14155550100", JID: "14155552671@s.whatsapp.net", Name: "Ana\x00", CreatedAt: now}
	msg := func(id, text string) *wagate.ExportedMessage {
		return &wagate.ExportedMessage{AccountConnectedAt: now, Message: wagate.Message{ID: id, WorkspaceID: ws.Workspace.ID, Status: wagate.StatusFailed,
			AccountPhone: chat.AccountPhone, ChatID: 1, JID: chat.JID, Text: text, Credits: 1, Error: "failed", CreatedAt: now,
			Tries: []wagate.Try{{At: now, Result: "failed", Error: "provider said x\x00y"}}}}
	}
	withNUL, literal := msg("wa_backend:00000000000000000001", "a\x00b"), msg("wa_backend:00000000000000000002", `C ends strings with \u0000`)
	literal.Message.Tries = nil
	att := &wagate.ExportedAttempt{WorkspaceID: ws.Workspace.ID, Attempt: wagate.Attempt{At: now, Body: "\x00\xff{", Code: "invalid", Message: "not JSON"}}
	var replaced int64
	_, err := Import(ctx, url, func(yield func(any) error) error {
		for _, rec := range []any{ws, chat, withNUL, literal, att} {
			if err := yield(rec); err != nil {
				return err
			}
		}
		return nil
	}, ImportOptions{Replaced: &replaced})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if replaced != 4 {
		t.Errorf("Replaced = %d, want 4 (the chat's name, a text, a try's error, an attempt's body)", replaced)
	}
	db, err := Open(ctx, url, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if m, err := db.FindMessage(ctx, ws.Workspace.ID, withNUL.Message.ID); err != nil || m.Text != "a\uFFFDb" || len(m.Tries) != 1 || m.Tries[0].Error != "provider said x\uFFFDy" {
		t.Errorf("the message with a NUL reads %+v, %v; want U+FFFD in its text and its try's error", m, err)
	}
	if m, err := db.FindMessage(ctx, ws.Workspace.ID, literal.Message.ID); err != nil || m.Text != literal.Message.Text {
		t.Errorf("the message spelling \\u0000 reads %+v, %v; want its text unchanged", m, err)
	}
	if chats, err := db.ListChats(ctx, ws.Workspace.ID, ""); err != nil || len(chats) != 1 || chats[0].Name != "Ana\uFFFD" {
		t.Errorf("chats = %+v, %v; want the name with U+FFFD", chats, err)
	}
	if list, err := db.ListAttempts(ctx, ws.Workspace.ID, 10); err != nil || len(list) != 1 || list[0].Body != "\uFFFD\uFFFD{" {
		t.Errorf("attempts = %+v, %v; want the body with U+FFFD for the NUL and the bad byte", list, err)
	}
}
