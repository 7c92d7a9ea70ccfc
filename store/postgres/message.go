package postgres

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

// IdempotencyWindow is how long an Idempotency-Key is remembered
// (wagate.IdempotencyWindow).
const IdempotencyWindow = wagate.IdempotencyWindow

// idempotencyPruneMax bounds how many expired idempotency records one
// batch of accepts deletes (wagate.IdempotencyPruneMax).
const idempotencyPruneMax = wagate.IdempotencyPruneMax

// tryRecord is how a try is stored in messages.tries: names of its own, so
// renaming a field of wagate.Try cannot silently drop stored tries.
type tryRecord struct {
	At         time.Time `json:"at"`
	Result     string    `json:"result"`
	Class      string    `json:"class,omitempty"`
	Error      string    `json:"error,omitempty"`
	ProviderID string    `json:"provider_id,omitempty"`
}

// messageColumns are read by scanMessage, in its order. next_try_at and
// waiting_reason are read as the message shows them (queue.go,
// nextTryView and waitingView), not as they are stored.
const messageColumns = `id, workspace_id, status, account_phone, chat_id, jid, text, file_url, file_name, credits, error,
	tries, ` + nextTryView + `, created_at, sent_at, send_at, ` + waitingView + `, delivery, delivery_at, template_name, template`

func scanMessage(row pgx.Row) (*wagate.Message, error) {
	var (
		m                                 wagate.Message
		status                            string
		tries, template                   []byte
		nextTry, sent, sendAt, deliveryAt *time.Time
	)
	err := row.Scan(&m.ID, &m.WorkspaceID, &status, &m.AccountPhone, &m.ChatID, &m.JID, &m.Text, &m.FileURL, &m.FileName, &m.Credits, &m.Error,
		&tries, &nextTry, &m.CreatedAt, &sent, &sendAt, &m.WaitingReason, &m.Delivery, &deliveryAt, &m.TemplateName, &template)
	if err != nil {
		return nil, err
	}
	m.Status = wagate.MessageStatus(status)
	var recs []tryRecord
	if err := json.Unmarshal(tries, &recs); err != nil {
		return nil, fmt.Errorf("message %s: tries: %w", m.ID, err)
	}
	for _, r := range recs {
		m.Tries = append(m.Tries, wagate.Try{At: r.At, Result: r.Result, Class: r.Class, Error: r.Error, ProviderID: r.ProviderID})
	}
	if m.Template, err = decodeTemplateSend(template); err != nil {
		return nil, fmt.Errorf("message %s: template: %w", m.ID, err)
	}
	m.NextTryAt, m.SentAt, m.SendAt, m.DeliveryAt = deref(nextTry), deref(sent), deref(sendAt), deref(deliveryAt)
	return &m, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func collectMessages(rows pgx.Rows, err error) ([]*wagate.Message, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Message, error) { return scanMessage(r) })
}

// acceptRun is the outcome of one run of the accept transaction: the
// result and the attempt written, or the client fault (the attempt is
// written for it too, except for a workspace or token that is gone).
type acceptRun struct {
	res     *wagate.AcceptResult
	att     *wagate.Attempt
	outcome error
}

// acceptOne runs one Accept in tx, the transaction of a batch or of one
// accept, whose writes are queued until tx.flush (accepttx.go). It locks
// the workspace's row first (once per transaction): that serialises the accepts
// of one workspace (the balance, the chat numbers, the idempotency check)
// and, as a batch runs its accepts in workspace id order, keeps committers
// from deadlocking. Client faults are outcomes, written with their attempt;
// an error is a real fault and the caller must roll tx back.
func (db *DB) acceptOne(ctx context.Context, tx *acceptTx, a *wagate.Accept, now time.Time) (acceptRun, error) {
	lw, err := tx.lockWorkspace(ctx, a.WorkspaceID)
	if wagate.ErrorCode(err) == wagate.ENOTFOUND {
		return acceptRun{outcome: wagate.ErrWebhookNotFound()}, nil // no workspace, no log to write to
	}
	if err != nil {
		return acceptRun{}, err
	}
	ws := lw.ws
	if a.InboundToken != "" && subtle.ConstantTimeCompare([]byte(a.InboundToken), []byte(ws.Webhook.Token)) != 1 {
		// Regenerated after the gateway read the workspace: the old URL
		// stops working at once, and an unknown token leaves no attempt.
		return acceptRun{outcome: wagate.ErrWebhookNotFound()}, nil
	}
	res, outcome, err := db.acceptMessage(ctx, tx, lw, a, now)
	if err != nil {
		return acceptRun{}, err
	}
	att := acceptAttempt(a.Attempt, res, outcome, now)
	phone := ""
	if res != nil {
		phone = res.Message.AccountPhone
	}
	if err := tx.putAttempt(ctx, lw, att, phone, change{source: a.Source, at: att.At}); err != nil {
		return acceptRun{}, err
	}
	return acceptRun{res: res, att: att, outcome: outcome}, nil
}

