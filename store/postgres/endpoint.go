package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// Outbound webhook endpoints (SPEC §9), the twin of store/endpoint.go:
// table endpoints holds each endpoint with its secrets (they sign the
// deliveries; the API masks them), and endpoint_subs what the funnel reads
// (event.go), rewritten in the transaction of every write of an endpoint so
// it can never disagree with the endpoints. Deliveries are in outbox.go.

var _ wagate.EndpointService = (*DB)(nil)

// fieldRecord is a wagate.Field as stored in a jsonb array: names of its
// own, so renaming a field of the domain type cannot drop stored data.
type fieldRecord struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

func newFieldRecords(fs []wagate.Field) []fieldRecord {
	out := make([]fieldRecord, len(fs))
	for i, f := range fs {
		out[i] = fieldRecord(f)
	}
	return out
}

func fieldsDomain(fs []fieldRecord) []wagate.Field {
	if len(fs) == 0 {
		return nil
	}
	out := make([]wagate.Field, len(fs))
	for i, f := range fs {
		out[i] = wagate.Field(f)
	}
	return out
}

// authRecord is an endpoint's auth as stored in endpoints.auth.
type authRecord struct {
	Type     string `json:"type,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
	Name     string `json:"name,omitempty"`
	Value    string `json:"value,omitempty"`
}

// endpointColumns are read by scanEndpoint, in its order.
const endpointColumns = `workspace_id, id, name, enabled, url, path, method, events, filter_phone, filter_source, query, headers, auth,
	body_type, body_template, body_fields, created_at, disabled_reason, secret, previous_secret, previous_until, failing_since`

func scanEndpoint(row pgx.Row) (*wagate.Endpoint, error) {
	var (
		e                           wagate.Endpoint
		query, headers, auth, body  []byte
		previousUntil, failingSince *time.Time
	)
	err := row.Scan(&e.WorkspaceID, &e.ID, &e.Name, &e.Enabled, &e.URL, &e.Path, &e.Method, &e.Events, &e.Filter.AccountPhone, &e.Filter.Source,
		&query, &headers, &auth, &e.Body.Type, &e.Body.Template, &body, &e.CreatedAt, &e.DisabledReason, &e.Secret, &e.PreviousSecret,
		&previousUntil, &failingSince)
	if err != nil {
		return nil, err
	}
	var (
		q, h, b []fieldRecord
		a       authRecord
	)
	for _, c := range []struct {
		name string
		data []byte
		into any
	}{{"query", query, &q}, {"headers", headers, &h}, {"auth", auth, &a}, {"body_fields", body, &b}} {
		if err := json.Unmarshal(c.data, c.into); err != nil {
			return nil, fmt.Errorf("endpoint %s: %s: %w", e.ID, c.name, err)
		}
	}
	e.Query, e.Headers, e.Body.Fields = fieldsDomain(q), fieldsDomain(h), fieldsDomain(b)
	e.Auth = wagate.EndpointAuth(a)
	if len(e.Events) == 0 {
		e.Events = nil
	}
	e.PreviousUntil, e.FailingSince = deref(previousUntil), deref(failingSince)
	return &e, nil
}

// endpointArgs are e's columns after workspace_id and id, in the order of
// endpointColumns, for an insert or an update.
func endpointArgs(e *wagate.Endpoint) ([]any, error) {
	var data [4][]byte
	for i, v := range []any{newFieldRecords(e.Query), newFieldRecords(e.Headers), authRecord(e.Auth), newFieldRecords(e.Body.Fields)} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		data[i] = b
	}
	events := e.Events
	if events == nil {
		events = []string{}
	}
	return []any{e.Name, e.Enabled, e.URL, e.Path, e.Method, events, e.Filter.AccountPhone, e.Filter.Source,
		string(data[0]), string(data[1]), string(data[2]), e.Body.Type, e.Body.Template, string(data[3]),
		e.CreatedAt, e.DisabledReason, e.Secret, e.PreviousSecret, nullTime(e.PreviousUntil), nullTime(e.FailingSince)}, nil
}

// findEndpoint reads one endpoint, locking its row against other writers
// (not against the inserts of deliveries, which only need its key) when
// lock is true; ENOTFOUND naming the id when there is none.
func findEndpoint(ctx context.Context, q querier, ref wagate.EndpointRef, lock bool) (*wagate.Endpoint, error) {
	sql := `SELECT ` + endpointColumns + ` FROM endpoints WHERE workspace_id = $1 AND id = $2`
	if lock {
		sql += ` FOR NO KEY UPDATE`
	}
	e, err := scanEndpoint(q.QueryRow(ctx, sql, ref.WorkspaceID, ref.ID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, wagate.ErrEndpointNotFound(ref.ID)
	}
	return e, err
}

// putEndpoint writes e over its row and rewrites its subscriptions.
func putEndpoint(ctx context.Context, tx pgx.Tx, e *wagate.Endpoint) error {
	args, err := endpointArgs(e)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE endpoints SET name = $3, enabled = $4, url = $5, path = $6, method = $7, events = $8,
		filter_phone = $9, filter_source = $10, query = $11, headers = $12, auth = $13, body_type = $14, body_template = $15,
		body_fields = $16, created_at = $17, disabled_reason = $18, secret = $19, previous_secret = $20, previous_until = $21,
		failing_since = $22 WHERE workspace_id = $1 AND id = $2`, append([]any{e.WorkspaceID, e.ID}, args...)...); err != nil {
		return err
	}
	return indexSubscriptions(ctx, tx, e)
}

