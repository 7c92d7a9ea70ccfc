package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// Import's big tables (messages, idempotency records, attempts, the send
// history, deliveries: millions of rows in a store that has run for a
// while) are written with COPY, bulkRows rows at a time, inside the
// import's one transaction: an INSERT per row is a round trip per row,
// which is what made a copy of 200,000 messages take minutes.
//
// Order still matters for the foreign keys (a delivery's endpoint, a
// message's workspace): every table's pending rows are flushed before a
// record of any other kind is inserted, and at the end, so rows reach the
// database in the order the export yields them; COPY numbers identity
// columns (messages.seq, deliveries.seq) in that order too, as the
// INSERTs did.

// bulkRows is how many rows of one table are sent in one COPY: enough to
// make the round trip negligible, few enough to keep the memory small.
const bulkRows = 5000

// bulkTable is the rows of one table waiting for their COPY.
type bulkTable struct {
	name    string
	columns []string
	jsonb   []bool // by column: a jsonb column (cleaned as JSON, import_clean.go)
	rows    [][]any
}

// bulk holds the pending rows of the big tables, in a fixed order.
type bulk struct {
	tables []*bulkTable
	byName map[string]*bulkTable
	// replaced counts the values stored with U+FFFD (import_clean.go).
	replaced int64
	// attempts numbers each workspace's attempts in export order (oldest
	// first), for their place in its ring (0017_pgspeed.sql); Import then
	// writes the counts to workspaces.attempts_made.
	attempts map[string]int64
}

// jsonbColumns are the jsonb columns of bulk's tables.
var jsonbColumns = map[string]bool{"tries": true, "template": true, "batch": true, "warnings": true, "event": true, "request": true, "response": true}

func newBulk() *bulk {
	b := &bulk{byName: map[string]*bulkTable{}, attempts: map[string]int64{}}
	for _, t := range []*bulkTable{
		{name: "messages", columns: []string{"id", "workspace_id", "status", "account_phone", "account_connected_at", "chat_id", "jid", "text",
			"file_url", "file_name", "credits", "error", "tries", "next_try_at", "created_at", "sent_at", "send_at", "waiting_reason", "delivery",
			"delivery_at", "template_name", "template", "queue_pos", "sending_at", "provider_id"}},
		{name: "idempotency", columns: []string{"workspace_id", "key", "body_hash", "message_id", "at", "batch"}},
		{name: "attempts", columns: []string{"workspace_id", "n", "slot", "at", "request_id", "remote_addr", "content_type", "body", "code", "message",
			"message_id", "credits", "warnings"}},
		{name: "sends", columns: []string{"workspace_id", "account_phone", "at", "message_id"}},
		{name: "first_sends", columns: []string{"workspace_id", "account_phone", "at"}},
		{name: "deliveries", columns: []string{"workspace_id", "endpoint_id", "id", "event_id", "event_type", "event", "attempt", "status",
			"request", "request_body", "response", "response_body", "duration_ns", "error", "next_at", "at"}},
	} {
		t.jsonb = make([]bool, len(t.columns))
		for i, c := range t.columns {
			t.jsonb[i] = jsonbColumns[c]
		}
		b.tables = append(b.tables, t)
		b.byName[t.name] = t
	}
	return b
}