// acceptAttempt is the attempt of one accepted (res) or refused (outcome)
// request, as it is stored.
func acceptAttempt(in *wagate.Attempt, res *wagate.AcceptResult, outcome error, now time.Time) *wagate.Attempt {
	att := wagate.AcceptAttempt(in, res, outcome, now)
	return &att
}

// acceptMessage does the checks first and writes only when all pass, so a
// client fault leaves nothing behind but the attempt its caller writes. The
// order of the checks, and so which fault a request with several gets, is
// store/'s.
func (db *DB) acceptMessage(ctx context.Context, tx *acceptTx, lw *lockedWorkspace, a *wagate.Accept, now time.Time) (*wagate.AcceptResult, error, error) {
	ws := lw.ws
	if a.InboundToken != "" && !ws.Webhook.Enabled {
		return nil, wagate.ErrWebhookDisabled(), nil
	}
	if a.IdempotencyKey != "" {
		// The record and its message may be among the queued writes.
		if err := tx.flush(ctx); err != nil {
			return nil, nil, err
		}
		first, outcome, err := findIdempotent(ctx, tx, ws.ID, a.IdempotencyKey, a.BodyHash, now)
		switch {
		case err != nil || outcome != nil:
			return nil, outcome, err
		case first != nil:
			return &wagate.AcceptResult{Message: first, Replayed: true, Balance: ws.Credits}, nil, nil
		}
	}

	m := wagate.QueuedMessage(a.Message, ws.ID, now) // a copy: a batch may run this again alone

	if m.ChatID != 0 {
		chat, err := scanChat(tx.QueryRow(ctx, `SELECT `+chatColumns+` FROM chats WHERE workspace_id = $1 AND id = $2`, ws.ID, m.ChatID))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, wagate.ErrChatNotInWorkspace(m.ChatID), nil
		}
		if err != nil {
			return nil, nil, err
		}
		m.AccountPhone, m.JID = chat.AccountPhone, chat.JID
	}
	if m.AccountPhone == "" {
		return nil, wagate.ErrNoSendingAccount(), nil
	}
	acct, err := tx.findAccount(ctx, wagate.AccountRef{WorkspaceID: ws.ID, Phone: m.AccountPhone})
	found := wagate.ErrorCode(err) != wagate.ENOTFOUND
	if err != nil && found {
		return nil, nil, err
	}
	if err := wagate.CheckSendingAccount(m.AccountPhone, m.ChatID, found, found && acct.Active); err != nil {
		return nil, err, nil
	}
	if err := wagate.CheckRecipient(m.JID); err != nil {
		return nil, err, nil
	}
	newChat := false
	if m.ChatID == 0 {
		if m.ChatID, err = tx.findChat(ctx, ws.ID, m.AccountPhone, m.JID); err != nil {
			return nil, nil, err
		}
		newChat = m.ChatID == 0
	}
	if newChat && db.maxChats > 0 {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT chat_seq FROM workspaces WHERE id = $1`, ws.ID).Scan(&n); err != nil {
			return nil, nil, err
		}
		if n >= int64(db.maxChats) {
			return nil, wagate.ErrChatLimit(n, db.maxChats), nil
		}
	}
	balance, err := quota.Charge(ws.Credits, m.Credits)
	if err != nil {
		return nil, err, nil // ECREDITS, with how many are needed and left
	}

	// Every check passed: write.
	if newChat {
		chat := &wagate.Chat{WorkspaceID: ws.ID, AccountPhone: m.AccountPhone, JID: m.JID, Name: a.ChatName,
			Group: strings.HasSuffix(m.JID, "@"+wagate.ServerGroup)}
		if m.ChatID, err = db.createChat(ctx, tx, chat, m.CreatedAt); err != nil {
			return nil, nil, err // its checks passed above: anything now is a fault
		}
		tx.chats[chatKey{ws.ID, m.AccountPhone, m.JID}] = m.ChatID
	}
	was := ws.Credits
	tx.setBalance(lw, balance)
	ch := change{source: a.Source, at: now}
	if err := tx.insertMessage(ctx, &m, acct.ConnectedAt, ch); err != nil {
		return nil, nil, err
	}
	if err := charged(ctx, tx, ws, was, balance, m.AccountPhone, ch); err != nil {
		return nil, nil, err
	}
	if a.IdempotencyKey != "" {
		// An expired record of the key is replaced.
		tx.exec(nil, `INSERT INTO idempotency (workspace_id, key, body_hash, message_id, at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (workspace_id, key) DO UPDATE SET body_hash = excluded.body_hash, message_id = excluded.message_id, at = excluded.at, batch = NULL`,
			ws.ID, a.IdempotencyKey, a.BodyHash[:], m.ID, now)
	}
	return &wagate.AcceptResult{Message: &m, Balance: balance}, nil, nil
}

// insertMessage queues the new message m and writes its message.queued
// event.
func (tx *acceptTx) insertMessage(ctx context.Context, m *wagate.Message, connectedAt time.Time, ch change) error {
	var template *string
	if m.Template != nil {
		b, err := json.Marshal(newTemplateSendRecord(m.Template))
		if err != nil {
			return err
		}
		s := string(b)
		template = &s
	}
	tx.addMessage(m, connectedAt, template) // accepttx.go: one INSERT for the batch's messages
	return messageChanged(ctx, tx, m, before{}, ch)
}

// findIdempotent reads the record of key in the workspace and asks
// wagate's rule (IdempotencyRecord.Replays). It returns the first message
// of a replay, the EIDEMPOTENCY outcome of a key reused with another body
// or first used for a batch, and neither when the key is new or its record
// expired.
func findIdempotent(ctx context.Context, q querier, workspaceID, key string, bodyHash [32]byte, now time.Time) (*wagate.Message, error, error) {
	var (
		hash []byte
		id   string
		at   time.Time
	)
	err := q.QueryRow(ctx, `SELECT body_hash, message_id, at FROM idempotency WHERE workspace_id = $1 AND key = $2`, workspaceID, key).Scan(&hash, &id, &at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil, nil
	case err != nil:
		return nil, nil, err
	}
	if replay, outcome := (&wagate.IdempotencyRecord{BodyHash: hash, At: at, Batch: id == batchMarker}).Replays(key, false, bodyHash, now); !replay {
		return nil, outcome, nil
	}
	first, err := scanMessage(q.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("idempotency key %q names message %s, which is missing", key, id)
	}
	return first, nil, err
}

// queuePrune queues pruneIdempotency's delete for tx's flush.
func queuePrune(tx *acceptTx, now time.Time) {
	tx.exec(nil, pruneIdempotencySQL, wagate.IdempotencyCutoff(now), idempotencyPruneMax)
}

const pruneIdempotencySQL = `DELETE FROM idempotency WHERE (workspace_id, key) IN
		(SELECT workspace_id, key FROM idempotency WHERE at <= $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)`

// pruneIdempotency deletes up to max expired records (written at or
// before wagate.IdempotencyCutoff), oldest first, so keys do not pile up
// forever.
func pruneIdempotency(ctx context.Context, tx pgx.Tx, now time.Time, max int) error {
	_, err := tx.Exec(ctx, pruneIdempotencySQL, wagate.IdempotencyCutoff(now), max)
	return err
}

// Replay looks an Idempotency-Key up before the request is validated; see
// wagate.MessageService. A new key costs one read; a known one also
// commits att before the answer.
func (db *DB) Replay(ctx context.Context, workspaceID, key string, bodyHash [32]byte, att *wagate.Attempt) (*wagate.Message, error) {
	now := db.now()
	var known bool
	err := db.read(ctx, "replay", func(q querier) error {
		first, outcome, err := findIdempotent(ctx, q, workspaceID, key, bodyHash, now)
		known = first != nil || outcome != nil
		return err
	})
	if err != nil || !known {
		return nil, err
	}
	var (
		first   *wagate.Message
		outcome error
	)
	err = db.update(ctx, "replay", func(tx pgx.Tx) error {
		var err error
		first, outcome, err = findIdempotent(ctx, tx, workspaceID, key, bodyHash, now)
		if err != nil {
			return err
		}
		var res *wagate.AcceptResult
		phone := ""
		if first != nil {
			res, phone = &wagate.AcceptResult{Message: first, Replayed: true}, first.AccountPhone
		}
		rec := wagate.AcceptAttempt(att, res, outcome, now)
		return putAttempt(ctx, tx, workspaceID, &rec, phone, change{source: wagate.SourceInbound, at: rec.At})
	})
	switch {
	case err != nil:
		return nil, err
	case outcome != nil:
		return nil, outcome
	case first == nil:
		return nil, nil // the record expired between the read and the commit: a new key
	}
	if att != nil {
		att.MessageID = first.ID
	}
	return first, nil
}

// FindMessage returns a message of the workspace or ENOTFOUND, with the
// message it waits for (WaitingFor) worked out as it is read.
func (db *DB) FindMessage(ctx context.Context, workspaceID, id string) (*wagate.Message, error) {
	now := db.now()
	var m *wagate.Message
	err := db.view(ctx, "find message", func(tx pgx.Tx) error {
		var err error
		m, err = scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1 AND workspace_id = $2`, id, workspaceID))
		if errors.Is(err, pgx.ErrNoRows) {
			return wagate.ErrMessageNotInWorkspace(id)
		}
		if err != nil {
			return err
		}
		return fillWaitingFor(ctx, tx, []*wagate.Message{m}, now)
	})
	return m, err
}

