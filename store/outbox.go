package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// The outbox: each endpoint's deliveries (SPEC §9), in one bucket per
// endpoint so that deleting an endpoint is one DeleteBucket and no walk
// ever crosses into another endpoint's data:
//
//	outbox / {ws id \x00 endpoint id}
//	    'd' seq                  -> delivery record (JSON, with its event): the
//	                                history, oldest first (seq: the bucket's sequence)
//	    'q' next try ++ seq      -> "" : the pending deliveries in due order (next
//	                                try as 8-byte big-endian Unix nanoseconds), so
//	                                the deliverer reads what is due, never the history
//	    'f' seq                  -> "" : the finished deliveries, oldest first, so
//	                                trimming deletes the oldest without a scan
//	    'n'                      -> pending count ++ finished count (8 bytes each)
//
// History: an endpoint keeps every pending delivery (nothing is dropped,
// however long it stays disabled) and the newest finished ones, so that
// pending + finished is wagate.DeliveryHistoryLimit when there are that
// many: every write that adds a delivery or finishes one trims the oldest
// finished deliveries beyond it, in the same commit.

// Key prefixes inside an endpoint's outbox bucket.
const (
	prefixDelivery = 'd'
	prefixDue      = 'q'
	prefixFinished = 'f'
)

// keyCounts is the key of an endpoint's counts of pending and finished
// deliveries.
var keyCounts = []byte{'n'}

func deliveryKey(seq uint64) []byte { return seqKey(prefixDelivery, seq) }
func finishedKey(seq uint64) []byte { return seqKey(prefixFinished, seq) }

func seqKey(prefix byte, seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

// dueKey orders the pending deliveries by their next try, then by their
// sequence (the order their events came in). Times before 1970 count as
// 1970: due at once either way.
func dueKey(at time.Time, seq uint64) []byte {
	k := make([]byte, 17)
	k[0] = prefixDue
	binary.BigEndian.PutUint64(k[1:9], uint64(max(at.UnixNano(), 0)))
	binary.BigEndian.PutUint64(k[9:], seq)
	return k
}

// outboxCounts are an endpoint's numbers of pending and finished
// deliveries: trimming needs both, and counting keys would read the whole
// backlog of a disabled endpoint.
type outboxCounts struct {
	pending, finished uint64
}

func getCounts(ob *bolt.Bucket) outboxCounts {
	v := ob.Get(keyCounts)
	if len(v) != 16 {
		return outboxCounts{}
	}
	return outboxCounts{binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])}
}

func putCounts(ob *bolt.Bucket, n outboxCounts) error {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v[:8], n.pending)
	binary.BigEndian.PutUint64(v[8:], n.finished)
	return ob.Put(keyCounts, v)
}

// outboxOf returns the endpoint's outbox bucket, nil when it has none yet
// and create is false.
func outboxOf(tx *bolt.Tx, ref wagate.EndpointRef, create bool) (*bolt.Bucket, error) {
	if !create {
		return bucket(tx, bucketOutbox).Bucket(endpointKey(ref)), nil
	}
	return bucket(tx, bucketOutbox).CreateBucketIfNotExists(endpointKey(ref))
}

// newDeliveryID returns "dlv_" and 20 base32 characters: the delivery's
// sequence in its endpoint's outbox (so the id leads straight to the
// record) and 4 bytes read from r (so ids of different endpoints differ).
func newDeliveryID(seq uint64, r io.Reader) (string, error) {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], seq)
	if _, err := io.ReadFull(r, b[8:]); err != nil {
		return "", fmt.Errorf("delivery id: %w", err)
	}
	return "dlv_" + idEncoding.EncodeToString(b[:]), nil
}

