package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagate/wagate"
)

// ErrNotEmpty is Import's refusal of a database that already holds
// wagate data: a copy must never merge two stores.
var ErrNotEmpty = errors.New("the target database is not empty")

// Import is `wagate migrate`'s PostgreSQL side (SPEC §12): it migrates
// the schema of the database at url, then, in ONE transaction, inserts
// every record export yields (the types of wagate's export.go) as rows,
// directly: no Accept, so nothing is charged again, and no event, so no
// endpoint hears of changes that did not happen. Before committing it
// counts the rows it wrote and the credits they hold and compares them
// with what export yielded; any difference, any record of a type it does
// not know, or any error rolls everything back, so the database is
// either the whole copy or as empty as before.
//
// A database with any workspace, token or chat window is refused with
// ErrNotEmpty, before anything is written: its tables are locked first,
// so a replica started on it meanwhile waits for the copy instead of
// racing it. Errors never show url, which may hold a password.
//
// opts.InTx, when set, runs in the same transaction after the records and
// before the counts are compared: `wagate migrate` copies the WhatsApp
// Web device keys with it, so they are committed with the rest or not at
// all.
func Import(ctx context.Context, url string, export func(yield func(rec any) error) error, opts ImportOptions) (wagate.ExportCounts, error) {
	var counts wagate.ExportCounts
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return counts, errors.New("postgres: the database URL is not a valid postgres://user@host/database URL")
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return counts, fmt.Errorf("postgres: connect: %w", err)
	}
	defer pool.Close()
	if _, err := migrate(ctx, pool, migrationFiles, "migrations"); err != nil {
		return counts, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE workspaces, tokens, chat_windows IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM workspaces) OR EXISTS (SELECT 1 FROM tokens) OR EXISTS (SELECT 1 FROM chat_windows)`).Scan(&used); err != nil {
			return err
		}
		if used {
			return ErrNotEmpty
		}
		rows := newBulk()
		err := export(func(rec any) error {
			kind := counts.Count(rec)
			if kind == "" {
				return fmt.Errorf("postgres: import: a record of type %T, which this wagate cannot copy: nothing was copied", rec)
			}
			handled, err := rows.add(ctx, tx, rec)
			if !handled && err == nil {
				if err = rows.flush(ctx, tx); err == nil {
					err = importRecord(ctx, cleanTx{Tx: tx, replaced: &rows.replaced}, rec)
				}
			}
			if err != nil {
				return fmt.Errorf("postgres: import: a %s: %w", kind, err)
			}
			return nil
		})
		if err == nil {
			err = rows.flush(ctx, tx)
		}
		if opts.Replaced != nil {
			*opts.Replaced = rows.replaced
		}
		if err != nil {
			return err
		}
		if opts.InTx != nil {
			if err := opts.InTx(ctx, tx); err != nil {
				return err
			}
		}
		// Each workspace's next attempt goes after its copied ones in its ring.
		if _, err := tx.Exec(ctx, `UPDATE workspaces w SET attempts_made = a.n FROM (SELECT workspace_id, max(n) AS n FROM attempts GROUP BY workspace_id) a
			WHERE w.id = a.workspace_id`); err != nil {
			return err
		}
		// The next message placed in a queue goes after every copied one.
		if _, err := tx.Exec(ctx, `SELECT setval('messages_queue_pos', coalesce((SELECT max(queue_pos) FROM messages), 0) + 1, false)`); err != nil {
			return err
		}
		got, err := countImported(ctx, tx)
		if err != nil {
			return err
		}
		return compareCounts(counts, got)
	})
	if err != nil {
		return wagate.ExportCounts{}, err
	}
	return counts, nil
}

// ImportOptions are Import's options.
type ImportOptions struct {
	// InTx runs inside the import's transaction, after every record is
	// written; its error rolls everything back.
	InTx func(ctx context.Context, tx pgx.Tx) error
	// Replaced, when set, receives how many values were stored with
	// U+FFFD in place of a NUL or of bytes that are not UTF-8, which
	// PostgreSQL's text and jsonb cannot hold (import_clean.go).
	Replaced *int64
}

// importRecord inserts one exported record of the small tables (bulk
// writes the big ones).
func importRecord(ctx context.Context, tx pgx.Tx, rec any) error {
	switch r := rec.(type) {
	case *wagate.ExportedWorkspace:
		ws := &r.Workspace
		hash := wagate.HashToken(ws.Webhook.Token)
		_, err := tx.Exec(ctx, `INSERT INTO workspaces (id, name, balance, granted, inbound_token, inbound_hash, inbound_enabled, inbound_created_at,
			created_at, low_credits, chat_seq, pruned_credits) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			ws.ID, ws.Name, ws.Credits, ws.Granted, ws.Webhook.Token, hash[:], ws.Webhook.Enabled, ws.Webhook.CreatedAt,
			ws.CreatedAt, ws.LowCredits, r.ChatSeq, r.PrunedCredits)
		return err
	case *wagate.Token:
		var wsID *string
		if r.WorkspaceID != "" {
			wsID = &r.WorkspaceID
		}
		_, err := tx.Exec(ctx, `INSERT INTO tokens (hash, id, workspace_id, role, name, prefix, created_at, last_used_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			r.Hash[:], r.ID, wsID, string(r.Role), r.Name, r.Prefix, r.CreatedAt, nullTime(r.LastUsedAt))
		if uniqueViolation(err, "tokens_one_operator") {
			return errors.New("the store has more than one operator token, and a PostgreSQL database keeps one: start wagate serve on the store once (it keeps the newest), stop it, and migrate again")
		}
		return err
	case *wagate.ExportedSession:
		s := &r.Session
		_, err := tx.Exec(ctx, `INSERT INTO sessions (key, token_hash, workspace_id, role, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			r.Key[:], s.TokenHash[:], s.WorkspaceID, string(s.Role), s.CSRF, s.CreatedAt, s.ExpiresAt)
		return err
	case *wagate.Account:
		settings, err := json.Marshal(orEmpty(r.Settings))
		if err != nil {
			return err
		}
		rules, err := json.Marshal(newRulesRecord(r.Rules))
		if err != nil {
			return err
		}
		link, err := encodeLink(r.Link)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			r.WorkspaceID, r.Phone, r.Transport, string(settings), r.Active, r.ConnectedAt, string(rules), link)
		return err
	case *wagate.Chat:
		_, err := tx.Exec(ctx, `INSERT INTO chats (`+chatColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			r.WorkspaceID, r.ID, r.AccountPhone, r.JID, r.Name, r.Group, r.CreatedAt)
		return err
	case *wagate.Template:
		args, err := templateArgs(r)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO templates (`+templateColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, args...)
		return err
	case *wagate.AccountTemplates:
		recs := make([]providerTemplateRecord, 0, len(r.Templates))
		for _, p := range r.Templates {
			recs = append(recs, providerTemplateRecord(p))
		}
		b, err := json.Marshal(recs)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO account_templates (workspace_id, phone, templates, synced_at) VALUES ($1, $2, $3, $4)`,
			r.Account.WorkspaceID, r.Account.Phone, string(b), r.SyncedAt)
		return err
	case *wagate.ExportedWindow:
		_, err := tx.Exec(ctx, `INSERT INTO chat_windows (transport, sender, customer, last_at) VALUES ($1, $2, $3, $4)`,
			r.Key.Transport, r.Key.Sender, r.Key.Customer, r.LastAt)
		return err
	case *wagate.Endpoint:
		args, err := endpointArgs(r)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO endpoints (workspace_id, id, name, enabled, url, path, method, events, filter_phone, filter_source,
			query, headers, auth, body_type, body_template, body_fields, created_at, disabled_reason, secret, previous_secret, previous_until, failing_since)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
			append([]any{r.WorkspaceID, r.ID}, args...)...); err != nil {
			return err
		}
		return indexSubscriptions(ctx, tx, r)
	}
	return fmt.Errorf("a record of type %T, which this wagate cannot copy", rec)
}