// indexSubscriptions rewrites e's rows of endpoint_subs: one per event type
// while it is enabled, none while it is disabled.
func indexSubscriptions(ctx context.Context, tx pgx.Tx, e *wagate.Endpoint) error {
	if _, err := tx.Exec(ctx, `DELETE FROM endpoint_subs WHERE workspace_id = $1 AND endpoint_id = $2`, e.WorkspaceID, e.ID); err != nil {
		return err
	}
	if !e.Enabled || len(e.Events) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO endpoint_subs (workspace_id, event, endpoint_id, account_phone, source)
		SELECT $1, ev, $2, $3, $4 FROM unnest($5::text[]) AS ev ON CONFLICT DO NOTHING`,
		e.WorkspaceID, e.ID, e.Filter.AccountPhone, e.Filter.Source, e.Events)
	return err
}

// CreateEndpoint stores e; see wagate.EndpointService. The workspace's row
// is locked first, so the count and the insert are one step and racing
// creates cannot pass wagate.EndpointLimit. A zero CreatedAt is set to
// now. ECONFLICT for a taken id.
func (db *DB) CreateEndpoint(ctx context.Context, e *wagate.Endpoint) error {
	if e.ID == "" || strings.ContainsRune(e.ID, 0) || e.Secret == "" {
		return wagate.Errorf(wagate.EINTERNAL, "postgres: CreateEndpoint needs an endpoint with an id and a secret")
	}
	rec := *e
	rec.Events = slices.Clone(e.Events)
	rec.CreatedAt = orNow(e.CreatedAt, db.now())
	args, err := endpointArgs(&rec)
	if err != nil {
		return err
	}
	err = db.update(ctx, "create endpoint", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, e.WorkspaceID, true); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM endpoints WHERE workspace_id = $1`, e.WorkspaceID).Scan(&n); err != nil {
			return err
		}
		if n >= wagate.EndpointLimit {
			return wagate.EndpointLimitError(n)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO endpoints (workspace_id, id, name, enabled, url, path, method, events, filter_phone, filter_source,
			query, headers, auth, body_type, body_template, body_fields, created_at, disabled_reason, secret, previous_secret, previous_until, failing_since)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
			ON CONFLICT (workspace_id, id) DO NOTHING`, append([]any{e.WorkspaceID, e.ID}, args...)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return wagate.ErrEndpointTaken(e.ID)
		}
		return indexSubscriptions(ctx, tx, &rec)
	})
	if err == nil {
		e.CreatedAt = rec.CreatedAt
	}
	return err
}

// FindEndpoint returns one endpoint, secrets included, or ENOTFOUND.
func (db *DB) FindEndpoint(ctx context.Context, ref wagate.EndpointRef) (*wagate.Endpoint, error) {
	var e *wagate.Endpoint
	err := db.read(ctx, "find endpoint", func(q querier) error {
		var err error
		e, err = findEndpoint(ctx, q, ref, false)
		return err
	})
	return e, err
}

// ListEndpoints returns a workspace's endpoints, oldest first, secrets
// included (the caller masks them); ENOTFOUND for an unknown workspace.
func (db *DB) ListEndpoints(ctx context.Context, workspaceID string) ([]*wagate.Endpoint, error) {
	var list []*wagate.Endpoint
	err := db.view(ctx, "list endpoints", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE workspace_id = $1 ORDER BY seq`, workspaceID)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Endpoint, error) { return scanEndpoint(r) })
		return err
	})
	return list, err
}