// ListMessages returns a workspace's messages newest first, at most limit
// (DefaultListLimit when 0 or less); status != "" keeps only that status.
// ENOTFOUND for an unknown workspace.
func (db *DB) ListMessages(ctx context.Context, workspaceID string, status wagate.MessageStatus, limit int) ([]*wagate.Message, error) {
	list, _, err := db.pageMessages(ctx, "list messages", workspaceID, status, limit, 0)
	return list, err
}

// PageMessages returns a page of a workspace's messages, newest first; see
// wagate.MessageService. A cursor is the seq of the last message of the
// previous page, in the form of decodeCursor. ENOTFOUND for an unknown
// workspace, EINVALID for an unknown status or a bad cursor.
func (db *DB) PageMessages(ctx context.Context, workspaceID string, status wagate.MessageStatus, limit int, cursor string) ([]*wagate.Message, string, error) {
	before, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	return db.pageMessages(ctx, "page messages", workspaceID, status, limit, before)
}

// pageSQL reads a page of a workspace's messages ($1) with a seq below $2,
// at most $3, newest first. The status is written out in the SQL (it was
// checked: one of wagate's), so each status has a plan of its own that
// can use the partial indexes of 0017_pgspeed.sql; a parameter would get
// one generic plan for every status.
func pageSQL(status wagate.MessageStatus) string {
	cond := "true"
	if status.Valid() {
		cond = "status = '" + string(status) + "'"
	}
	return `SELECT seq, ` + messageColumns + ` FROM messages WHERE workspace_id = $1 AND ` + cond + ` AND seq < $2 ORDER BY seq DESC LIMIT $3`
}

