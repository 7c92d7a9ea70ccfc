package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wagate/wagate"
)

// sessionSweepLimit bounds how many expired sessions one sign-in deletes,
// as in store/, so a sign-in stays small after a long quiet spell.
const sessionSweepLimit = 100

// CreateSession stores s under key. In the same transaction it ends the
// token's oldest sessions beyond wagate.SessionsPerToken-1 and sweeps
// expired ones. The token's row is locked first: it must exist, and two
// sign-ins of one token on two replicas count its sessions in turn.
func (db *DB) CreateSession(ctx context.Context, key [32]byte, s *wagate.Session) error {
	if err := wagate.CheckSessionExpiry(s); err != nil {
		return err
	}
	created := orNow(s.CreatedAt, db.now())
	return db.update(ctx, "create session", func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM tokens WHERE hash = $1 FOR UPDATE`, s.TokenHash[:]).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return wagate.ErrTokenNotFound()
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE key IN
			(SELECT key FROM sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, created, sessionSweepLimit); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1 AND key NOT IN
			(SELECT key FROM sessions WHERE token_hash = $1 ORDER BY created_at DESC, key DESC LIMIT $2)`,
			s.TokenHash[:], wagate.SessionsPerToken-1); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO sessions (key, token_hash, workspace_id, role, csrf, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (key) DO UPDATE SET token_hash = $2, workspace_id = $3, role = $4, csrf = $5, created_at = $6, expires_at = $7`,
			key[:], s.TokenHash[:], s.WorkspaceID, string(s.Role), s.CSRF, created, s.ExpiresAt)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // the token went meanwhile
			return wagate.ErrTokenNotFound()
		}
		return err
	})
}

// FindSession returns the session under key, live at now, whose token
// still exists.
func (db *DB) FindSession(ctx context.Context, key [32]byte, now time.Time) (*wagate.Session, error) {
	var s wagate.Session
	err := db.read(ctx, "find session", func(q querier) error {
		var (
			hash []byte
			role string
		)
		err := q.QueryRow(ctx, `SELECT s.token_hash, s.workspace_id, s.role, s.csrf, s.created_at, s.expires_at
			FROM sessions s JOIN tokens t ON t.hash = s.token_hash
			WHERE s.key = $1 AND s.expires_at > $2`, key[:], now).
			Scan(&hash, &s.WorkspaceID, &role, &s.CSRF, &s.CreatedAt, &s.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && len(hash) != 32) {
			return wagate.ErrSessionNotFound()
		}
		s.TokenHash, s.Role = [32]byte(hash), wagate.Role(role)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteSession ends the session under key, if there is one.
func (db *DB) DeleteSession(ctx context.Context, key [32]byte) error {
	return db.update(ctx, "delete session", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM sessions WHERE key = $1`, key[:])
		return err
	})
}