// UpdateEndpoint applies update to the stored endpoint (its row locked)
// and stores the result in one transaction; see wagate.EndpointService.
// The id, workspace and creation time cannot change; an empty Secret keeps
// the stored one. Enabling an endpoint clears its DisabledReason and
// FailingSince and, once committed, wakes the deliverer
// (Options.OnDeliveries) when it has pending deliveries.
func (db *DB) UpdateEndpoint(ctx context.Context, ref wagate.EndpointRef, update func(*wagate.Endpoint) error) (*wagate.Endpoint, error) {
	var out *wagate.Endpoint
	err := db.update(ctx, "update endpoint", func(tx pgx.Tx) error {
		out = nil
		rec, err := findEndpoint(ctx, tx, ref, true)
		if err != nil {
			return err
		}
		next := *rec
		next.Events = slices.Clone(rec.Events)
		if err := update(&next); err != nil {
			return err
		}
		next.ID, next.WorkspaceID, next.CreatedAt = rec.ID, rec.WorkspaceID, rec.CreatedAt
		if next.Secret == "" {
			next.Secret = rec.Secret // a secret is replaced, never removed
		}
		if next.Enabled {
			next.DisabledReason = ""
			if !rec.Enabled {
				next.FailingSince = time.Time{}
				if err := wakeIfPending(ctx, tx, ref); err != nil {
					return err
				}
			}
		}
		if err := putEndpoint(ctx, tx, &next); err != nil {
			return err
		}
		out = &next
		return nil
	})
	return out, err
}

// DeleteEndpoint removes the endpoint, its subscriptions and its
// deliveries (pending or not; the foreign keys cascade) in one
// transaction; ENOTFOUND when there is none.
func (db *DB) DeleteEndpoint(ctx context.Context, ref wagate.EndpointRef) error {
	return db.update(ctx, "delete endpoint", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM endpoints WHERE workspace_id = $1 AND id = $2`, ref.WorkspaceID, ref.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			_, err := findEndpoint(ctx, tx, ref, false)
			return err // ENOTFOUND
		}
		return nil
	})
}

// subscribers returns the ids of the workspace's endpoints, in id order,
// that an event of type typ from phone and source concerns: enabled,
// subscribed to typ, and with a filter that matches (an empty filter field
// matches all; a change made by wagate itself matches only a filter
// without a source). One probe of endpoint_subs' key.
func subscribers(ctx context.Context, tx pgx.Tx, workspaceID, typ, phone, source string) ([]string, error) {
	if a, ok := tx.(*acceptTx); ok && a.ws[workspaceID] != nil {
		return a.ws[workspaceID].subscribers(typ, phone, source), nil // read with its lock
	}
	rows, err := tx.Query(ctx, `SELECT endpoint_id FROM endpoint_subs WHERE workspace_id = $1 AND event = $2
		AND (account_phone = '' OR account_phone = $3) AND (source = '' OR source = $4) ORDER BY endpoint_id`,
		workspaceID, typ, phone, source)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