// countImported counts what the transaction holds, as ExportCounts does
// for the records yielded.
func countImported(ctx context.Context, tx pgx.Tx) (wagate.ExportCounts, error) {
	c := wagate.ExportCounts{Records: map[string]int64{}}
	tables := []struct{ kind, query string }{
		{"workspace", `SELECT count(*) FROM workspaces`},
		{"token", `SELECT count(*) FROM tokens`},
		{"session", `SELECT count(*) FROM sessions`},
		{"account", `SELECT count(*) FROM accounts`},
		{"chat", `SELECT count(*) FROM chats`},
		{"template", `SELECT count(*) FROM templates`},
		{"account templates", `SELECT count(*) FROM account_templates`},
		{"message", `SELECT count(*) FROM messages`},
		{"idempotency record", `SELECT count(*) FROM idempotency`},
		{"attempt", `SELECT count(*) FROM attempts`},
		{"send history", `SELECT count(*) FROM (SELECT workspace_id, account_phone FROM sends UNION SELECT workspace_id, account_phone FROM first_sends) h`},
		{"send", `SELECT count(*) FROM sends`},
		{"chat window", `SELECT count(*) FROM chat_windows`},
		{"endpoint", `SELECT count(*) FROM endpoints`},
		{"delivery", `SELECT count(*) FROM deliveries`},
	}
	for _, t := range tables {
		var n int64
		if err := tx.QueryRow(ctx, t.query).Scan(&n); err != nil {
			return c, err
		}
		if n > 0 {
			c.Records[t.kind] = n
		}
	}
	err := tx.QueryRow(ctx, `SELECT coalesce(sum(balance), 0), coalesce(sum(granted), 0), coalesce(sum(pruned_credits), 0),
		(SELECT coalesce(sum(credits), 0) FROM messages WHERE status IN ('queued', 'sending', 'sent')) FROM workspaces`).
		Scan(&c.Balance, &c.Granted, &c.Pruned, &c.Held)
	return c, err
}

// compareCounts names every difference between what was yielded and what
// the database holds.
func compareCounts(want, got wagate.ExportCounts) error {
	var diffs []string
	kinds := slices.Sorted(maps.Keys(want.Records))
	for k := range got.Records {
		if _, ok := want.Records[k]; !ok {
			kinds = append(kinds, k)
		}
	}
	for _, k := range kinds {
		if want.Records[k] != got.Records[k] {
			diffs = append(diffs, fmt.Sprintf("%s: %d in the store, %d in the database", k, want.Records[k], got.Records[k]))
		}
	}
	for _, s := range []struct {
		name      string
		want, got int64
	}{{"balance", want.Balance, got.Balance}, {"granted", want.Granted, got.Granted}, {"held credits", want.Held, got.Held}, {"pruned credits", want.Pruned, got.Pruned}} {
		if s.want != s.got {
			diffs = append(diffs, fmt.Sprintf("%s: %d in the store, %d in the database", s.name, s.want, s.got))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("postgres: import: the copy does not match the store, so nothing was copied: %s", strings.Join(diffs, "; "))
	}
	return nil
}
