package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Outbound webhook endpoints (SPEC §9).
//
//	endpoints       ws id \x00 endpoint id -> endpoint record (JSON, secrets included)
//	endpoint_subs   ws id -> the workspace's subscriptions (binary): per endpoint its
//	                id, enabled flag, events and filter. Rebuilt from the endpoint
//	                records in the commit of every endpoint write, and the one read a
//	                state change makes to learn whether anyone listens: a workspace
//	                without endpoints has no entry, so its changes write no event.
//
// The deliveries of an endpoint live in the outbox (outbox.go).

var (
	bucketEndpoints    = []byte("endpoints")
	bucketEndpointSubs = []byte("endpoint_subs")
	bucketOutbox       = []byte("outbox")
	// endpointBuckets are the buckets of endpoints and their deliveries. A
	// store written before them lacks them until its next Open creates
	// them; Audit (which opens read-only) does not count them as missing.
	endpointBuckets = [][]byte{bucketEndpoints, bucketEndpointSubs, bucketOutbox}
)

var _ wagate.EndpointService = (*DB)(nil)

type fieldRecord struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

func newFieldRecords(fs []wagate.Field) []fieldRecord {
	if len(fs) == 0 {
		return nil
	}
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

// endpointRecord is a stored wagate.Endpoint. Seq (the endpoints bucket's
// sequence at creation) orders ListEndpoints, oldest first.
type endpointRecord struct {
	Seq            uint64        `json:"seq"`
	ID             string        `json:"id"`
	Name           string        `json:"name,omitempty"`
	Enabled        bool          `json:"enabled"`
	URL            string        `json:"url"`
	Path           string        `json:"path,omitempty"`
	Method         string        `json:"method,omitempty"`
	Events         []string      `json:"events,omitempty"`
	FilterPhone    string        `json:"filter_account,omitempty"`
	FilterSource   string        `json:"filter_source,omitempty"`
	Query          []fieldRecord `json:"query,omitempty"`
	Headers        []fieldRecord `json:"headers,omitempty"`
	AuthType       string        `json:"auth_type,omitempty"`
	AuthUsername   string        `json:"auth_username,omitempty"`
	AuthPassword   string        `json:"auth_password,omitempty"`
	AuthToken      string        `json:"auth_token,omitempty"`
	AuthName       string        `json:"auth_name,omitempty"`
	AuthValue      string        `json:"auth_value,omitempty"`
	BodyType       string        `json:"body_type,omitempty"`
	BodyTemplate   string        `json:"body_template,omitempty"`
	BodyFields     []fieldRecord `json:"body_fields,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	DisabledReason string        `json:"disabled_reason,omitempty"`
	Secret         string        `json:"secret"`
	PreviousSecret string        `json:"previous_secret,omitempty"`
	PreviousUntil  time.Time     `json:"previous_until,omitzero"`
	FailingSince   time.Time     `json:"failing_since,omitzero"`
}

func newEndpointRecord(e *wagate.Endpoint) *endpointRecord {
	return &endpointRecord{
		ID:             e.ID,
		Name:           e.Name,
		Enabled:        e.Enabled,
		URL:            e.URL,
		Path:           e.Path,
		Method:         e.Method,
		Events:         slices.Clone(e.Events),
		FilterPhone:    e.Filter.AccountPhone,
		FilterSource:   e.Filter.Source,
		Query:          newFieldRecords(e.Query),
		Headers:        newFieldRecords(e.Headers),
		AuthType:       e.Auth.Type,
		AuthUsername:   e.Auth.Username,
		AuthPassword:   e.Auth.Password,
		AuthToken:      e.Auth.Token,
		AuthName:       e.Auth.Name,
		AuthValue:      e.Auth.Value,
		BodyType:       e.Body.Type,
		BodyTemplate:   e.Body.Template,
		BodyFields:     newFieldRecords(e.Body.Fields),
		CreatedAt:      e.CreatedAt,
		DisabledReason: e.DisabledReason,
		Secret:         e.Secret,
		PreviousSecret: e.PreviousSecret,
		PreviousUntil:  e.PreviousUntil,
		FailingSince:   e.FailingSince,
	}
}

func (r *endpointRecord) domain(workspaceID string) *wagate.Endpoint {
	return &wagate.Endpoint{
		ID:          r.ID,
		WorkspaceID: workspaceID,
		Name:        r.Name,
		Enabled:     r.Enabled,
		URL:         r.URL,
		Path:        r.Path,
		Method:      r.Method,
		Events:      slices.Clone(r.Events),
		Filter:      wagate.EndpointFilter{AccountPhone: r.FilterPhone, Source: r.FilterSource},
		Query:       fieldsDomain(r.Query),
		Headers:     fieldsDomain(r.Headers),
		Auth: wagate.EndpointAuth{
			Type: r.AuthType, Username: r.AuthUsername, Password: r.AuthPassword,
			Token: r.AuthToken, Name: r.AuthName, Value: r.AuthValue,
		},
		Body:           wagate.EndpointBody{Type: r.BodyType, Template: r.BodyTemplate, Fields: fieldsDomain(r.BodyFields)},
		CreatedAt:      r.CreatedAt,
		DisabledReason: r.DisabledReason,
		Secret:         r.Secret,
		PreviousSecret: r.PreviousSecret,
		PreviousUntil:  r.PreviousUntil,
		FailingSince:   r.FailingSince,
	}
}

// endpointKey is the key of an endpoint in the endpoints bucket, and the
// name of its bucket in the outbox.
func endpointKey(ref wagate.EndpointRef) []byte { return join(ref.WorkspaceID, ref.ID) }

// getEndpoint returns the record or nil.
func getEndpoint(tx *bolt.Tx, ref wagate.EndpointRef) (*endpointRecord, error) {
	var rec endpointRecord
	ok, err := get(bucket(tx, bucketEndpoints), endpointKey(ref), &rec)
	if !ok || err != nil {
		return nil, err
	}
	return &rec, nil
}

// mustEndpoint is getEndpoint with ENOTFOUND naming the id.
func mustEndpoint(tx *bolt.Tx, ref wagate.EndpointRef) (*endpointRecord, error) {
	rec, err := getEndpoint(tx, ref)
	if err == nil && rec == nil {
		err = wagate.ErrEndpointNotFound(ref.ID)
	}
	return rec, err
}

// putEndpoint stores rec and rebuilds the workspace's subscriptions, so the
// index can never disagree with the records.
func putEndpoint(tx *bolt.Tx, workspaceID string, rec *endpointRecord) error {
	if err := put(bucket(tx, bucketEndpoints), join(workspaceID, rec.ID), rec); err != nil {
		return err
	}
	return indexSubscriptions(tx, workspaceID)
}

// forEndpoints calls fn with every endpoint record of the workspace, in key
// order.
func forEndpoints(tx *bolt.Tx, workspaceID string, fn func(rec *endpointRecord) error) error {
	prefix := join(workspaceID, "")
	c := bucket(tx, bucketEndpoints).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var rec endpointRecord
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	return nil
}

// CreateEndpoint stores e; see wagate.EndpointService. The count and the
// write are one commit, so racing creates cannot pass wagate.EndpointLimit.
// A zero CreatedAt is set to now. ECONFLICT for a taken id.
func (db *DB) CreateEndpoint(ctx context.Context, e *wagate.Endpoint) error {
	if e.ID == "" || strings.ContainsRune(e.ID, 0) || e.Secret == "" {
		return wagate.Errorf(wagate.EINTERNAL, "store: CreateEndpoint needs an endpoint with an id and a secret")
	}
	rec := newEndpointRecord(e)
	rec.CreatedAt = orNow(e.CreatedAt, db.now())
	err := db.update(ctx, "create endpoint", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, e.WorkspaceID); err != nil {
			return err
		}
		b := bucket(tx, bucketEndpoints)
		if b.Get(join(e.WorkspaceID, e.ID)) != nil {
			return wagate.ErrEndpointTaken(e.ID)
		}
		n := 0
		if err := forEndpoints(tx, e.WorkspaceID, func(*endpointRecord) error { n++; return nil }); err != nil {
			return err
		}
		if n >= wagate.EndpointLimit {
			return wagate.EndpointLimitError(n)
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.Seq = seq
		// Before the commit, so no change committed after this endpoint
		// can skip it.
		db.listeners.add(e.WorkspaceID)
		return putEndpoint(tx, e.WorkspaceID, rec)
	})
	if err == nil {
		e.CreatedAt = rec.CreatedAt
	}
	return err
}

// FindEndpoint returns one endpoint, secrets included, or ENOTFOUND.
func (db *DB) FindEndpoint(ctx context.Context, ref wagate.EndpointRef) (*wagate.Endpoint, error) {
	var e *wagate.Endpoint
	err := db.view(ctx, "find endpoint", func(tx *bolt.Tx) error {
		rec, err := mustEndpoint(tx, ref)
		if err != nil {
			return err
		}
		e = rec.domain(ref.WorkspaceID)
		return nil
	})
	return e, err
}

// ListEndpoints returns a workspace's endpoints, oldest first, secrets
// included (the caller masks them); ENOTFOUND for an unknown workspace.
func (db *DB) ListEndpoints(ctx context.Context, workspaceID string) ([]*wagate.Endpoint, error) {
	var recs []*endpointRecord
	err := db.view(ctx, "list endpoints", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, workspaceID); err != nil {
			return err
		}
		return forEndpoints(tx, workspaceID, func(rec *endpointRecord) error {
			recs = append(recs, rec)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	list := make([]*wagate.Endpoint, len(recs))
	for i, r := range recs {
		list[i] = r.domain(workspaceID)
	}
	return list, nil
}

// UpdateEndpoint applies update to a copy of the stored endpoint and stores
// the result, in one commit; see wagate.EndpointService. The id, workspace
// and creation time cannot change. Enabling an endpoint clears its
// DisabledReason and FailingSince (a fresh start: five more days before
// wagate gives up on it again) and, once committed, wakes the deliverer
// (Options.OnDeliveries) when it has pending deliveries.
func (db *DB) UpdateEndpoint(ctx context.Context, ref wagate.EndpointRef, update func(*wagate.Endpoint) error) (*wagate.Endpoint, error) {
	var out *wagate.Endpoint
	err := db.update(ctx, "update endpoint", func(tx *bolt.Tx) error {
		out = nil
		rec, err := mustEndpoint(tx, ref)
		if err != nil {
			return err
		}
		e := rec.domain(ref.WorkspaceID)
		if err := update(e); err != nil {
			return err
		}
		next := newEndpointRecord(e)
		next.Seq, next.ID, next.CreatedAt = rec.Seq, rec.ID, rec.CreatedAt
		if next.Secret == "" {
			next.Secret = rec.Secret // a secret is replaced, never removed
		}
		if next.Enabled {
			next.DisabledReason = ""
			if !rec.Enabled {
				next.FailingSince = time.Time{}
				if err := db.wakeIfPending(tx, ref); err != nil {
					return err
				}
			}
		}
		if err := putEndpoint(tx, ref.WorkspaceID, next); err != nil {
			return err
		}
		out = next.domain(ref.WorkspaceID)
		return nil
	})
	return out, err
}

// DeleteEndpoint removes the endpoint, its subscriptions and its outbox
// (deliveries, pending or not) in one commit; ENOTFOUND when there is none.
func (db *DB) DeleteEndpoint(ctx context.Context, ref wagate.EndpointRef) error {
	return db.update(ctx, "delete endpoint", func(tx *bolt.Tx) error {
		if _, err := mustEndpoint(tx, ref); err != nil {
			return err
		}
		if err := bucket(tx, bucketEndpoints).Delete(endpointKey(ref)); err != nil {
			return err
		}
		if ob := bucket(tx, bucketOutbox); ob.Bucket(endpointKey(ref)) != nil {
			if err := ob.DeleteBucket(endpointKey(ref)); err != nil {
				return err
			}
		}
		return indexSubscriptions(tx, ref.WorkspaceID)
	})
}

// subscription is one endpoint's entry in the workspace's subscriptions:
// what deciding whether a change concerns it takes, and no more.
type subscription struct {
	ID      string
	Enabled bool
	Events  []string
	Phone   string // filter: account_phone
	Source  string // filter: source
}

// matches reports whether an event of type typ from the account phone and
// the source concerns the endpoint. An empty filter field matches all; an
// event without an account (or made by wagate itself) matches only a
// filter without one.
func (s *subscription) matches(typ, phone, source string) bool {
	return s.Enabled && (s.Phone == "" || s.Phone == phone) && (s.Source == "" || s.Source == source) &&
		slices.Contains(s.Events, typ)
}

// subscriptionsRecord is the endpoint_subs entry of a workspace.
type subscriptionsRecord struct {
	Subs []subscription
}

func (r *subscriptionsRecord) appendFields(b []byte) []byte {
	b = appendUint(b, uint64(len(r.Subs)))
	for _, s := range r.Subs {
		b = appendString(b, s.ID)
		b = appendBool(b, s.Enabled)
		b = appendStrings(b, s.Events)
		b = appendString(b, s.Phone)
		b = appendString(b, s.Source)
	}
	return b
}

func (r *subscriptionsRecord) readFields(f *fieldReader) {
	n := f.uint()
	if n == 0 {
		return
	}
	// Each entry takes at least five bytes: a damaged count cannot make a
	// huge slice.
	if n > uint64(len(f.b))/5 {
		f.fail(errTruncated)
		return
	}
	r.Subs = make([]subscription, n)
	for i := range r.Subs {
		s := &r.Subs[i]
		s.ID = f.string()
		s.Enabled = f.bool()
		s.Events = f.strings()
		s.Phone = f.string()
		s.Source = f.string()
	}
}

// indexSubscriptions rebuilds the workspace's subscriptions from its
// endpoint records; a workspace without endpoints has no entry at all.
func indexSubscriptions(tx *bolt.Tx, workspaceID string) error {
	var rec subscriptionsRecord
	err := forEndpoints(tx, workspaceID, func(e *endpointRecord) error {
		rec.Subs = append(rec.Subs, subscription{ID: e.ID, Enabled: e.Enabled, Events: e.Events, Phone: e.FilterPhone, Source: e.FilterSource})
		return nil
	})
	if err != nil {
		return err
	}
	b := bucket(tx, bucketEndpointSubs)
	if len(rec.Subs) == 0 {
		return b.Delete([]byte(workspaceID))
	}
	return put(b, []byte(workspaceID), &rec)
}

// listeners is the set of workspaces that have endpoints, or had some since
// Open: the workspaces whose changes must look at endpoint_subs. Every
// other workspace's changes skip even that Get, so the outbox costs them
// one map read in memory. The set only grows (CreateEndpoint adds to it
// inside its write, before the commit), so it can hold too many
// workspaces, which costs a Get, but never too few, which would lose
// events: no removal can race a create.
type listeners struct {
	ws sync.Map // workspace id -> struct{}
}

func (l *listeners) add(workspaceID string) { l.ws.Store(workspaceID, struct{}{}) }

func (l *listeners) has(workspaceID string) bool {
	_, ok := l.ws.Load(workspaceID)
	return ok
}

// load fills the set from endpoint_subs, at Open.
func (l *listeners) load(tx *bolt.Tx) error {
	b := tx.Bucket(bucketEndpointSubs)
	if b == nil {
		return nil // a read-only store from before endpoints
	}
	return b.ForEach(func(k, _ []byte) error {
		l.add(string(k))
		return nil
	})
}

// subscribers returns the ids of the workspace's endpoints that an event of
// type typ from phone and source concerns. A workspace that never had an
// endpoint costs a map read (listeners), one without endpoints now a Get.
func (db *DB) subscribers(tx *bolt.Tx, workspaceID, typ, phone, source string) ([]string, error) {
	if !db.listeners.has(workspaceID) {
		return nil, nil
	}
	v := bucket(tx, bucketEndpointSubs).Get([]byte(workspaceID))
	if v == nil {
		return nil, nil
	}
	var rec subscriptionsRecord
	if err := decodeRecord(v, &rec); err != nil {
		return nil, fmt.Errorf("decode the subscriptions of %s: %w", workspaceID, err)
	}
	var ids []string
	for i := range rec.Subs {
		if rec.Subs[i].matches(typ, phone, source) {
			ids = append(ids, rec.Subs[i].ID)
		}
	}
	return ids, nil
}
