package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// Linking through any replica (SPEC §10, §12): a whatsapp account's
// session runs only on the replica holding its lease, so POST and DELETE
// …/link on another replica (a load balancer without sticky sessions) are
// handed to the holder through the database. The requesting replica
// writes a row of link_requests naming the action and the holder, and
// notifies on linkChannel; the holder takes the rows of the accounts it
// holds (on the notification, with a poll as backstop), runs each as a
// local request and stores its outcome; the requester reads the outcome,
// deletes the row and answers. The QR code or pairing code of a link
// started so goes through link_codes (linkcode.go), never through this
// table.
//
// A holder may die, or hand the account over, before it answers: the
// requester then calls RehandLinkRequest while it waits, which hands the
// request to the lease's new holder (or back to the requester, when no
// other replica holds the lease) unless the request may have been run:
// a done request keeps its outcome, and one taken by a replica still live
// is left to it. The holder a request is handed to takes it as its own
// (TakeLinkRequests writes its name), and only that holder's outcome is
// stored (FinishLinkRequest), so a holder cut off meanwhile cannot
// overwrite the new holder's.

// linkChannel is the LISTEN/NOTIFY channel of new link requests.
const linkChannel = "wagate_link"

// Link request actions: link by QR code, link by pairing code, unlink.
const (
	LinkActionQR     = "qr"
	LinkActionCode   = "code"
	LinkActionUnlink = "unlink"
)

// linkRequestTTL is how long a request row outlives its requester's wait
// at most: older rows (a requester that died waiting) are dropped.
const linkRequestTTL = 5 * time.Minute

// LinkRequest is a link or unlink request handed to the replica holding
// the account's lease.
type LinkRequest struct {
	ID          int64
	Account     wagate.AccountRef
	Action      string
	RequestedBy string
	RequestedAt time.Time
}

// LinkOutcome is what the holder stored for a request: Done once run,
// with the refusal's code and message when it refused (both empty when it
// succeeded).
type LinkOutcome struct {
	Done         bool
	ErrorCode    string
	ErrorMessage string
}

// RequestLink hands action on ref to the replica holding ref's lease: it
// writes the request and notifies the replicas, in one transaction. It
// returns the request's id and the holder's name; holder "" (and no
// request) when no other replica holds the lease now (this one may claim
// it).
func (db *DB) RequestLink(ctx context.Context, ref wagate.AccountRef, action string) (id int64, holder string, err error) {
	if action != LinkActionQR && action != LinkActionCode && action != LinkActionUnlink {
		return 0, "", wagate.Errorf(wagate.EINVALID, "link request action %q: write %q, %q or %q", action, LinkActionQR, LinkActionCode, LinkActionUnlink)
	}
	now := db.now()
	err = db.update(ctx, "request link", func(tx pgx.Tx) error {
		id, holder = 0, ""
		if _, err := tx.Exec(ctx, `DELETE FROM link_requests WHERE requested_at < $1`, now.Add(-linkRequestTTL)); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT owner FROM account_leases WHERE workspace_id = $1 AND phone = $2
			AND owner <> '' AND owner <> $3 AND expires_at > $4`, ref.WorkspaceID, ref.Phone, db.leases.replica, now).Scan(&holder)
		if errors.Is(err, pgx.ErrNoRows) {
			holder = ""
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO link_requests (workspace_id, phone, action, requested_by, holder, requested_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, ref.WorkspaceID, ref.Phone, action, db.leases.replica, holder, now).Scan(&id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, linkChannel)
		return err
	})
	if err != nil {
		return 0, "", err
	}
	return id, holder, nil
}

// TakeLinkRequests returns the requests not taken yet of the accounts
// whose lease this replica holds, marked taken so that no other round
// runs them again.
func (db *DB) TakeLinkRequests(ctx context.Context) ([]LinkRequest, error) {
	var reqs []LinkRequest
	now := db.now()
	err := db.update(ctx, "take link requests", func(tx pgx.Tx) error {
		reqs = reqs[:0]
		rows, err := tx.Query(ctx, `UPDATE link_requests r SET taken_at = $2, holder = $1
			FROM account_leases l
			WHERE r.taken_at IS NULL AND l.workspace_id = r.workspace_id AND l.phone = r.phone AND l.owner = $1 AND l.expires_at > $2
			RETURNING r.id, r.workspace_id, r.phone, r.action, r.requested_by, r.requested_at`, db.leases.replica, now)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r LinkRequest
			if err := rows.Scan(&r.ID, &r.Account.WorkspaceID, &r.Account.Phone, &r.Action, &r.RequestedBy, &r.RequestedAt); err != nil {
				return err
			}
			reqs = append(reqs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return reqs, nil
}

// FinishLinkRequest stores a request's outcome: runErr nil when the
// holder ran it, else its refusal (its code and message, which name no
// secret) for the requester to answer with. A request handed meanwhile to
// another replica (RehandLinkRequest) is that replica's: nothing is
// stored.
func (db *DB) FinishLinkRequest(ctx context.Context, id int64, runErr error) error {
	code, msg := "", ""
	if runErr != nil {
		code, msg = wagate.ErrorCode(runErr), wagate.ErrorMessage(runErr)
	}
	return db.update(ctx, "finish link request", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE link_requests SET done = true, error_code = $2, error_message = $3
			WHERE id = $1 AND holder = $4 AND NOT done`, id, code, msg, db.leases.replica)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, linkChannel)
		return err
	})
}