// add queues the rows of rec when it is of a big table's kind, writing
// that table's rows when bulkRows are waiting. handled is false for the
// other kinds, which the caller inserts itself after flush.
func (b *bulk) add(ctx context.Context, tx pgx.Tx, rec any) (handled bool, err error) {
	put := func(table string, row []any) error {
		t := b.byName[table]
		b.replaced += clean(row, t.jsonb)
		t.rows = append(t.rows, row)
		if len(t.rows) >= bulkRows {
			return t.flush(ctx, tx)
		}
		return nil
	}
	switch r := rec.(type) {
	case *wagate.ExportedMessage:
		row, err := messageCopyRow(r)
		if err != nil {
			return true, err
		}
		return true, put("messages", row)
	case *wagate.ExportedIdempotency:
		var batch *string
		if r.MessageID == batchMarker {
			recs := make([]batchItemRecord, len(r.Batch))
			for i, it := range r.Batch {
				recs[i] = batchItemRecord(it)
			}
			blob, err := json.Marshal(recs)
			if err != nil {
				return true, err
			}
			s := string(blob)
			batch = &s
		}
		return true, put("idempotency", []any{r.WorkspaceID, r.Key, r.BodyHash[:], r.MessageID, r.At, batch})
	case *wagate.ExportedAttempt:
		a := &r.Attempt
		warnings, err := json.Marshal(orNone(a.Warnings))
		if err != nil {
			return true, err
		}
		b.attempts[r.WorkspaceID]++
		n := b.attempts[r.WorkspaceID]
		return true, put("attempts", []any{r.WorkspaceID, n, int32(n % wagate.AttemptLimit), a.At, a.RequestID, a.RemoteAddr, a.ContentType, a.Body, a.Code, a.Message,
			a.MessageID, a.Credits, string(warnings)})
	case *wagate.ExportedSends:
		ref := r.Account
		for _, s := range r.Sends {
			if err := put("sends", []any{ref.WorkspaceID, ref.Phone, s.At, s.MessageID}); err != nil {
				return true, err
			}
		}
		if r.First.IsZero() {
			return true, nil
		}
		return true, put("first_sends", []any{ref.WorkspaceID, ref.Phone, r.First})
	case *wagate.ExportedDelivery:
		row, err := deliveryCopyRow(r)
		if err != nil {
			return true, err
		}
		return true, put("deliveries", row)
	}
	return false, nil
}

// flush writes every table's pending rows.
func (b *bulk) flush(ctx context.Context, tx pgx.Tx) error {
	for _, t := range b.tables {
		if err := t.flush(ctx, tx); err != nil {
			return err
		}
	}
	return nil
}

func (t *bulkTable) flush(ctx context.Context, tx pgx.Tx) error {
	if len(t.rows) == 0 {
		return nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromRows(t.rows))
	if err != nil {
		return fmt.Errorf("writing %d rows of %s: %w", len(t.rows), t.name, err)
	}
	if n != int64(len(t.rows)) {
		return fmt.Errorf("writing %d rows of %s: the database took %d", len(t.rows), t.name, n)
	}
	clear(t.rows)
	t.rows = t.rows[:0]
	return nil
}

// messageCopyRow is a message's row as it stood, in its queue's place, in
// the order of bulk's messages columns.
func messageCopyRow(r *wagate.ExportedMessage) ([]any, error) {
	m := &r.Message
	tries, err := encodeTries(m.Tries)
	if err != nil {
		return nil, err
	}
	var template *string
	if m.Template != nil {
		b, err := json.Marshal(newTemplateSendRecord(m.Template))
		if err != nil {
			return nil, err
		}
		s := string(b)
		template = &s
	}
	var pos *int64
	if r.QueuePos != 0 {
		p := int64(r.QueuePos)
		pos = &p
	}
	var providerID *string
	if r.ProviderID != "" {
		providerID = &r.ProviderID
	}
	nextTry, reason := m.NextTryAt, m.WaitingReason
	if m.Status != wagate.StatusQueued {
		// Only a queued message's retry or hold is kept (bbolt may leave
		// a stale one on a failed message).
		nextTry, reason = time.Time{}, ""
	}
	return []any{m.ID, m.WorkspaceID, string(m.Status), m.AccountPhone, r.AccountConnectedAt, m.ChatID, m.JID, m.Text,
		m.FileURL, m.FileName, m.Credits, m.Error, tries, nullTime(nextTry), m.CreatedAt, nullTime(m.SentAt), nullTime(m.SendAt), reason, m.Delivery,
		nullTime(m.DeliveryAt), m.TemplateName, template, pos, nullTime(r.SendingAt), providerID}, nil
}

// deliveryCopyRow is a delivery's row as it stood, its event with it; a
// pending one stays due when it was, and no lease is taken.
func deliveryCopyRow(r *wagate.ExportedDelivery) ([]any, error) {
	d := &r.Delivery
	o, err := newOutcome(d)
	if err != nil {
		return nil, err
	}
	var event *string
	if r.Event != nil {
		b, err := encodeEvent(r.Event)
		if err != nil {
			return nil, err
		}
		s := string(b)
		event = &s
	}
	var next *time.Time
	if d.Status == wagate.DeliveryPending {
		t := d.NextTryAt
		next = &t
	}
	return []any{d.WorkspaceID, d.EndpointID, d.ID, d.EventID, d.Event, event, int32(d.Attempt), string(d.Status),
		o.request, o.requestBody, o.response, o.responseBody, int64(d.Duration), o.errText, next, d.At}, nil
}
