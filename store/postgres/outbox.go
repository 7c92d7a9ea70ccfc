package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// The outbox (SPEC §9), the twin of store/outbox.go: table deliveries, one
// row per event per endpoint with the event inside it (migration 0006).
//
// History: an endpoint keeps every pending delivery (nothing is dropped,
// however long it stays disabled) and the newest finished ones, so that
// pending + finished is wagate.DeliveryHistoryLimit when there are that
// many: every write that adds a delivery or finishes one trims the oldest
// finished deliveries beyond it, in the same transaction.

// eventRecord is a stored wagate.Event (the workspace is the row's):
// names of its own, so renaming a field of a domain type cannot silently
// drop a stored event.
type eventRecord struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	At           time.Time      `json:"at"`
	AccountPhone string         `json:"account,omitempty"`
	Source       string         `json:"source,omitempty"`
	Message      *messageRecord `json:"message,omitempty"`
	Attempt      *attemptRecord `json:"attempt,omitempty"`
	Account      *accountRecord `json:"account_record,omitempty"`
	Credits      int64          `json:"credits,omitempty"`
}

// accountRecord is the account of an account.* event, as the change left
// it (settings included, as store/ keeps them: the deliverer's payload
// never shows them).
type accountRecord struct {
	Phone       string            `json:"phone"`
	Transport   string            `json:"transport"`
	Settings    map[string]string `json:"settings,omitempty"`
	Active      bool              `json:"active"`
	ConnectedAt time.Time         `json:"connected_at"`
	Rules       rulesRecord       `json:"rules"`
	LinkState   string            `json:"link_state,omitempty"`
	LinkSince   time.Time         `json:"link_since,omitzero"`
	LinkError   string            `json:"link_error,omitempty"`
	LinkUntil   time.Time         `json:"link_until,omitzero"`
}

// messageRecord is the message of an event, as the change left it.
type messageRecord struct {
	ID            string               `json:"id"`
	Status        string               `json:"status"`
	AccountPhone  string               `json:"account"`
	ChatID        int64                `json:"chat_id,omitempty"`
	JID           string               `json:"jid,omitempty"`
	Text          string               `json:"text,omitempty"`
	FileURL       string               `json:"file_url,omitempty"`
	FileName      string               `json:"file_name,omitempty"`
	Credits       int64                `json:"credits"`
	Error         string               `json:"error,omitempty"`
	Tries         []tryRecord          `json:"tries,omitempty"`
	NextTryAt     time.Time            `json:"next_try_at,omitzero"`
	CreatedAt     time.Time            `json:"created_at"`
	SentAt        time.Time            `json:"sent_at,omitzero"`
	SendAt        time.Time            `json:"send_at,omitzero"`
	WaitingReason string               `json:"waiting_reason,omitempty"`
	Delivery      string               `json:"delivery,omitempty"`
	DeliveryAt    time.Time            `json:"delivery_at,omitzero"`
	TemplateName  string               `json:"template_name,omitempty"`
	Template      *wagate.TemplateSend `json:"template,omitempty"`
}

// attemptRecord is the attempt of a webhook.attempt event.
type attemptRecord struct {
	At          time.Time `json:"at"`
	RequestID   string    `json:"request_id,omitempty"`
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Body        string    `json:"body,omitempty"`
	Code        string    `json:"code,omitempty"`
	Message     string    `json:"message,omitempty"`
	MessageID   string    `json:"message_id,omitempty"`
	Credits     int64     `json:"credits,omitempty"`
	Warnings    []string  `json:"warnings,omitempty"`
}

// encodeEvent is the JSON of ev for deliveries.event. The message's
// WaitingFor is worked out when read, never stored, so it is left out.
func encodeEvent(ev *wagate.Event) ([]byte, error) {
	r := eventRecord{ID: ev.ID, Type: ev.Type, At: ev.At, AccountPhone: ev.AccountPhone, Source: ev.Source, Credits: ev.Credits}
	if m := ev.Message; m != nil {
		r.Message = &messageRecord{ID: m.ID, Status: string(m.Status), AccountPhone: m.AccountPhone, ChatID: m.ChatID, JID: m.JID,
			Text: m.Text, FileURL: m.FileURL, FileName: m.FileName, Credits: m.Credits, Error: m.Error, NextTryAt: m.NextTryAt,
			CreatedAt: m.CreatedAt, SentAt: m.SentAt, SendAt: m.SendAt, WaitingReason: m.WaitingReason, Delivery: m.Delivery,
			DeliveryAt: m.DeliveryAt, TemplateName: m.TemplateName, Template: m.Template}
		for _, t := range m.Tries {
			r.Message.Tries = append(r.Message.Tries, tryRecord{At: t.At, Result: t.Result, Class: t.Class, Error: t.Error, ProviderID: t.ProviderID})
		}
	}
	if a := ev.Attempt; a != nil {
		r.Attempt = &attemptRecord{At: a.At, RequestID: a.RequestID, RemoteAddr: a.RemoteAddr, ContentType: a.ContentType,
			Body: a.Body, Code: a.Code, Message: a.Message, MessageID: a.MessageID, Credits: a.Credits, Warnings: a.Warnings}
	}
	if a := ev.Account; a != nil {
		r.Account = &accountRecord{Phone: a.Phone, Transport: a.Transport, Settings: a.Settings, Active: a.Active, ConnectedAt: a.ConnectedAt,
			Rules: newRulesRecord(a.Rules), LinkState: a.Link.State, LinkSince: a.Link.Since, LinkError: a.Link.Error, LinkUntil: a.Link.Until}
	}
	return json.Marshal(r)
}