// deliverySeq reads the sequence out of a delivery id; ok is false for
// anything newDeliveryID did not make.
func deliverySeq(id string) (uint64, bool) {
	rest, found := bytes.CutPrefix([]byte(id), []byte("dlv_"))
	if !found {
		return 0, false
	}
	b, err := idEncoding.DecodeString(string(rest))
	if err != nil || len(b) != 12 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[:8]), true
}

type deliveryRequestRecord struct {
	Method  string        `json:"method,omitempty"`
	URL     string        `json:"url,omitempty"`
	Headers []fieldRecord `json:"headers,omitempty"`
	Body    string        `json:"body,omitempty"`
}

type deliveryResponseRecord struct {
	Status  int           `json:"status,omitempty"`
	Headers []fieldRecord `json:"headers,omitempty"`
	Body    string        `json:"body,omitempty"`
}

// deliveryRecord is a stored wagate.EndpointDelivery with its event.
type deliveryRecord struct {
	ID        string                 `json:"id"`
	Event     *eventRecord           `json:"event"`
	Attempt   int                    `json:"attempt,omitempty"`
	Status    string                 `json:"status"`
	Request   deliveryRequestRecord  `json:"request,omitzero"`
	Response  deliveryResponseRecord `json:"response,omitzero"`
	Duration  time.Duration          `json:"duration,omitempty"`
	Error     string                 `json:"error,omitempty"`
	NextTryAt time.Time              `json:"next_try_at,omitzero"`
	At        time.Time              `json:"at"`
}

func (r *deliveryRecord) domain(ref wagate.EndpointRef) *wagate.EndpointDelivery {
	d := &wagate.EndpointDelivery{
		ID:          r.ID,
		WorkspaceID: ref.WorkspaceID,
		EndpointID:  ref.ID,
		Attempt:     r.Attempt,
		Status:      r.Status,
		Request: wagate.DeliveryRequest{
			Method: r.Request.Method, URL: r.Request.URL,
			Headers: fieldsDomain(r.Request.Headers), Body: r.Request.Body,
		},
		Response: wagate.DeliveryResponse{
			Status: r.Response.Status, Headers: fieldsDomain(r.Response.Headers), Body: r.Response.Body,
		},
		Duration:  r.Duration,
		Error:     r.Error,
		NextTryAt: r.NextTryAt,
		At:        r.At,
	}
	if r.Event != nil {
		d.EventID, d.Event = r.Event.ID, r.Event.Type
	}
	return d
}

// setOutcome copies an attempt's outcome from d, bodies cut to
// wagate.DeliveryBodyLimit (the deliverer reads one byte more, to tell a
// cut body, and the history keeps what the limit allows).
func (r *deliveryRecord) setOutcome(d *wagate.EndpointDelivery) {
	r.Attempt = d.Attempt
	r.Status = d.Status
	r.Request = deliveryRequestRecord{
		Method: d.Request.Method, URL: d.Request.URL,
		Headers: newFieldRecords(d.Request.Headers), Body: cutUTF8(d.Request.Body, wagate.DeliveryBodyLimit),
	}
	r.Response = deliveryResponseRecord{
		Status: d.Response.Status, Headers: newFieldRecords(d.Response.Headers),
		Body: cutUTF8(d.Response.Body, wagate.DeliveryBodyLimit),
	}
	r.Duration = d.Duration
	r.Error = cutUTF8(d.Error, wagate.DeliveryBodyLimit)
	r.NextTryAt = time.Time{}
	if d.Status == wagate.DeliveryPending {
		r.NextTryAt = d.NextTryAt
	}
	r.At = d.At
}

// getDelivery returns the delivery with that id in the outbox and its
// sequence, or nil.
func getDelivery(ob *bolt.Bucket, id string) (*deliveryRecord, uint64, error) {
	seq, ok := deliverySeq(id)
	if ob == nil || !ok {
		return nil, 0, nil
	}
	var rec deliveryRecord
	found, err := get(ob, deliveryKey(seq), &rec)
	if err != nil || !found || rec.ID != id {
		return nil, 0, err
	}
	return &rec, seq, nil
}

