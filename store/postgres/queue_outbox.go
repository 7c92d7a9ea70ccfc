package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// The deliverer's side of the outbox (wagate.DeliveryQueue), the twin of
// store/queue_outbox.go, for several replicas on one database.
//
// Every replica runs a deliverer, and each may find the same endpoint
// pending. So NextDeliveries claims what it returns: in one transaction it
// locks the due rows with FOR UPDATE SKIP LOCKED (a replica claiming at
// the same moment skips them rather than waits) and writes this store as
// their lease owner until now + Options.DeliveryLease. Another replica's
// NextDeliveries does not return a delivery under a live lease, and its
// FinishAttempt of one is refused (ECONFLICT), so two replicas never make
// one delivery at once. The owner's own NextDeliveries returns it again
// (renewing the lease), as the interface promises: the deliverer tracks
// what it has in flight. FinishAttempt ends the lease; a replica that dies
// mid-attempt leaves a lease that expires, and then any replica takes the
// delivery over, with the same event and webhook-id.
//
// Lease times are the store's clock (Options.Now): replicas' clocks are
// assumed to agree to well within the lease (NTP).

var _ wagate.DeliveryQueue = (*DB)(nil)

// DefaultDeliveryLease is how long a claimed delivery stays with the
// replica that claimed it: well over the 15 s bound of one attempt, so a
// live replica always finishes its attempt inside its lease.
const DefaultDeliveryLease = time.Minute

// releaseTimeout bounds how long Close waits to release this store's
// leases.
const releaseTimeout = 5 * time.Second

// releaseLeases ends every lease this store holds, at Close: its deliverer
// has stopped and recorded its attempts, so the deliveries it still holds
// go to whichever replica asks next (the same process restarted, or
// another), at once rather than when the leases expire. A store that dies
// without Close leaves its leases to expire. Failing to release is only
// logged: the leases expire anyway.
func (db *DB) releaseLeases() {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if _, err := db.pool.Exec(ctx, `UPDATE deliveries SET lease_owner = NULL, lease_expires = NULL WHERE lease_owner = $1`, db.owner); err != nil {
		db.log.Warn("release the delivery leases at close; they expire by themselves", zap.Error(err))
	}
}