// pageMessages reads at most limit messages with a seq below before (0:
// from the newest) and the cursor of the next page.
func (db *DB) pageMessages(ctx context.Context, op, workspaceID string, status wagate.MessageStatus, limit int, before int64) ([]*wagate.Message, string, error) {
	if err := wagate.CheckStatusFilter(status); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if before == 0 {
		before = 1 << 62
	}
	var (
		list []*wagate.Message
		next string
		now  = db.now()
	)
	err := db.view(ctx, op, func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, pageSQL(status), workspaceID, before, limit+1)
		if err != nil {
			return err
		}
		var seqs []int64
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Message, error) {
			var seq int64
			m, err := scanMessage(seqRow{r, &seq})
			seqs = append(seqs, seq)
			return m, err
		})
		if err != nil {
			return err
		}
		if len(list) > limit {
			list = list[:limit]
			next = encodeCursor(uint64(seqs[limit-1]))
		}
		return fillWaitingFor(ctx, tx, list, now)
	})
	if err != nil {
		return nil, "", err
	}
	return list, next, nil
}

// seqRow scans a leading seq column into seq, then the rest as its row.
type seqRow struct {
	pgx.Row
	seq *int64
}

func (r seqRow) Scan(dest ...any) error { return r.Row.Scan(append([]any{r.seq}, dest...)...) }

