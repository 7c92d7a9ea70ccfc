package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// CreateToken stores an admin token by its hash; a hash already stored is
// a successful no-op. An operator token deletes any other operator token
// in the same transaction (rotation after a leak).
func (db *DB) CreateToken(ctx context.Context, t *wagate.Token) error {
	now := db.now()
	return db.update(ctx, "create token", func(tx pgx.Tx) error {
		return createToken(ctx, tx, t, now)
	})
}

// createToken stores t (its ID and a zero CreatedAt filled in).
func createToken(ctx context.Context, tx pgx.Tx, t *wagate.Token, now time.Time) error {
	var wsID *string
	switch t.Role {
	case wagate.RoleOperator:
		if t.WorkspaceID != "" {
			return wagate.ErrOperatorTokenInWorkspace()
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE role = 'operator' AND hash <> $1`, t.Hash[:]); err != nil {
			return err
		}
	case wagate.RoleOwner, wagate.RoleSupport:
		if _, err := findWorkspace(ctx, tx, t.WorkspaceID, false); err != nil {
			return err
		}
		wsID = &t.WorkspaceID
	default:
		return wagate.ErrTokenRole(t.Role)
	}
	t.ID = wagate.TokenID(t.Hash)
	created := orNow(t.CreatedAt, now)
	tag, err := tx.Exec(ctx, `INSERT INTO tokens (hash, id, workspace_id, role, name, prefix, created_at, last_used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (hash) DO NOTHING`,
		t.Hash[:], t.ID, wsID, string(t.Role), t.Name, t.Prefix, created, nullTime(t.LastUsedAt))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		t.CreatedAt = created
	}
	return nil
}

// tokenColumns are read by scanToken, in its order.
const tokenColumns = `hash, id, coalesce(workspace_id, ''), role, name, prefix, created_at, last_used_at`

func scanToken(row pgx.Row) (*wagate.Token, error) {
	var (
		t        wagate.Token
		hash     []byte
		role     string
		lastUsed *time.Time
	)
	if err := row.Scan(&hash, &t.ID, &t.WorkspaceID, &role, &t.Name, &t.Prefix, &t.CreatedAt, &lastUsed); err != nil {
		return nil, err
	}
	if len(hash) != 32 {
		return nil, fmt.Errorf("token hash is %d bytes, not 32", len(hash))
	}
	t.Hash = [32]byte(hash)
	t.Role = wagate.Role(role)
	if lastUsed != nil {
		t.LastUsedAt = *lastUsed
	}
	return &t, nil
}

// FindToken returns the admin token with that hash, or ENOTFOUND.
func (db *DB) FindToken(ctx context.Context, hash [32]byte) (*wagate.Token, error) {
	var t *wagate.Token
	err := db.read(ctx, "find token", func(q querier) error {
		var err error
		t, err = scanToken(q.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash[:]))
		if errors.Is(err, pgx.ErrNoRows) {
			return wagate.ErrTokenNotFound()
		}
		return err
	})
	return t, err
}

// CreateWorkspaceToken stores a new owner or support token unless the
// workspace already has max. The workspace's row is locked first, so
// racing creates on any replica count one after the other.
func (db *DB) CreateWorkspaceToken(ctx context.Context, t *wagate.Token, max int) error {
	if t.Role != wagate.RoleOwner && t.Role != wagate.RoleSupport {
		return wagate.ErrTokenRole(t.Role)
	}
	now := db.now()
	return db.update(ctx, "create workspace token", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, t.WorkspaceID, true); err != nil {
			return err
		}
		if max > 0 {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE workspace_id = $1`, t.WorkspaceID).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return wagate.TokenLimitError(n)
			}
		}
		return createToken(ctx, tx, t, now)
	})
}

// ListTokens returns the workspace's tokens, oldest first (ties by id).
func (db *DB) ListTokens(ctx context.Context, workspaceID string) ([]*wagate.Token, error) {
	var list []*wagate.Token
	err := db.view(ctx, "list tokens", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE workspace_id = $1 ORDER BY created_at, id`, workspaceID)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Token, error) { return scanToken(r) })
		return err
	})
	return list, err
}

// RevokeToken deletes a workspace token; the last owner token stays. The
// workspace's row is locked first, so two racing revokes of its last two
// owner tokens cannot both pass the count.
func (db *DB) RevokeToken(ctx context.Context, workspaceID, id string) error {
	return db.update(ctx, "revoke token", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, true); err != nil {
			return err
		}
		var role string
		err := tx.QueryRow(ctx, `SELECT role FROM tokens WHERE workspace_id = $1 AND id = $2`, workspaceID, id).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			return wagate.ErrTokenNotInWorkspace(id)
		}
		if err != nil {
			return err
		}
		if wagate.Role(role) == wagate.RoleOwner {
			var owners int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE workspace_id = $1 AND role = 'owner'`, workspaceID).Scan(&owners); err != nil {
				return err
			}
			if owners <= 1 {
				return wagate.LastOwnerTokenError(id)
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM tokens WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
		return err
	})
}

// RecordTokenUse moves LastUsedAt to at in one statement that writes
// nothing when the token is gone or its use was recorded less than
// wagate.TokenUseResolution before at.
func (db *DB) RecordTokenUse(ctx context.Context, hash [32]byte, at time.Time) error {
	return db.update(ctx, "record token use", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE tokens SET last_used_at = $2 WHERE hash = $1 AND (last_used_at IS NULL OR last_used_at <= $3)`,
			hash[:], at, at.Add(-wagate.TokenUseResolution))
		return err
	})
}
