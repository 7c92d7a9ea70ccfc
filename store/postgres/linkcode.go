package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// The WhatsApp Web link page across replicas (SPEC §10, §12): an account
// is linked by the replica holding its lease, whose session has the QR
// code or pairing code of the moment in memory. So that the link page
// polled on any replica (a load balancer without sticky sessions) shows
// it, the holder puts the current code here with its expiry while linking
// lasts, and deletes it when linking ends; the others read it. A code is
// a secret of the moment: it is in no log, no error, no history and no
// account event, and is never read once expired (a holder that died
// mid-link leaves a row that is ignored, and dropped by the next put).

// LinkCode is the QR code or pairing code of a linking under way, until
// ExpiresAt.
type LinkCode struct {
	QR        string
	Code      string
	ExpiresAt time.Time
}

// linkCodeTTL bounds a code put without an expiry.
const linkCodeTTL = time.Minute

// PutLinkCode stores ref's current link code for the other replicas,
// replacing the one before; it also drops every expired code.
func (db *DB) PutLinkCode(ctx context.Context, ref wagate.AccountRef, c LinkCode) error {
	now := db.now()
	expires := c.ExpiresAt
	if !expires.After(now) {
		expires = now.Add(linkCodeTTL)
	}
	return db.update(ctx, "put link code", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM link_codes WHERE expires_at <= $1`, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO link_codes (workspace_id, phone, replica, qr, code, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (workspace_id, phone) DO UPDATE SET replica = excluded.replica, qr = excluded.qr, code = excluded.code, expires_at = excluded.expires_at`,
			ref.WorkspaceID, ref.Phone, db.leases.replica, c.QR, c.Code, expires)
		return err
	})
}

// DeleteLinkCode forgets ref's link code: linking ended.
func (db *DB) DeleteLinkCode(ctx context.Context, ref wagate.AccountRef) error {
	return db.update(ctx, "delete link code", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM link_codes WHERE workspace_id = $1 AND phone = $2`, ref.WorkspaceID, ref.Phone)
		return err
	})
}

// FindLinkCode returns ref's current link code, put by the replica that
// links it; ENOTFOUND when there is none or it expired.
func (db *DB) FindLinkCode(ctx context.Context, ref wagate.AccountRef) (LinkCode, error) {
	var c LinkCode
	err := db.read(ctx, "find link code", func(q querier) error {
		err := q.QueryRow(ctx, `SELECT qr, code, expires_at FROM link_codes WHERE workspace_id = $1 AND phone = $2 AND expires_at > $3`,
			ref.WorkspaceID, ref.Phone, db.now()).Scan(&c.QR, &c.Code, &c.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return wagate.Errorf(wagate.ENOTFOUND, "account %s has no link code: it is not being linked", ref.Phone)
		}
		return err
	})
	if err != nil {
		return LinkCode{}, err
	}
	return c, nil
}