// CancelMessage cancels a queued message: in one transaction it becomes
// failed with wagate.ErrorCancelled and a cancelled try at at, and its
// credits come back. See wagate.MessageService.
func (db *DB) CancelMessage(ctx context.Context, workspaceID, id, source string, at time.Time) (*wagate.Message, error) {
	at = orNow(at, db.now())
	var out *wagate.Message
	err := db.update(ctx, "cancel message", func(tx pgx.Tx) error {
		// The workspace first, as every writer of messages locks it.
		if _, err := findWorkspace(ctx, tx, workspaceID, true); err != nil {
			if wagate.ErrorCode(err) == wagate.ENOTFOUND {
				return wagate.ErrMessageNotInWorkspace(id)
			}
			return err
		}
		m, err := scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1 AND workspace_id = $2 FOR UPDATE`, id, workspaceID))
		if errors.Is(err, pgx.ErrNoRows) {
			return wagate.ErrMessageNotInWorkspace(id)
		}
		if err != nil {
			return err
		}
		if err := wagate.CheckCancel(id, m.Status, m.Error); err != nil {
			return err
		}
		try := wagate.CancelledTry(at)
		m.Tries = append(m.Tries, try)
		m.Error, m.NextTryAt = try.Error, time.Time{}
		if err := fail(ctx, tx, m, change{source: source, at: at}); err != nil {
			return err
		}
		out = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// fail stores m (queued, its workspace's row locked by the caller) as
// failed with its Error and Tries, and refunds its credits: the one place
// where credits come back on this backend, so every path refunds once
// (callers never call it for a failed message). It writes the event of
// the change ch (message.failed, or message.cancelled for ErrorCancelled).
func fail(ctx context.Context, tx pgx.Tx, m *wagate.Message, ch change) error {
	was := beforeOf(m)
	m.Status, m.WaitingReason = wagate.StatusFailed, ""
	tries, err := encodeTries(m.Tries)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'failed', error = $2, tries = $3, next_try_at = NULL, waiting_reason = '' WHERE id = $1`,
		m.ID, m.Error, tries); err != nil {
		return err
	}
	var balance int64
	if err := tx.QueryRow(ctx, `SELECT balance FROM workspaces WHERE id = $1`, m.WorkspaceID).Scan(&balance); err != nil {
		return err
	}
	if _, err = tx.Exec(ctx, `UPDATE workspaces SET balance = $2 WHERE id = $1`, m.WorkspaceID, quota.Refund(balance, m.Credits)); err != nil {
		return err
	}
	return messageChanged(ctx, tx, m, was, ch)
}

func encodeTries(tries []wagate.Try) (string, error) {
	recs := make([]tryRecord, len(tries))
	for i, t := range tries {
		recs[i] = tryRecord{At: t.At, Result: t.Result, Class: t.Class, Error: t.Error, ProviderID: t.ProviderID}
	}
	b, err := json.Marshal(recs)
	return string(b), err
}

// putAttempt appends a to the workspace's log, over the attempt
// wagate.AttemptLimit before it (the ring of 0017_pgspeed.sql). The body
// is cut at wagate.AttemptBodyLimit. It is the funnel of attempts: each writes its webhook.attempt event, as
// ch says who made it and when, from the account phone of its message (""
// when none).
func putAttempt(ctx context.Context, tx pgx.Tx, workspaceID string, a *wagate.Attempt, phone string, ch change) error {
	warnings, err := json.Marshal(orNone(a.Warnings))
	if err != nil {
		return err
	}
	// The workspace's next attempt number, and its slot in the ring
	// (0017_pgspeed.sql; the UPDATE locks the workspace's row, which every
	// caller takes before any other).
	_, err = tx.Exec(ctx, `WITH w AS (UPDATE workspaces SET attempts_made = attempts_made + 1 WHERE id = $1 RETURNING attempts_made AS n)
		INSERT INTO attempts (workspace_id, n, slot, at, request_id, remote_addr, content_type, body, code, message, message_id, credits, warnings)
		SELECT $1, w.n, (w.n % $12::bigint)::integer, $2::timestamptz, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::bigint, $11::jsonb FROM w
		ON CONFLICT (workspace_id, slot) DO UPDATE SET n = excluded.n, at = excluded.at, request_id = excluded.request_id, remote_addr = excluded.remote_addr,
			content_type = excluded.content_type, body = excluded.body, code = excluded.code, message = excluded.message, message_id = excluded.message_id,
			credits = excluded.credits, warnings = excluded.warnings`,
		workspaceID, a.At, a.RequestID, a.RemoteAddr, a.ContentType, wagate.CutUTF8(a.Body, wagate.AttemptBodyLimit),
		a.Code, a.Message, a.MessageID, a.Credits, string(warnings), int64(wagate.AttemptLimit))
	if err != nil {
		return err
	}
	ev := *a
	ev.Body = wagate.CutUTF8(a.Body, wagate.AttemptBodyLimit)
	return attemptRecorded(ctx, tx, workspaceID, &ev, phone, ch)
}

func orNone(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// RecordAttempt appends a to the workspace's log, keeping the last
// wagate.AttemptLimit. ENOTFOUND for an unknown workspace.
func (db *DB) RecordAttempt(ctx context.Context, workspaceID string, a *wagate.Attempt) error {
	rec := *a
	rec.At = orNow(rec.At, db.now())
	return db.update(ctx, "record attempt", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, false); err != nil {
			return err
		}
		return putAttempt(ctx, tx, workspaceID, &rec, "", change{source: wagate.SourceInbound, at: rec.At})
	})
}