// PendingEndpoints lists the enabled endpoints that have pending
// deliveries, so a restart resumes them all: one probe of the due index
// per enabled endpoint.
func (db *DB) PendingEndpoints(ctx context.Context) ([]wagate.EndpointRef, error) {
	var refs []wagate.EndpointRef
	err := db.read(ctx, "pending endpoints", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT e.workspace_id, e.id FROM endpoints e WHERE e.enabled AND EXISTS (
			SELECT 1 FROM deliveries d WHERE d.workspace_id = e.workspace_id AND d.endpoint_id = e.id AND d.status = 'pending')
			ORDER BY e.seq`)
		if err != nil {
			return err
		}
		refs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (wagate.EndpointRef, error) {
			var ref wagate.EndpointRef
			err := r.Scan(&ref.WorkspaceID, &ref.ID)
			return ref, err
		})
		return err
	})
	return refs, err
}

// NextDeliveries claims and returns up to n (at least 1) pending
// deliveries of an enabled endpoint that are due at at, in due order (the
// order their events came in, among those due at the same time), each with
// its event and the endpoint (one *Endpoint shared by all, secrets
// included: read it, do not change it); see wagate.DeliveryQueue and the
// leases above. due is the next try of the first pending delivery not
// returned, a delivery under another replica's lease counting as due when
// its lease ends: after at when none is due yet, at or before at when more
// are due than n; zero when there is none. A disabled endpoint has none
// due. ENOTFOUND for an unknown endpoint.
//
// The claim is bookkeeping, not a change of state: Options.FailCommit is
// not asked about it.
func (db *DB) NextDeliveries(ctx context.Context, ref wagate.EndpointRef, at time.Time, n int) ([]*wagate.PendingDelivery, time.Time, error) {
	n = max(n, 1)
	now := db.now()
	var (
		ds  []*wagate.PendingDelivery
		due time.Time
	)
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, unavailable("next deliveries", err)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		ds, due = nil, time.Time{}
		ep, err := findEndpoint(ctx, tx, ref, false)
		if err != nil || !ep.Enabled {
			return err
		}
		rows, err := collectDeliveries(tx.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
			WHERE workspace_id = $1 AND endpoint_id = $2 AND status = 'pending' AND next_at <= $3
			AND (lease_owner IS NULL OR lease_owner = $4 OR lease_expires <= $5)
			ORDER BY next_at, seq LIMIT $6 FOR UPDATE SKIP LOCKED`, ref.WorkspaceID, ref.ID, at, db.owner, now, n))
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(rows))
		for _, r := range rows {
			ids = append(ids, r.d.ID)
			ds = append(ds, &wagate.PendingDelivery{Delivery: r.d, Event: r.event, Endpoint: ep})
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET lease_owner = $4, lease_expires = $5
			WHERE workspace_id = $1 AND endpoint_id = $2 AND id = ANY($3)`, ref.WorkspaceID, ref.ID, ids, db.owner, now.Add(db.deliveryLease)); err != nil {
			return err
		}
		var next *time.Time
		if err := tx.QueryRow(ctx, `SELECT least(
			(SELECT next_at FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2 AND status = 'pending' AND NOT (id = ANY($3))
				AND (lease_owner IS NULL OR lease_owner = $4 OR lease_expires <= $5) ORDER BY next_at, seq LIMIT 1),
			(SELECT min(greatest(next_at, lease_expires)) FROM deliveries WHERE workspace_id = $1 AND endpoint_id = $2
				AND lease_owner IS NOT NULL AND lease_owner <> $4 AND lease_expires > $5 AND status = 'pending'))`,
			ref.WorkspaceID, ref.ID, ids, db.owner, now).Scan(&next); err != nil {
			return err
		}
		due = deref(next)
		return nil
	})
	if err != nil {
		return nil, time.Time{}, unavailable("next deliveries", err)
	}
	return ds, due, nil
}

// FinishAttempt records one attempt of the pending delivery d; see
// wagate.DeliveryQueue. The store counts the attempt (d.Attempt is set to
// the stored count plus one); a zero d.At is now, and a pending d without
// NextTryAt is due at once. In the same transaction: the lease ends, a
// success clears the endpoint's FailingSince, a failure (a failed
// delivery, or one pending again) starts it if it is not running; disable
// != "" disables the endpoint with that reason, its pending deliveries
// kept. EINVALID for a status that is not pending, succeeded or failed;
// ENOTFOUND for an unknown endpoint or delivery (deleted meanwhile);
// ECONFLICT for a delivery that is not pending, or that another replica
// holds under a live lease (it took the delivery over: this attempt's
// outcome is not recorded).
func (db *DB) FinishAttempt(ctx context.Context, d *wagate.EndpointDelivery, disable string) error {
	if err := wagate.CheckAttemptEnd(d.Status); err != nil {
		return err
	}
	ref := wagate.EndpointRef{WorkspaceID: d.WorkspaceID, ID: d.EndpointID}
	now := db.now()
	at, next := wagate.AttemptTimes(d, now)
	o, err := newOutcome(d)
	if err != nil {
		return err
	}
	attempt := 0
	err = db.update(ctx, "finish attempt", func(tx pgx.Tx) error {
		// The endpoint first (FailingSince, a disable), then the delivery:
		// the order of every writer of both.
		ep, err := findEndpoint(ctx, tx, ref, true)
		if err != nil {
			return err
		}
		r, err := findDelivery(ctx, tx, ref, d.ID)
		switch {
		case err != nil:
			return err
		case r == nil:
			return wagate.ErrDeliveryNotFound(d.ID)
		case r.d.Status != wagate.DeliveryPending:
			return wagate.CheckDeliveryPending(r.d.ID, r.d.Status)
		case r.leaseOwner != "" && r.leaseOwner != db.owner && r.leaseExpires.After(now):
			return wagate.Errorf(wagate.ECONFLICT, "delivery %s was taken over by another replica after this one's lease ended; its attempt is not recorded", r.d.ID)
		}
		attempt = r.d.Attempt + 1
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET attempt = $4, status = $5, request = $6, request_body = $7, response = $8,
			response_body = $9, duration_ns = $10, error = $11, next_at = $12, at = $13, lease_owner = NULL, lease_expires = NULL
			WHERE workspace_id = $1 AND endpoint_id = $2 AND id = $3`,
			ref.WorkspaceID, ref.ID, d.ID, attempt, d.Status, o.request, o.requestBody, o.response, o.responseBody,
			int64(d.Duration), o.errText, nullTime(next), at); err != nil {
			return err
		}
		if d.Status != wagate.DeliveryPending {
			if err := trim(ctx, tx, ref); err != nil {
				return err
			}
		}
		return endpointAttempted(ctx, tx, ep, d.Status == wagate.DeliverySucceeded, at, disable)
	})
	if err == nil {
		d.Attempt, d.At, d.NextTryAt = attempt, at, next
	}
	return err
}

// endpointAttempted applies an attempt's outcome to the endpoint (its row
// locked), writing it only when something changed: a success of a healthy
// endpoint writes nothing.
func endpointAttempted(ctx context.Context, tx pgx.Tx, ep *wagate.Endpoint, success bool, at time.Time, disable string) error {
	h, changed := wagate.EndpointHealth{Enabled: ep.Enabled, DisabledReason: ep.DisabledReason, FailingSince: ep.FailingSince}.Attempted(success, at, disable)
	if !changed {
		return nil
	}
	ep.Enabled, ep.DisabledReason, ep.FailingSince = h.Enabled, h.DisabledReason, h.FailingSince
	return putEndpoint(ctx, tx, ep)
}