// finish moves the delivery seq from pending (its due entry at dueAt) to
// finished, or adds it as finished when it was never pending (a test
// send), and trims the history.
func finish(ob *bolt.Bucket, seq uint64, dueAt time.Time, wasPending bool) error {
	n := getCounts(ob)
	if wasPending {
		if err := ob.Delete(dueKey(dueAt, seq)); err != nil {
			return err
		}
		n.pending = decr(n.pending)
	}
	if err := ob.Put(finishedKey(seq), []byte{}); err != nil {
		return err
	}
	n.finished++
	return trim(ob, n)
}

// trim deletes the oldest finished deliveries beyond what the history keeps
// (wagate.DeliveryHistoryLimit, pending ones included) and stores n.
func trim(ob *bolt.Bucket, n outboxCounts) error {
	keep := uint64(0)
	if n.pending < wagate.DeliveryHistoryLimit {
		keep = wagate.DeliveryHistoryLimit - n.pending
	}
	c := ob.Cursor()
	for n.finished > keep {
		k, _ := c.Seek([]byte{prefixFinished})
		if k == nil || k[0] != prefixFinished || len(k) != 9 {
			break // the count is off: Audit reports it; never delete blindly
		}
		seq := binary.BigEndian.Uint64(k[1:])
		if err := ob.Delete(finishedKey(seq)); err != nil {
			return err
		}
		if err := ob.Delete(deliveryKey(seq)); err != nil {
			return err
		}
		n.finished--
	}
	return putCounts(ob, n)
}

func decr(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return n - 1
}

// wakeIfPending has the deliverer woken for ref after the commit of tx,
// when its outbox holds pending deliveries.
func (db *DB) wakeIfPending(tx *bolt.Tx, ref wagate.EndpointRef) error {
	ob, err := outboxOf(tx, ref, false)
	if err != nil || ob == nil {
		return err
	}
	if k, _ := ob.Cursor().Seek([]byte{prefixDue}); k != nil && k[0] == prefixDue {
		db.wake(tx, []wagate.EndpointRef{ref})
	}
	return nil
}

// wake calls Options.OnDeliveries with refs once tx has committed; a
// rolled-back transaction (a group commit run again, a fault) calls
// nothing.
func (db *DB) wake(tx *bolt.Tx, refs []wagate.EndpointRef) {
	if cb := db.onDeliveries; cb != nil {
		tx.OnCommit(func() { cb(refs) })
	}
}

// addDelivery adds a pending delivery of ev, due at once, to the
// endpoint's outbox.
func addDelivery(tx *bolt.Tx, ref wagate.EndpointRef, ev *eventRecord, r io.Reader) error {
	ob, err := outboxOf(tx, ref, true)
	if err != nil {
		return err
	}
	seq, err := ob.NextSequence()
	if err != nil {
		return err
	}
	id, err := newDeliveryID(seq, r)
	if err != nil {
		return err
	}
	rec := &deliveryRecord{ID: id, Event: ev, Status: wagate.DeliveryPending, NextTryAt: ev.At, At: ev.At}
	if err := put(ob, deliveryKey(seq), rec); err != nil {
		return err
	}
	if err := ob.Put(dueKey(ev.At, seq), []byte{}); err != nil {
		return err
	}
	n := getCounts(ob)
	n.pending++
	return trim(ob, n)
}

