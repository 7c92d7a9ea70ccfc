package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// The checks of Audit on the events outbox and the account leases: what
// the tables' constraints cannot keep (a delivery's endpoint, its status
// and next_at, a lease's workspace are foreign keys and CHECKs already).
//
// Damage (reported by audit, so `wagate check` fails):
//   - outbox: an enabled endpoint's subscriptions (endpoint_subs) are not
//     exactly its event types with its filter, or a disabled endpoint
//     keeps some: the funnel reads only endpoint_subs, so events would be
//     lost or delivered against the endpoint's settings (store/'s audit
//     compares its subscriptions record the same way);
//   - a pending delivery without its event (it cannot be delivered), or
//     whose event says another id or type than the row;
//   - a delivery lease with an owner and no expiry (it never ends: no other
//     replica would ever make the delivery), an expiry without an owner,
//     or a lease on a finished delivery (FinishAttempt clears it);
//   - an endpoint keeping more finished deliveries than its history
//     (wagate.DeliveryHistoryLimit, pending ones counted first): every
//     write trims, as store/'s counts keep it;
//   - an account lease held (an owner) with epoch 0 (no claim made it:
//     the fence cannot tell its holders apart) or with no expiry (never
//     taken over if its replica dies);
//   - an account's pace (last_send_at) more than paceAhead ahead of the
//     database's clock: a replica's clock is wrong, and whoever holds the
//     account waits until then before sending.
//
// Normal, and not reported: a lease row of an account that is gone (the
// lease outlives the account row so its last send can be finished, see
// migration 0009), a free lease row (owner '') of any epoch, a lease or a
// delivery lease that has expired (a replica stopped without releasing:
// the next claim takes it over). A message in sending whose account has
// no live lease is not damage either: its replica stopped mid-send, and
// the next replica to take the account over settles it (asks the
// transport, or fails and refunds it). AuditDatabaseNotes lists those as
// notes (auditNotes).

// paceAhead is how far ahead of the database's clock an account's
// last_send_at may be before Audit calls it damage: replicas' clocks are
// kept in sync (NTP), so seconds of skew are normal, an hour is not.
const paceAhead = time.Hour