// RehandLinkRequest is the requester's check, while it waits, that the
// replica its request went to still holds the account's lease. It returns
// the holder to wait for now:
//   - the same one while it holds the lease, when the request is done (read
//     its outcome), or when that replica took it and is still live (it may
//     be running it; its outcome comes);
//   - the lease's new holder, to which the request now goes (not taken,
//     with a notification), when the lease moved to another replica;
//   - "" when no other replica holds the lease: the request is deleted and
//     the requester may claim the lease and run it itself.
//
// A request taken by a replica that is no longer live (it died, or
// stopped) and not done was not answered: it goes again. ENOTFOUND when
// the row is gone.
func (db *DB) RehandLinkRequest(ctx context.Context, id int64) (holder string, err error) {
	now := db.now()
	err = db.update(ctx, "hand link request again", func(tx pgx.Tx) error {
		var ref wagate.AccountRef
		var taken, done bool
		err := tx.QueryRow(ctx, `SELECT workspace_id, phone, holder, taken_at IS NOT NULL, done FROM link_requests WHERE id = $1 FOR UPDATE`, id).
			Scan(&ref.WorkspaceID, &ref.Phone, &holder, &taken, &done)
		if errors.Is(err, pgx.ErrNoRows) {
			return wagate.Errorf(wagate.ENOTFOUND, "link request %d is gone", id)
		}
		if err != nil || done {
			return err
		}
		var owner string
		err = tx.QueryRow(ctx, `SELECT owner FROM account_leases WHERE workspace_id = $1 AND phone = $2 AND owner <> '' AND expires_at > $3`,
			ref.WorkspaceID, ref.Phone, now).Scan(&owner)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if owner == holder {
			return nil
		}
		if taken {
			var live bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM replicas WHERE name = $1 AND expires_at > $2)`, holder, now).Scan(&live); err != nil || live {
				return err
			}
		}
		if owner == "" || owner == db.leases.replica {
			holder = ""
			_, err := tx.Exec(ctx, `DELETE FROM link_requests WHERE id = $1`, id)
			return err
		}
		holder = owner
		if _, err := tx.Exec(ctx, `UPDATE link_requests SET holder = $2, taken_at = NULL WHERE id = $1`, id, owner); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, linkChannel)
		return err
	})
	if err != nil {
		return "", err
	}
	return holder, nil
}

// LinkRequestOutcome reads a request's outcome; ENOTFOUND when the row is
// gone.
func (db *DB) LinkRequestOutcome(ctx context.Context, id int64) (LinkOutcome, error) {
	var o LinkOutcome
	err := db.read(ctx, "link request outcome", func(q querier) error {
		err := q.QueryRow(ctx, `SELECT done, error_code, error_message FROM link_requests WHERE id = $1`, id).Scan(&o.Done, &o.ErrorCode, &o.ErrorMessage)
		if errors.Is(err, pgx.ErrNoRows) {
			return wagate.Errorf(wagate.ENOTFOUND, "link request %d is gone", id)
		}
		return err
	})
	return o, err
}

// DeleteLinkRequest drops a request once its requester has its outcome,
// or gave up waiting.
func (db *DB) DeleteLinkRequest(ctx context.Context, id int64) error {
	return db.update(ctx, "delete link request", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM link_requests WHERE id = $1`, id)
		return err
	})
}

// ListenLinkRequests calls wake at every notification on linkChannel (a
// new request, or a request's outcome stored) from any replica, and right
// after it starts listening and after each reconnection (a notification
// may have been missed), until ctx ends; it returns nil then. Like Listen,
// it holds a connection of its own and never gives up while ctx lasts.
func (db *DB) ListenLinkRequests(ctx context.Context, wake func()) error {
	return db.listen(ctx, linkChannel, func(string) { wake() }, wake)
}