// ListAttempts returns up to limit attempts (all kept when limit <= 0),
// newest first, with SendStatus and SendError read from their messages at
// the time of the call. ENOTFOUND for an unknown workspace.
func (db *DB) ListAttempts(ctx context.Context, workspaceID string, limit int) ([]*wagate.Attempt, error) {
	if limit <= 0 || limit > wagate.AttemptLimit {
		limit = wagate.AttemptLimit
	}
	var list []*wagate.Attempt
	err := db.view(ctx, "list attempts", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT a.at, a.request_id, a.remote_addr, a.content_type, a.body, a.code, a.message, a.message_id, a.credits, a.warnings,
			coalesce(m.status, ''), coalesce(m.error, '')
			FROM attempts a LEFT JOIN messages m ON m.id = a.message_id AND a.message_id <> ''
			WHERE a.workspace_id = $1 ORDER BY a.n DESC LIMIT $2`, workspaceID, limit)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Attempt, error) {
			var (
				a        wagate.Attempt
				warnings []byte
				status   string
			)
			if err := r.Scan(&a.At, &a.RequestID, &a.RemoteAddr, &a.ContentType, &a.Body, &a.Code, &a.Message, &a.MessageID, &a.Credits, &warnings, &status, &a.SendError); err != nil {
				return nil, err
			}
			a.SendStatus = wagate.MessageStatus(status)
			if err := json.Unmarshal(warnings, &a.Warnings); err != nil {
				return nil, err
			}
			if len(a.Warnings) == 0 {
				a.Warnings = nil
			}
			return &a, nil
		})
		return err
	})
	return list, err
}

// cursorText shows a bad cursor in an error, cut and valid UTF-8.
func cursorText(cursor string) string { return strings.ToValidUTF8(wagate.CutUTF8(cursor, 40), "") }