// decodeEvent reads a stored event of the workspace.
func decodeEvent(workspaceID string, data []byte) (*wagate.Event, error) {
	var r eventRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	ev := &wagate.Event{ID: r.ID, WorkspaceID: workspaceID, Type: r.Type, At: r.At, AccountPhone: r.AccountPhone, Source: r.Source, Credits: r.Credits}
	if m := r.Message; m != nil {
		ev.Message = &wagate.Message{ID: m.ID, WorkspaceID: workspaceID, Status: wagate.MessageStatus(m.Status), AccountPhone: m.AccountPhone,
			ChatID: m.ChatID, JID: m.JID, Text: m.Text, FileURL: m.FileURL, FileName: m.FileName, Credits: m.Credits, Error: m.Error,
			NextTryAt: m.NextTryAt, CreatedAt: m.CreatedAt, SentAt: m.SentAt, SendAt: m.SendAt, WaitingReason: m.WaitingReason,
			Delivery: m.Delivery, DeliveryAt: m.DeliveryAt, TemplateName: m.TemplateName, Template: m.Template}
		for _, t := range m.Tries {
			ev.Message.Tries = append(ev.Message.Tries, wagate.Try{At: t.At, Result: t.Result, Class: t.Class, Error: t.Error, ProviderID: t.ProviderID})
		}
	}
	if a := r.Attempt; a != nil {
		ev.Attempt = &wagate.Attempt{At: a.At, RequestID: a.RequestID, RemoteAddr: a.RemoteAddr, ContentType: a.ContentType,
			Body: a.Body, Code: a.Code, Message: a.Message, MessageID: a.MessageID, Credits: a.Credits, Warnings: a.Warnings}
	}
	if a := r.Account; a != nil {
		ev.Account = &wagate.Account{WorkspaceID: workspaceID, Phone: a.Phone, Transport: a.Transport, Settings: a.Settings, Active: a.Active,
			ConnectedAt: a.ConnectedAt, Rules: a.Rules.domain(),
			Link: wagate.AccountLink{State: a.LinkState, Since: a.LinkSince, Error: a.LinkError, Until: a.LinkUntil}}
	}
	return ev, nil
}

// requestRecord and responseRecord are the last attempt's exchange but
// its bodies, as the history keeps it (masked by the deliverer).
type requestRecord struct {
	Method  string        `json:"method,omitempty"`
	URL     string        `json:"url,omitempty"`
	Headers []fieldRecord `json:"headers,omitempty"`
}

type responseRecord struct {
	Status  int           `json:"status,omitempty"`
	Headers []fieldRecord `json:"headers,omitempty"`
}

// outcome is d's attempt as stored: request and response JSON, the bodies
// cut to wagate.DeliveryBodyLimit, and the error, cut too and without NUL
// bytes (text cannot hold them).
type outcome struct {
	request, response         string
	requestBody, responseBody []byte
	errText                   string
}

func newOutcome(d *wagate.EndpointDelivery) (outcome, error) {
	req, err := json.Marshal(requestRecord{Method: d.Request.Method, URL: d.Request.URL, Headers: newFieldRecords(d.Request.Headers)})
	if err != nil {
		return outcome{}, err
	}
	resp, err := json.Marshal(responseRecord{Status: d.Response.Status, Headers: newFieldRecords(d.Response.Headers)})
	if err != nil {
		return outcome{}, err
	}
	return outcome{request: string(req), response: string(resp),
		requestBody:  []byte(wagate.CutUTF8(d.Request.Body, wagate.DeliveryBodyLimit)),
		responseBody: []byte(wagate.CutUTF8(d.Response.Body, wagate.DeliveryBodyLimit)),
		errText:      strings.ReplaceAll(wagate.CutUTF8(d.Error, wagate.DeliveryBodyLimit), "\x00", "\uFFFD")}, nil
}