// auditOutboxAndLeases runs the checks above in tx.
func auditOutboxAndLeases(ctx context.Context, tx pgx.Tx, report func(format string, args ...any)) error {
	checks := []struct {
		sql  string
		args []any
		row  func(r pgx.CollectableRow) error
	}{
		{
			// Subscriptions an enabled endpoint should have and has not
			// (or has with another filter).
			`SELECT e.workspace_id, e.id, ev FROM endpoints e, unnest(e.events) AS ev
			WHERE e.enabled AND NOT EXISTS (SELECT 1 FROM endpoint_subs s WHERE s.workspace_id = e.workspace_id AND s.endpoint_id = e.id
				AND s.event = ev AND s.account_phone = e.filter_phone AND s.source = e.filter_source)
			ORDER BY e.seq, ev`,
			nil,
			func(r pgx.CollectableRow) error {
				var ws, id, ev string
				if err := r.Scan(&ws, &id, &ev); err != nil {
					return err
				}
				report("workspace %s: endpoint %s subscribes to %s but its subscription index does not say so (or not with its filter): it gets no such events; saving the endpoint again rewrites the index", ws, id, ev)
				return nil
			},
		},
		{
			// Subscriptions an endpoint should not have.
			`SELECT s.workspace_id, s.endpoint_id, s.event, e.enabled FROM endpoint_subs s
			JOIN endpoints e ON e.workspace_id = s.workspace_id AND e.id = s.endpoint_id
			WHERE NOT e.enabled OR NOT (s.event = ANY (e.events)) OR s.account_phone <> e.filter_phone OR s.source <> e.filter_source
			ORDER BY e.seq, s.event`,
			nil,
			func(r pgx.CollectableRow) error {
				var ws, id, ev string
				var enabled bool
				if err := r.Scan(&ws, &id, &ev, &enabled); err != nil {
					return err
				}
				if !enabled {
					report("workspace %s: endpoint %s is disabled but its subscription index still lists %s: it would get events; saving the endpoint again rewrites the index", ws, id, ev)
				} else {
					report("workspace %s: endpoint %s's subscription index lists %s with another filter or an event type it does not subscribe to; saving the endpoint again rewrites the index", ws, id, ev)
				}
				return nil
			},
		},
		{
			`SELECT workspace_id, endpoint_id, id, status, event IS NULL, coalesce(event->>'id', ''), coalesce(event->>'type', ''), event_id, event_type
			FROM deliveries WHERE (status = 'pending' AND event IS NULL)
				OR (event IS NOT NULL AND (coalesce(event->>'id', '') <> event_id OR coalesce(event->>'type', '') <> event_type))
			ORDER BY seq`,
			nil,
			func(r pgx.CollectableRow) error {
				var ws, ep, id, status, evID, evType, rowID, rowType string
				var none bool
				if err := r.Scan(&ws, &ep, &id, &status, &none, &evID, &evType, &rowID, &rowType); err != nil {
					return err
				}
				if none {
					report("workspace %s: endpoint %s: pending delivery %s has no event, so it can never be delivered", ws, ep, id)
				} else {
					report("workspace %s: endpoint %s: delivery %s holds event %q of type %q, but its row says %q of type %q", ws, ep, id, evID, evType, rowID, rowType)
				}
				return nil
			},
		},
		{
			`SELECT workspace_id, endpoint_id, id, status, coalesce(lease_owner, ''), lease_expires IS NULL FROM deliveries
			WHERE (lease_owner IS NULL) <> (lease_expires IS NULL) OR (lease_owner IS NOT NULL AND status <> 'pending')
			ORDER BY seq`,
			nil,
			func(r pgx.CollectableRow) error {
				var ws, ep, id, status, owner string
				var noExpiry bool
				if err := r.Scan(&ws, &ep, &id, &status, &owner, &noExpiry); err != nil {
					return err
				}
				switch {
				case owner != "" && noExpiry:
					report("workspace %s: endpoint %s: delivery %s is leased by replica %s with no expiry: no other replica would ever make it", ws, ep, id, owner)
				case owner == "":
					report("workspace %s: endpoint %s: delivery %s has a lease expiry but no lease owner", ws, ep, id)
				default:
					report("workspace %s: endpoint %s: delivery %s is %s but still leased by replica %s (finishing an attempt ends its lease)", ws, ep, id, status, owner)
				}
				return nil
			},
		},
		{
			`SELECT workspace_id, endpoint_id, count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status <> 'pending')
			FROM deliveries GROUP BY workspace_id, endpoint_id
			HAVING count(*) FILTER (WHERE status <> 'pending') > greatest($1 - count(*) FILTER (WHERE status = 'pending'), 0)
			ORDER BY workspace_id, endpoint_id`,
			[]any{wagate.DeliveryHistoryLimit},
			func(r pgx.CollectableRow) error {
				var ws, ep string
				var pending, finished int64
				if err := r.Scan(&ws, &ep, &pending, &finished); err != nil {
					return err
				}
				report("workspace %s: endpoint %s keeps %d finished deliveries beside %d pending, more than its history of %d: they were not trimmed", ws, ep, finished, pending, wagate.DeliveryHistoryLimit)
				return nil
			},
		},
		{
			`SELECT workspace_id, phone, owner, epoch, expires_at IS NULL FROM account_leases
			WHERE owner <> '' AND (epoch = 0 OR expires_at IS NULL) ORDER BY workspace_id, phone`,
			nil,
			func(r pgx.CollectableRow) error {
				var ws, phone, owner string
				var epoch int64
				var noExpiry bool
				if err := r.Scan(&ws, &phone, &owner, &epoch, &noExpiry); err != nil {
					return err
				}
				if noExpiry {
					report("workspace %s: the lease of account %s is held by replica %s with no expiry: if that replica is gone, no other ever takes the account over", ws, phone, owner)
				}
				if epoch == 0 {
					report("workspace %s: the lease of account %s is held by replica %s at epoch 0, which no claim gives: the fence cannot tell its holders apart", ws, phone, owner)
				}
				return nil
			},
		},
		{
			`SELECT workspace_id, phone, last_send_at FROM account_leases
			WHERE last_send_at > now() + $1 * interval '1 microsecond' ORDER BY workspace_id, phone`,
			[]any{paceAhead.Microseconds()},
			func(r pgx.CollectableRow) error {
				var ws, phone string
				var at time.Time
				if err := r.Scan(&ws, &phone, &at); err != nil {
					return err
				}
				report("workspace %s: account %s's last send is recorded at %s, more than %s ahead of the database's clock: a replica's clock is wrong, and the account sends nothing until then", ws, phone, at.UTC().Format(time.RFC3339), paceAhead)
				return nil
			},
		},
	}
	for _, c := range checks {
		rows, err := tx.Query(ctx, c.sql, c.args...)
		if err != nil {
			return err
		}
		if _, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) { return struct{}{}, c.row(r) }); err != nil {
			return err
		}
	}
	return nil
}

// auditNotes reports, through note, what is normal but worth telling an
// operator who checks a database: the messages in sending whose account
// has no live lease (its replica stopped mid-send; they are settled when
// a replica takes the account over), and the deliveries whose replica's
// lease has expired (another replica's deliverer takes them).
func auditNotes(ctx context.Context, tx pgx.Tx, note func(format string, args ...any)) error {
	rows, err := tx.Query(ctx, `SELECT m.id, m.workspace_id, m.account_phone, coalesce(l.owner, '') FROM messages m
		LEFT JOIN account_leases l ON l.workspace_id = m.workspace_id AND l.phone = m.account_phone
		WHERE m.status = 'sending' AND (l.phone IS NULL OR l.owner = '' OR l.expires_at IS NULL OR l.expires_at <= now())
		ORDER BY m.seq`)
	if err != nil {
		return err
	}
	var id, ws, phone, owner string
	if _, err := pgx.ForEachRow(rows, []any{&id, &ws, &phone, &owner}, func() error {
		was := "its replica"
		if owner != "" {
			was = "replica " + owner
		}
		note("message %s of account %s (workspace %s) is in sending with no live lease on the account: %s stopped mid-send; it is to be recovered at takeover (the next replica to hold the account confirms it with the transport, or fails and refunds it)", id, phone, ws, was)
		return nil
	}); err != nil {
		return err
	}
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE status = 'pending' AND lease_owner IS NOT NULL AND lease_expires <= now()`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		note("%d pending deliveries are leased by replicas whose lease has expired (they stopped without releasing): any replica's deliverer takes them over", n)
	}
	return nil
}