// ListDeliveries pages through the endpoint's kept deliveries, newest
// first; see wagate.EndpointService. ENOTFOUND for an unknown endpoint,
// EINVALID for a bad cursor.
func (db *DB) ListDeliveries(ctx context.Context, ref wagate.EndpointRef, limit int, cursor string) ([]*wagate.EndpointDelivery, string, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var (
		list []*wagate.EndpointDelivery
		next string
	)
	err = db.view(ctx, "list deliveries", func(tx *bolt.Tx) error {
		list, next = nil, ""
		if _, err := mustEndpoint(tx, ref); err != nil {
			return err
		}
		ob, err := outboxOf(tx, ref, false)
		if err != nil || ob == nil {
			return err
		}
		c := ob.Cursor()
		// Start at the newest delivery, or at the newest before the cursor.
		from := []byte{prefixDelivery + 1}
		if after != nil {
			from = append([]byte{prefixDelivery}, after...)
		}
		var v []byte
		k, _ := c.Seek(from)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var last []byte
		for ; k != nil && k[0] == prefixDelivery; k, v = c.Prev() {
			if len(list) == limit {
				next = encodeCursor(last)
				break
			}
			var rec deliveryRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			list = append(list, rec.domain(ref))
			last = copyBytes(k[1:])
		}
		return nil
	})
	return list, next, err
}

