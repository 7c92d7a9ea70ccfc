package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

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
		err := export(func(rec any) error {
			kind := counts.Count(rec)
			if kind == "" {
				return fmt.Errorf("postgres: import: a record of type %T, which this wagate cannot copy: nothing was copied", rec)
			}
			if err := importRecord(ctx, tx, rec); err != nil {
				return fmt.Errorf("postgres: import: a %s: %w", kind, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if opts.InTx != nil {
			if err := opts.InTx(ctx, tx); err != nil {
				return err
			}
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
}

// importRecord inserts one exported record.
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
	case *wagate.ExportedMessage:
		return importMessage(ctx, tx, r)
	case *wagate.ExportedIdempotency:
		var batch *string
		if r.MessageID == batchMarker {
			recs := make([]batchItemRecord, len(r.Batch))
			for i, it := range r.Batch {
				recs[i] = batchItemRecord(it)
			}
			b, err := json.Marshal(recs)
			if err != nil {
				return err
			}
			s := string(b)
			batch = &s
		}
		_, err := tx.Exec(ctx, `INSERT INTO idempotency (workspace_id, key, body_hash, message_id, at, batch) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.WorkspaceID, r.Key, r.BodyHash[:], r.MessageID, r.At, batch)
		return err
	case *wagate.ExportedAttempt:
		a := &r.Attempt
		warnings, err := json.Marshal(orNone(a.Warnings))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO attempts (workspace_id, at, request_id, remote_addr, content_type, body, code, message, message_id, credits, warnings)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			r.WorkspaceID, a.At, a.RequestID, a.RemoteAddr, a.ContentType, a.Body, a.Code, a.Message, a.MessageID, a.Credits, string(warnings))
		return err
	case *wagate.ExportedSends:
		ref := r.Account
		for _, s := range r.Sends {
			if _, err := tx.Exec(ctx, `INSERT INTO sends (workspace_id, account_phone, at, message_id) VALUES ($1, $2, $3, $4)`,
				ref.WorkspaceID, ref.Phone, s.At, s.MessageID); err != nil {
				return err
			}
		}
		if r.First.IsZero() {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO first_sends (workspace_id, account_phone, at) VALUES ($1, $2, $3)`, ref.WorkspaceID, ref.Phone, r.First)
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
	case *wagate.ExportedDelivery:
		return importDelivery(ctx, tx, r)
	}
	return fmt.Errorf("a record of type %T, which this wagate cannot copy", rec)
}

// importMessage inserts a message row as it stood, in its queue's place.
func importMessage(ctx context.Context, tx pgx.Tx, r *wagate.ExportedMessage) error {
	m := &r.Message
	tries, err := encodeTries(m.Tries)
	if err != nil {
		return err
	}
	var template *string
	if m.Template != nil {
		b, err := json.Marshal(newTemplateSendRecord(m.Template))
		if err != nil {
			return err
		}
		s := string(b)
		template = &s
	}
	var pos, providerID any
	if r.QueuePos != 0 {
		pos = int64(r.QueuePos)
	}
	if r.ProviderID != "" {
		providerID = r.ProviderID
	}
	nextTry, reason := m.NextTryAt, m.WaitingReason
	if m.Status != wagate.StatusQueued {
		// Only a queued message's retry or hold is kept (bbolt may leave
		// a stale one on a failed message).
		nextTry, reason = time.Time{}, ""
	}
	_, err = tx.Exec(ctx, `INSERT INTO messages (id, workspace_id, status, account_phone, account_connected_at, chat_id, jid, text, file_url, file_name,
		credits, error, tries, next_try_at, created_at, sent_at, send_at, waiting_reason, delivery, delivery_at, template_name, template,
		queue_pos, sending_at, provider_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`,
		m.ID, m.WorkspaceID, string(m.Status), m.AccountPhone, r.AccountConnectedAt, m.ChatID, m.JID, m.Text, m.FileURL, m.FileName,
		m.Credits, m.Error, tries, nullTime(nextTry), m.CreatedAt, nullTime(m.SentAt), nullTime(m.SendAt), reason, m.Delivery, nullTime(m.DeliveryAt),
		m.TemplateName, template, pos, nullTime(r.SendingAt), providerID)
	return err
}

// importDelivery inserts a delivery as it stood, its event with it; a
// pending one stays due when it was, and no lease is taken.
func importDelivery(ctx context.Context, tx pgx.Tx, r *wagate.ExportedDelivery) error {
	d := &r.Delivery
	o, err := newOutcome(d)
	if err != nil {
		return err
	}
	var event *string
	if r.Event != nil {
		b, err := encodeEvent(r.Event)
		if err != nil {
			return err
		}
		s := string(b)
		event = &s
	}
	var next *time.Time
	if d.Status == wagate.DeliveryPending {
		t := d.NextTryAt
		next = &t
	}
	_, err = tx.Exec(ctx, `INSERT INTO deliveries (workspace_id, endpoint_id, id, event_id, event_type, event, attempt, status,
		request, request_body, response, response_body, duration_ns, error, next_at, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		d.WorkspaceID, d.EndpointID, d.ID, d.EventID, d.Event, event, d.Attempt, d.Status,
		o.request, o.requestBody, o.response, o.responseBody, int64(d.Duration), o.errText, next, d.At)
	return err
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