// deliveryColumns are read by scanDelivery, in its order.
const deliveryColumns = `workspace_id, endpoint_id, id, seq, event_id, event_type, event, attempt, status, request, request_body,
	response, response_body, duration_ns, error, next_at, at, lease_owner, lease_expires`

// deliveryRow is one row of deliveries: the delivery, its event and its
// lease.
type deliveryRow struct {
	d            *wagate.EndpointDelivery
	seq          int64
	event        *wagate.Event
	leaseOwner   string
	leaseExpires time.Time
}

func scanDelivery(row pgx.Row) (*deliveryRow, error) {
	var (
		d                  wagate.EndpointDelivery
		r                  deliveryRow
		reqBody, respBody  []byte
		event, req, resp   []byte
		duration           int64
		next, leaseExpires *time.Time
		leaseOwner         *string
		reqRec             requestRecord
		respRec            responseRecord
	)
	err := row.Scan(&d.WorkspaceID, &d.EndpointID, &d.ID, &r.seq, &d.EventID, &d.Event, &event, &d.Attempt, &d.Status, &req, &reqBody,
		&resp, &respBody, &duration, &d.Error, &next, &d.At, &leaseOwner, &leaseExpires)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(req, &reqRec); err != nil {
		return nil, fmt.Errorf("delivery %s: request: %w", d.ID, err)
	}
	if err := json.Unmarshal(resp, &respRec); err != nil {
		return nil, fmt.Errorf("delivery %s: response: %w", d.ID, err)
	}
	d.Request = wagate.DeliveryRequest{Method: reqRec.Method, URL: reqRec.URL, Headers: fieldsDomain(reqRec.Headers), Body: string(reqBody)}
	d.Response = wagate.DeliveryResponse{Status: respRec.Status, Headers: fieldsDomain(respRec.Headers), Body: string(respBody)}
	d.Duration, d.NextTryAt = time.Duration(duration), deref(next)
	if event != nil {
		if r.event, err = decodeEvent(d.WorkspaceID, event); err != nil {
			return nil, fmt.Errorf("delivery %s: event: %w", d.ID, err)
		}
	} else {
		// A recorded test send keeps only its event's id and type; retried,
		// it is delivered with them (as store/ does).
		r.event = &wagate.Event{ID: d.EventID, WorkspaceID: d.WorkspaceID, Type: d.Event, At: d.At}
	}
	if leaseOwner != nil {
		r.leaseOwner = *leaseOwner
	}
	r.d, r.leaseExpires = &d, deref(leaseExpires)
	return &r, nil
}

func collectDeliveries(rows pgx.Rows, err error) ([]*deliveryRow, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*deliveryRow, error) { return scanDelivery(r) })
}

// findDelivery reads one delivery of the endpoint, its row locked; nil
// when there is none.
func findDelivery(ctx context.Context, tx pgx.Tx, ref wagate.EndpointRef, id string) (*deliveryRow, error) {
	r, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE workspace_id = $1 AND endpoint_id = $2 AND id = $3 FOR UPDATE`, ref.WorkspaceID, ref.ID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// addDelivery adds a pending delivery of ev (data, its JSON), due at once,
// to the endpoint, and trims its history.
func addDelivery(ctx context.Context, tx pgx.Tx, ref wagate.EndpointRef, ev *wagate.Event, data []byte) error {
	id, err := newDeliveryID(idSource)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO deliveries (workspace_id, endpoint_id, id, event_id, event_type, event, status, next_at, at)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)`, ref.WorkspaceID, ref.ID, id, ev.ID, ev.Type, string(data), ev.At); err != nil {
		return err
	}
	return trim(ctx, tx, ref)
}

// trim deletes the oldest finished deliveries of the endpoint beyond what
// the history keeps (wagate.DeliveryHistoryLimit, pending ones included).
// It reads at most the limit's worth of index entries of each kind, however
// long the backlog of a disabled endpoint.
func trim(ctx context.Context, tx pgx.Tx, ref wagate.EndpointRef) error {
	_, err := tx.Exec(ctx, `DELETE FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2 AND status <> 'pending' AND seq <= (
		SELECT seq FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2 AND status <> 'pending' ORDER BY seq DESC
		OFFSET greatest($3 - (SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2
			AND status = 'pending' LIMIT $3) AS p), 0) LIMIT 1)`, ref.WorkspaceID, ref.ID, wagate.DeliveryHistoryLimit)
	return err
}

