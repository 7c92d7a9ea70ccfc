package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// Spreading the accounts between replicas (SPEC §12).
//
// Every handle whose sender leases registers its replica in the replicas
// table, in each lease round, until the end of its leases; a clean stop
// (Release) deletes the row, and a dead replica's row expires with its
// leases. The live replicas share the busy accounts: those with a message
// queued or in sending, or a WhatsApp Web session to hold (the same
// accounts a round claims). In each round a replica works out
//
//	share = ceil(busy / live), floor = busy / live
//
// and claims free accounts only up to its share, so a replica starting
// alone takes everything but a second one starting beside it finds half
// left. A replica holding more than its share releases the surplus: down to
// the share when it holds more than share+leaseSlack, and down to floor
// when it holds more than its share while another live replica holds fewer
// than floor (a replica that joined late, which would otherwise starve
// beside replicas sitting at share+leaseSlack). Between share and
// share+leaseSlack it keeps what it has: an account that goes idle or
// gets work tips the counts by one, and moving an account for that would
// make the replicas pass accounts back and forth.
//
// A release is safe at any moment the sender is at: only an account with
// no message in sending is released (never mid-send), never one being
// linked (its QR code lives on this replica), and the lease row keeps the
// pace (last_send_at, gap_ns) so the next holder waits the gap out. The
// rows are locked first, and the check for a message in sending is made
// after the lock, in a statement of its own: a MarkSending holds the lease
// row FOR SHARE until it commits (fence), so either it committed before the
// lock (its message is seen in sending, and the account stays) or it waits
// and then finds the lease gone (refused, its message stays queued). A
// released account is claimed by another replica's next round; no wake-up
// is sent, so the session of a linked account has a round's time to stop
// here before another replica starts it.

// leaseSlack is how many accounts over its share a replica keeps without
// releasing any, while no live replica is short of its floor.
const leaseSlack = 1

// leaseBusy is the SQL that says whether the lease row c's account is busy:
// a message queued or in sending, or a session to hold.
const leaseBusy = `(EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = c.workspace_id AND m.account_phone = c.phone AND m.status = 'queued')
	OR EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = c.workspace_id AND m.account_phone = c.phone AND m.status = 'sending')
	OR ` + leaseSession + `)`

// leaseLinking is the SQL that says whether the lease row c's account is
// being linked: its QR code or pairing code is on this replica's session.
const leaseLinking = `EXISTS (SELECT 1 FROM accounts a WHERE a.workspace_id = c.workspace_id AND a.phone = c.phone AND a.link->>'state' = 'linking')`

// spread is what a lease round works out of the counts: how many accounts
// this replica may still claim, and how many it releases.
type spread struct {
	busy, live, mine, least int
	claim, release          int
}

// plan works out spread from the counts: busy accounts, live replicas
// (this one included), the busy accounts this replica holds, and the
// fewest a live replica holds.
func plan(busy, live, mine, least int) spread {
	s := spread{busy: busy, live: live, mine: mine, least: least}
	live = max(live, 1)
	share := (busy + live - 1) / live
	floor := busy / live
	switch {
	case mine > share+leaseSlack:
		s.release = mine - share
	case mine > share && least < floor:
		s.release = mine - floor
	default:
		s.claim = max(share-mine, 0)
	}
	return s
}

// register renews this replica's row until until, and drops the rows of
// replicas dead for long (an hour past their expiry).
func (db *DB) register(ctx context.Context, q querier, now, until time.Time) error {
	if _, err := q.Exec(ctx, `INSERT INTO replicas (name, started_at, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at`, db.leases.replica, now, until); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `DELETE FROM replicas WHERE expires_at < $1`, now.Add(-time.Hour))
	return err
}

// share counts what plan needs, at now.
func (db *DB) share(ctx context.Context, q querier, now time.Time) (spread, error) {
	var busy, live, mine, least int
	err := q.QueryRow(ctx, `WITH busy AS (
			SELECT c.owner, (c.owner <> '' AND c.expires_at > $1) AS held FROM account_leases c WHERE `+leaseBusy+`
		)
		SELECT (SELECT count(*) FROM busy),
			(SELECT count(*) FROM replicas WHERE expires_at > $1),
			(SELECT count(*) FROM busy WHERE owner = $2 AND held),
			(SELECT coalesce(min(n), 0) FROM (SELECT count(b.owner) AS n FROM replicas r
				LEFT JOIN busy b ON b.owner = r.name AND b.held
				WHERE r.expires_at > $1 GROUP BY r.name) s)`,
		now, db.leases.replica).Scan(&busy, &live, &mine, &least)
	if err != nil {
		return spread{}, err
	}
	return plan(busy, live, mine, least), nil
}

// releaseSurplus frees up to n of this replica's busy leases that have no
// message in sending and no linking under way, and returns the accounts
// freed. Accounts without a session to move go first. See the top of the
// file for why the rows are locked before the check for sending.
func (db *DB) releaseSurplus(ctx context.Context, n int) ([]wagate.AccountRef, error) {
	var freed []wagate.AccountRef
	err := db.update(ctx, "release surplus leases", func(tx pgx.Tx) error {
		freed = nil
		rows, err := tx.Query(ctx, `SELECT c.workspace_id, c.phone FROM account_leases c
			WHERE c.owner = $1 AND `+leaseBusy+`
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = c.workspace_id AND m.account_phone = c.phone AND m.status = 'sending')
			AND NOT `+leaseLinking+`
			ORDER BY `+leaseSession+`, c.workspace_id DESC, c.phone DESC
			LIMIT $2 FOR UPDATE SKIP LOCKED`, db.leases.replica, n)
		if err != nil {
			return err
		}
		locked, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wagate.AccountRef, error) {
			var ref wagate.AccountRef
			return ref, r.Scan(&ref.WorkspaceID, &ref.Phone)
		})
		if err != nil || len(locked) == 0 {
			return err
		}
		wss, phones := make([]string, len(locked)), make([]string, len(locked))
		for i, ref := range locked {
			wss[i], phones[i] = ref.WorkspaceID, ref.Phone
		}
		// A statement of its own, so it sees every MarkSending that
		// committed before the lock.
		rows, err = tx.Query(ctx, `UPDATE account_leases c SET owner = '', expires_at = NULL
			FROM unnest($2::text[], $3::text[]) AS k (workspace_id, phone)
			WHERE c.workspace_id = k.workspace_id AND c.phone = k.phone AND c.owner = $1
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = c.workspace_id AND m.account_phone = c.phone AND m.status = 'sending')
			RETURNING c.workspace_id, c.phone`, db.leases.replica, wss, phones)
		if err != nil {
			return err
		}
		freed, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (wagate.AccountRef, error) {
			var ref wagate.AccountRef
			return ref, r.Scan(&ref.WorkspaceID, &ref.Phone)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return freed, nil
}
