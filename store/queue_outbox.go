package store

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// The deliverer's side of the outbox (wagate.DeliveryQueue): it reads the
// due index of one endpoint at a time, never the history, and records each
// attempt's outcome with its consequences for the endpoint in one commit.

var _ wagate.DeliveryQueue = (*DB)(nil)

// PendingEndpoints lists the enabled endpoints that have pending
// deliveries, so a restart resumes them all. It reads one cursor position
// per outbox and the records of the endpoints that have one.
func (db *DB) PendingEndpoints(ctx context.Context) ([]wagate.EndpointRef, error) {
	var refs []wagate.EndpointRef
	err := db.view(ctx, "pending endpoints", func(tx *bolt.Tx) error {
		refs = nil
		outbox := bucket(tx, bucketOutbox)
		return outbox.ForEachBucket(func(name []byte) error {
			if k, _ := outbox.Bucket(name).Cursor().Seek([]byte{prefixDue}); k == nil || k[0] != prefixDue {
				return nil
			}
			parts := split(name)
			if len(parts) != 2 {
				db.log.Warn("outbox bucket with a malformed name", zap.ByteString("name", name))
				return nil
			}
			ref := wagate.EndpointRef{WorkspaceID: parts[0], ID: parts[1]}
			ep, err := getEndpoint(tx, ref)
			if err != nil {
				return err
			}
			if ep != nil && ep.Enabled {
				refs = append(refs, ref)
			}
			return nil
		})
	})
	return refs, err
}

// NextDeliveries returns up to n (at least 1) pending deliveries of an
// enabled endpoint that are due at at, in due order (the order their
// events came in, among those due at the same time), each with its event
// and the endpoint (one *Endpoint shared by all, secrets included: read
// it, do not change it). due is the next try of the first pending
// delivery not returned: after at when none is due yet, at or before at
// when more are due than n; zero when there is none. A disabled endpoint
// has none due (its deliveries wait, in order, until it is enabled).
// ENOTFOUND for an unknown endpoint, so a deliverer drops it.
//
// A delivery stays pending, and so is returned again, until FinishAttempt:
// the deliverer keeps track of the ones it is making.
func (db *DB) NextDeliveries(ctx context.Context, ref wagate.EndpointRef, at time.Time, n int) ([]*wagate.PendingDelivery, time.Time, error) {
	n = max(n, 1)
	var (
		ds  []*wagate.PendingDelivery
		due time.Time
	)
	err := db.view(ctx, "next deliveries", func(tx *bolt.Tx) error {
		ds, due = nil, time.Time{}
		rec, err := mustEndpoint(tx, ref)
		if err != nil || !rec.Enabled {
			return err
		}
		ob, err := outboxOf(tx, ref, false)
		if err != nil || ob == nil {
			return err
		}
		ep := rec.domain(ref.WorkspaceID)
		limit := max(at.UnixNano(), 0)
		c := ob.Cursor()
		for k, _ := c.Seek([]byte{prefixDue}); k != nil && k[0] == prefixDue; k, _ = c.Next() {
			if len(k) != 17 {
				continue // Audit reports it
			}
			nanos := int64(binary.BigEndian.Uint64(k[1:9]))
			if len(ds) == n || nanos > limit {
				due = time.Unix(0, nanos).UTC()
				break
			}
			var d deliveryRecord
			ok, err := get(ob, deliveryKey(binary.BigEndian.Uint64(k[9:])), &d)
			if err != nil {
				return err
			}
			if !ok || d.Event == nil {
				continue // Audit reports it
			}
			ds = append(ds, &wagate.PendingDelivery{Delivery: d.domain(ref), Event: d.Event.domain(), Endpoint: ep})
		}
		return nil
	})
	return ds, due, err
}

// FinishAttempt records one attempt of the pending delivery d; see
// wagate.DeliveryQueue. The store counts the attempt (d.Attempt is set to
// the stored count plus one); a zero d.At is now, and a pending d without
// NextTryAt is due at once. In the same commit: a success clears the
// endpoint's FailingSince, a failure (a failed delivery, or one pending
// again) starts it if it is not running; disable != "" disables the
// endpoint with that reason, its pending deliveries kept. EINVALID for a
// status that is not pending, succeeded or failed; ENOTFOUND for an
// unknown endpoint or delivery (the endpoint was deleted meanwhile);
// ECONFLICT for a delivery that is not pending.
func (db *DB) FinishAttempt(ctx context.Context, d *wagate.EndpointDelivery, disable string) error {
	if err := wagate.CheckAttemptEnd(d.Status); err != nil {
		return err
	}
	ref := wagate.EndpointRef{WorkspaceID: d.WorkspaceID, ID: d.EndpointID}
	at, next := wagate.AttemptTimes(d, db.now())
	attempt := 0
	err := db.batch(ctx, "finish attempt", func(tx *bolt.Tx) (error, error) {
		ep, err := mustEndpoint(tx, ref)
		if err != nil {
			return err, nil
		}
		ob, err := outboxOf(tx, ref, false)
		if err != nil {
			return nil, err
		}
		rec, seq, err := getDelivery(ob, d.ID)
		switch {
		case err != nil:
			return nil, err
		case rec == nil:
			return wagate.ErrDeliveryNotFound(d.ID), nil
		case rec.Status != wagate.DeliveryPending:
			return wagate.CheckDeliveryPending(rec.ID, rec.Status), nil
		}
		wasDue := rec.NextTryAt
		attempt = rec.Attempt + 1
		rec.setOutcome(d)
		rec.Attempt, rec.At, rec.NextTryAt = attempt, at, time.Time{}
		if d.Status == wagate.DeliveryPending {
			rec.NextTryAt = next
		}
		if err := put(ob, deliveryKey(seq), rec); err != nil {
			return nil, err
		}
		if d.Status == wagate.DeliveryPending {
			if err := ob.Delete(dueKey(wasDue, seq)); err != nil {
				return nil, err
			}
			if err := ob.Put(dueKey(next, seq), []byte{}); err != nil {
				return nil, err
			}
		} else if err := finish(ob, seq, wasDue, true); err != nil {
			return nil, err
		}
		return nil, endpointAttempted(tx, ref, ep, d.Status == wagate.DeliverySucceeded, at, disable)
	})
	if err == nil {
		d.Attempt, d.At, d.NextTryAt = attempt, at, time.Time{}
		if d.Status == wagate.DeliveryPending {
			d.NextTryAt = next
		}
	}
	return err
}

// endpointAttempted applies an attempt's outcome to the endpoint, writing
// it only when something changed (a success of a healthy endpoint writes
// nothing).
func endpointAttempted(tx *bolt.Tx, ref wagate.EndpointRef, ep *endpointRecord, success bool, at time.Time, disable string) error {
	h, changed := wagate.EndpointHealth{Enabled: ep.Enabled, DisabledReason: ep.DisabledReason, FailingSince: ep.FailingSince}.Attempted(success, at, disable)
	if !changed {
		return nil
	}
	ep.Enabled, ep.DisabledReason, ep.FailingSince = h.Enabled, h.DisabledReason, h.FailingSince
	return putEndpoint(tx, ref.WorkspaceID, ep)
}