// wakeIfPending has the deliverer woken for ref after the commit of tx,
// when it has pending deliveries.
func wakeIfPending(ctx context.Context, tx pgx.Tx, ref wagate.EndpointRef) error {
	var pending bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2 AND status = 'pending')`,
		ref.WorkspaceID, ref.ID).Scan(&pending); err != nil {
		return err
	}
	if pending {
		noteWake(tx, ref)
	}
	return nil
}

// ListDeliveries pages through the endpoint's kept deliveries, newest
// first; see wagate.EndpointService. A cursor is the seq of the last
// delivery of the previous page. ENOTFOUND for an unknown endpoint,
// EINVALID for a bad cursor.
func (db *DB) ListDeliveries(ctx context.Context, ref wagate.EndpointRef, limit int, cursor string) ([]*wagate.EndpointDelivery, string, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	before, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if before == 0 {
		before = 1 << 62
	}
	var (
		list []*wagate.EndpointDelivery
		next string
	)
	err = db.view(ctx, "list deliveries", func(tx pgx.Tx) error {
		list, next = nil, ""
		if _, err := findEndpoint(ctx, tx, ref, false); err != nil {
			return err
		}
		rows, err := collectDeliveries(tx.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
			WHERE workspace_id = $1 AND endpoint_id = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4`, ref.WorkspaceID, ref.ID, before, limit+1))
		if err != nil {
			return err
		}
		for i, r := range rows {
			if i == limit {
				next = encodeCursor(uint64(rows[i-1].seq))
				break
			}
			list = append(list, r.d)
		}
		return nil
	})
	return list, next, err
}

// RetryDelivery queues a failed delivery again, due at (zero: now); see
// wagate.EndpointService. Its attempt count goes on from where it was, and
// its last request and response stay until the next attempt replaces
// them. The deliverer is woken once committed (Options.OnDeliveries) when
// the endpoint is enabled.
func (db *DB) RetryDelivery(ctx context.Context, ref wagate.EndpointRef, deliveryID string, at time.Time) (*wagate.EndpointDelivery, error) {
	at = orNow(at, db.now())
	var out *wagate.EndpointDelivery
	err := db.update(ctx, "retry delivery", func(tx pgx.Tx) error {
		out = nil
		ep, err := findEndpoint(ctx, tx, ref, false)
		if err != nil {
			return err
		}
		r, err := findDelivery(ctx, tx, ref, deliveryID)
		switch {
		case err != nil:
			return err
		case r == nil:
			return wagate.ErrDeliveryNotFound(deliveryID)
		case r.d.Status != wagate.DeliveryFailed:
			return wagate.CheckRetryDelivery(r.d.ID, r.d.Status)
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'pending', next_at = $4, lease_owner = NULL, lease_expires = NULL
			WHERE workspace_id = $1 AND endpoint_id = $2 AND id = $3`, ref.WorkspaceID, ref.ID, r.d.ID, at); err != nil {
			return err
		}
		if err := trim(ctx, tx, ref); err != nil {
			return err
		}
		if ep.Enabled {
			noteWake(tx, ref)
		}
		r.d.Status, r.d.NextTryAt = wagate.DeliveryPending, at
		out = r.d
		return nil
	})
	return out, err
}

// RecordDelivery adds a delivery made outside the queue (a test send) to
// the endpoint's history, as finished; see wagate.EndpointService. The
// store sets d.ID and, when zero, d.At. EINVALID for a pending d (a test
// send is never retried), ENOTFOUND for an unknown endpoint.
func (db *DB) RecordDelivery(ctx context.Context, d *wagate.EndpointDelivery) error {
	if err := wagate.CheckRecordedDelivery(d.Status); err != nil {
		return err
	}
	ref := wagate.EndpointRef{WorkspaceID: d.WorkspaceID, ID: d.EndpointID}
	at := orNow(d.At, db.now())
	id, err := newDeliveryID(idSource)
	if err != nil {
		return err
	}
	o, err := newOutcome(d)
	if err != nil {
		return err
	}
	err = db.update(ctx, "record delivery", func(tx pgx.Tx) error {
		if _, err := findEndpoint(ctx, tx, ref, false); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO deliveries (workspace_id, endpoint_id, id, event_id, event_type, attempt, status,
			request, request_body, response, response_body, duration_ns, error, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			ref.WorkspaceID, ref.ID, id, d.EventID, d.Event, d.Attempt, d.Status, o.request, o.requestBody, o.response, o.responseBody,
			int64(d.Duration), o.errText, at); err != nil {
			return err
		}
		return trim(ctx, tx, ref)
	})
	if err == nil {
		d.ID, d.At, d.NextTryAt = id, at, time.Time{}
	}
	return err
}
