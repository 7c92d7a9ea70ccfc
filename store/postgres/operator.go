package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// CreateOperatorTokenOnce stores t as the operator token unless the
// database has one already, which it keeps; created says whether t was
// stored. With replicas, the operator token belongs to the database, not to
// a replica: CreateToken replaces the operator token (a rotation), so
// replicas that each made their own at start would revoke each other's.
// Replicas starting at once race safely: the one-operator index lets one
// insert win and the others find it. t.ID is filled in; so is t.CreatedAt
// when t was stored.
func (db *DB) CreateOperatorTokenOnce(ctx context.Context, t *wagate.Token) (created bool, err error) {
	if t.Role != wagate.RoleOperator || t.WorkspaceID != "" {
		return false, wagate.Errorf(wagate.EINVALID, "CreateOperatorTokenOnce takes an operator token, which belongs to no workspace")
	}
	now := db.now()
	err = db.update(ctx, "create operator token", func(tx pgx.Tx) error {
		t.ID = wagate.TokenID(t.Hash)
		at := orNow(t.CreatedAt, now)
		// ON CONFLICT without a target also covers tokens_one_operator.
		tag, err := tx.Exec(ctx, `INSERT INTO tokens (hash, id, workspace_id, role, name, prefix, created_at, last_used_at)
			VALUES ($1, $2, NULL, 'operator', $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			t.Hash[:], t.ID, t.Name, t.Prefix, at, nullTime(t.LastUsedAt))
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		if created {
			t.CreatedAt = at
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}