// RetryDelivery queues a failed delivery again, due at (zero: now); see
// wagate.EndpointService. Its attempt count goes on from where it was, so
// the history says how often it was tried; its last request and response
// stay until the next attempt replaces them. The deliverer is woken once
// committed (Options.OnDeliveries) when the endpoint is enabled.
func (db *DB) RetryDelivery(ctx context.Context, ref wagate.EndpointRef, deliveryID string, at time.Time) (*wagate.EndpointDelivery, error) {
	at = orNow(at, db.now())
	var out *wagate.EndpointDelivery
	err := db.update(ctx, "retry delivery", func(tx *bolt.Tx) error {
		out = nil
		ep, err := mustEndpoint(tx, ref)
		if err != nil {
			return err
		}
		ob, err := outboxOf(tx, ref, false)
		if err != nil {
			return err
		}
		rec, seq, err := getDelivery(ob, deliveryID)
		if err != nil {
			return err
		}
		if rec == nil {
			return wagate.ErrDeliveryNotFound(deliveryID)
		}
		if err := wagate.CheckRetryDelivery(rec.ID, rec.Status); err != nil {
			return err
		}
		rec.Status, rec.NextTryAt = wagate.DeliveryPending, at
		if err := put(ob, deliveryKey(seq), rec); err != nil {
			return err
		}
		if err := ob.Delete(finishedKey(seq)); err != nil {
			return err
		}
		if err := ob.Put(dueKey(at, seq), []byte{}); err != nil {
			return err
		}
		n := getCounts(ob)
		n.finished, n.pending = decr(n.finished), n.pending+1
		if err := trim(ob, n); err != nil {
			return err
		}
		if ep.Enabled {
			db.wake(tx, []wagate.EndpointRef{ref})
		}
		out = rec.domain(ref)
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
	var id string
	err := db.update(ctx, "record delivery", func(tx *bolt.Tx) error {
		if _, err := mustEndpoint(tx, ref); err != nil {
			return err
		}
		ob, err := outboxOf(tx, ref, true)
		if err != nil {
			return err
		}
		seq, err := ob.NextSequence()
		if err != nil {
			return err
		}
		if id, err = newDeliveryID(seq, db.rand); err != nil {
			return err
		}
		rec := &deliveryRecord{ID: id, Event: &eventRecord{ID: d.EventID, WorkspaceID: d.WorkspaceID, Type: d.Event, At: at}}
		rec.setOutcome(d)
		rec.At = at
		if err := put(ob, deliveryKey(seq), rec); err != nil {
			return err
		}
		return finish(ob, seq, time.Time{}, false)
	})
	if err == nil {
		d.ID, d.At, d.NextTryAt = id, at, time.Time{}
	}
	return err
}

// auditOutbox checks the endpoints' subscriptions and outboxes for Audit:
// each workspace's subscriptions are what its endpoint records say; each
// outbox belongs to an endpoint; each pending delivery has its due entry
// and each finished one its finished entry, no entry points at nothing,
// and the counts trimming relies on are right.
func auditOutbox(tx *bolt.Tx, report func(format string, args ...any)) error {
	want := map[string]*subscriptionsRecord{}
	if err := bucket(tx, bucketEndpoints).ForEach(func(k, v []byte) error {
		parts := split(k)
		var rec endpointRecord
		if err := decode(k, v, &rec); err != nil || len(parts) != 2 || parts[1] != rec.ID {
			report("endpoint %q: a record that does not decode or sits under another key (%v)", k, err)
			return nil
		}
		s := want[parts[0]]
		if s == nil {
			s = &subscriptionsRecord{}
			want[parts[0]] = s
		}
		s.Subs = append(s.Subs, subscription{ID: rec.ID, Enabled: rec.Enabled, Events: rec.Events, Phone: rec.FilterPhone, Source: rec.FilterSource})
		return nil
	}); err != nil {
		return err
	}
	subs := bucket(tx, bucketEndpointSubs)
	for ws, s := range want {
		data, _ := encodeRecord(s)
		if !bytes.Equal(subs.Get([]byte(ws)), data) {
			report("workspace %s: its endpoint subscriptions do not match its endpoints", ws)
		}
	}
	if err := subs.ForEach(func(k, _ []byte) error {
		if want[string(k)] == nil {
			report("workspace %s: endpoint subscriptions without any endpoint", k)
		}
		return nil
	}); err != nil {
		return err
	}
	outbox := bucket(tx, bucketOutbox)
	return outbox.ForEachBucket(func(name []byte) error {
		if bucket(tx, bucketEndpoints).Get(name) == nil {
			report("outbox %q: its endpoint is gone", name)
		}
		auditEndpointOutbox(string(bytes.ReplaceAll(name, []byte{0}, []byte("/"))), outbox.Bucket(name), report)
		return nil
	})
}

// auditEndpointOutbox checks one endpoint's outbox.
func auditEndpointOutbox(name string, ob *bolt.Bucket, report func(format string, args ...any)) {
	var n outboxCounts
	c := ob.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		switch {
		case k[0] == prefixDelivery && len(k) == 9:
			seq := binary.BigEndian.Uint64(k[1:])
			var rec deliveryRecord
			if err := decode(k, v, &rec); err != nil {
				report("outbox %s: delivery %d: %v", name, seq, err)
				continue
			}
			if rec.Status == wagate.DeliveryPending {
				n.pending++
				if ob.Get(dueKey(rec.NextTryAt, seq)) == nil {
					report("outbox %s: pending delivery %s has no due entry", name, rec.ID)
				}
			} else {
				n.finished++
				if ob.Get(finishedKey(seq)) == nil {
					report("outbox %s: %s delivery %s has no finished entry", name, rec.Status, rec.ID)
				}
			}
		case k[0] == prefixDue && len(k) == 17:
			var rec deliveryRecord
			ok, err := get(ob, deliveryKey(binary.BigEndian.Uint64(k[9:])), &rec)
			if err != nil || !ok || rec.Status != wagate.DeliveryPending || !bytes.Equal(dueKey(rec.NextTryAt, binary.BigEndian.Uint64(k[9:])), k) {
				report("outbox %s: due entry %x points at no pending delivery due then", name, k)
			}
		case k[0] == prefixFinished && len(k) == 9:
			var rec deliveryRecord
			ok, err := get(ob, deliveryKey(binary.BigEndian.Uint64(k[1:])), &rec)
			if err != nil || !ok || rec.Status == wagate.DeliveryPending {
				report("outbox %s: finished entry %x points at no finished delivery", name, k)
			}
		case bytes.Equal(k, keyCounts):
		default:
			report("outbox %s: unknown key %x", name, k)
		}
	}
	if got := getCounts(ob); got != n {
		report("outbox %s: counts say %d pending and %d finished, the deliveries %d and %d", name, got.pending, got.finished, n.pending, n.finished)
	}
}
