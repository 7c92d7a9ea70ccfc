package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagate/wagate"
)

// RotateOperatorToken replaces the operator token of the database at url
// with t, in one transaction, for `wagate operator rotate-token`: the old
// token is deleted (and with it, by the foreign key, every console session
// signed in with it) and t stored, so the operator is never without a
// token and never has two. It returns whether there was an old token to
// replace.
//
// Every replica sees the rotation at its next request: the admin API and
// the console look the token (and the session) up in the database at every
// request, with no cache (the one-second cache of inboundcache.go holds
// workspaces' inbound URL tokens, never admin tokens).
//
// It connects on its own, with one connection, and never migrates: a
// database whose schema is not wagate's (no tokens table: no replica ever
// started on it) is refused. The URL may hold a password: errors never
// show it.
func RotateOperatorToken(ctx context.Context, url string, t *wagate.Token, now time.Time) (replaced bool, err error) {
	if t.Role != wagate.RoleOperator || t.WorkspaceID != "" {
		return false, wagate.Errorf(wagate.EINVALID, "RotateOperatorToken takes an operator token, which belongs to no workspace")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return false, errors.New("postgres: the database URL is not a valid postgres://user@host/database URL")
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("postgres: connect: %w", err)
	}
	defer pool.Close()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var schema bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('tokens') IS NOT NULL`).Scan(&schema); err != nil {
			return err
		}
		if !schema {
			return errors.New("the database has no wagate schema (no tokens table): start wagate serve --database-url on it first, which creates the schema and the operator token")
		}
		tag, err := tx.Exec(ctx, `DELETE FROM tokens WHERE role = 'operator'`)
		if err != nil {
			return err
		}
		replaced = tag.RowsAffected() > 0
		t.ID = wagate.TokenID(t.Hash)
		t.CreatedAt = orNow(t.CreatedAt, now)
		_, err = tx.Exec(ctx, `INSERT INTO tokens (hash, id, workspace_id, role, name, prefix, created_at, last_used_at)
			VALUES ($1, $2, NULL, 'operator', $3, $4, $5, NULL)`, t.Hash[:], t.ID, t.Name, t.Prefix, t.CreatedAt)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: rotate the operator token: %w", err)
	}
	return replaced, nil
}
