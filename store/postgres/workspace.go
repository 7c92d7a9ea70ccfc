package postgres

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

// workspaceColumns are read by scanWorkspace, in its order.
const workspaceColumns = `id, name, balance, granted, inbound_token, inbound_enabled, inbound_created_at, created_at, low_credits`

func scanWorkspace(row pgx.Row) (*wagate.Workspace, error) {
	ws := &wagate.Workspace{}
	err := row.Scan(&ws.ID, &ws.Name, &ws.Credits, &ws.Granted, &ws.Webhook.Token, &ws.Webhook.Enabled, &ws.Webhook.CreatedAt, &ws.CreatedAt, &ws.LowCredits)
	return ws, err
}

// errInboundTaken is a reused inbound token: 256 random bits do not
// collide, so a caller reused one.
var errInboundTaken = wagate.ErrInboundTokenTaken()

// CreateWorkspace stores ws with Granted = Credits and, when owner is not
// nil, its first owner token, in one transaction. ECONFLICT if the id is
// taken.
func (db *DB) CreateWorkspace(ctx context.Context, ws *wagate.Workspace, owner *wagate.Token) error {
	if err := wagate.CheckNewWorkspace(ws); err != nil {
		return err
	}
	if owner != nil && owner.WorkspaceID != ws.ID {
		return wagate.Errorf(wagate.EINVALID, "the owner token belongs to workspace %q, not %s", owner.WorkspaceID, ws.ID)
	}
	now := db.now()
	created, tokenCreated := orNow(ws.CreatedAt, now), orNow(ws.Webhook.CreatedAt, now)
	hash := wagate.HashToken(ws.Webhook.Token)
	err := db.update(ctx, "create workspace", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO workspaces (id, name, balance, granted, inbound_token, inbound_hash, inbound_enabled, inbound_created_at, created_at)
			VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
			ws.ID, ws.Name, ws.Credits, ws.Webhook.Token, hash[:], ws.Webhook.Enabled, tokenCreated, created)
		switch {
		case uniqueViolation(err, "workspaces_inbound_hash_key"):
			return errInboundTaken
		case err != nil:
			return err
		case tag.RowsAffected() == 0:
			return wagate.ErrWorkspaceTaken(ws.ID)
		}
		if owner != nil {
			return createToken(ctx, tx, owner, now)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ws.Granted, ws.CreatedAt, ws.Webhook.CreatedAt = ws.Credits, created, tokenCreated
	return nil
}

// FindWorkspace returns the workspace with its accounts, most recently
// connected first (one snapshot), or ENOTFOUND.
func (db *DB) FindWorkspace(ctx context.Context, id string) (*wagate.Workspace, error) {
	var ws *wagate.Workspace
	err := db.view(ctx, "find workspace", func(tx pgx.Tx) error {
		var err error
		if ws, err = findWorkspace(ctx, tx, id, false); err != nil {
			return err
		}
		ws.Accounts, err = listAccounts(ctx, tx, id)
		return err
	})
	return ws, err
}

// findWorkspace reads one workspace, locking its row for the rest of the
// transaction when forUpdate.
func findWorkspace(ctx context.Context, q querier, id string, forUpdate bool) (*wagate.Workspace, error) {
	sql := `SELECT ` + workspaceColumns + ` FROM workspaces WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	ws, err := scanWorkspace(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, wagate.ErrWorkspaceNotFound(id)
	}
	return ws, err
}

// ListWorkspaces returns every workspace in creation order.
func (db *DB) ListWorkspaces(ctx context.Context) ([]*wagate.Workspace, error) {
	var list []*wagate.Workspace
	err := db.read(ctx, "list workspaces", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+workspaceColumns+` FROM workspaces ORDER BY seq`)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Workspace, error) { return scanWorkspace(r) })
		return err
	})
	return list, err
}

// AddCredits applies an operator's grant by quota.Grant, the one rule of
// both backends: the balance never goes below 0 and Granted moves by what
// was really applied.
func (db *DB) AddCredits(ctx context.Context, id string, amount int64) (*wagate.Workspace, error) {
	return db.updateWorkspace(ctx, "add credits", id, func(tx pgx.Tx, ws *wagate.Workspace) error {
		var applied int64
		ws.Credits, applied = quota.Grant(ws.Credits, amount)
		ws.Granted += applied
		_, err := tx.Exec(ctx, `UPDATE workspaces SET balance = $2, granted = $3 WHERE id = $1`, id, ws.Credits, ws.Granted)
		return err
	})
}

// FindWorkspaceByInboundToken looks the workspace up by the SHA-256 of the
// token, then compares the stored token with the given one in constant
// time. Answers are cached for up to inboundCacheTTL (inboundcache.go).
func (db *DB) FindWorkspaceByInboundToken(ctx context.Context, token string) (*wagate.Workspace, error) {
	h := wagate.HashToken(token)
	if ws := db.inbound.get(h, token); ws != nil {
		return ws, nil
	}
	gen, at := db.inbound.generation(), db.inbound.clock()
	var ws *wagate.Workspace
	err := db.view(ctx, "find workspace by token", func(tx pgx.Tx) error {
		var err error
		ws, err = scanWorkspace(tx.QueryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE inbound_hash = $1`, h[:]))
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare([]byte(ws.Webhook.Token), []byte(token)) != 1) {
			return wagate.ErrWebhookNotFound()
		}
		if err != nil {
			return err
		}
		ws.Accounts, err = listAccounts(ctx, tx, ws.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	db.inbound.put(h, gen, at, ws)
	return ws, nil
}

// SetLowCredits sets the workspace's credits.low threshold (0: off).
func (db *DB) SetLowCredits(ctx context.Context, id string, threshold int64) (*wagate.Workspace, error) {
	if err := wagate.CheckLowCredits(threshold); err != nil {
		return nil, err
	}
	return db.updateWorkspace(ctx, "set low credits", id, func(tx pgx.Tx, ws *wagate.Workspace) error {
		ws.LowCredits = threshold
		_, err := tx.Exec(ctx, `UPDATE workspaces SET low_credits = $2 WHERE id = $1`, id, threshold)
		return err
	})
}

// SetWebhookEnabled switches the inbound URL on or off; the token stays.
func (db *DB) SetWebhookEnabled(ctx context.Context, id string, enabled bool) (*wagate.Workspace, error) {
	return db.updateWorkspace(ctx, "set webhook enabled", id, func(tx pgx.Tx, ws *wagate.Workspace) error {
		ws.Webhook.Enabled = enabled
		_, err := tx.Exec(ctx, `UPDATE workspaces SET inbound_enabled = $2 WHERE id = $1`, id, enabled)
		return err
	})
}

// RegenerateWebhook replaces the inbound token and its hash in one
// statement: the old token finds nothing from the commit on.
func (db *DB) RegenerateWebhook(ctx context.Context, id, token string, at time.Time) (*wagate.Workspace, error) {
	if err := wagate.CheckNewInboundToken(token); err != nil {
		return nil, err
	}
	at = orNow(at, db.now())
	h := wagate.HashToken(token)
	return db.updateWorkspace(ctx, "regenerate webhook", id, func(tx pgx.Tx, ws *wagate.Workspace) error {
		ws.Webhook.Token, ws.Webhook.CreatedAt = token, at
		_, err := tx.Exec(ctx, `UPDATE workspaces SET inbound_token = $2, inbound_hash = $3, inbound_created_at = $4 WHERE id = $1`, id, token, h[:], at)
		if uniqueViolation(err, "workspaces_inbound_hash_key") {
			return errInboundTaken
		}
		return err
	})
}

// updateWorkspace locks the workspace's row, lets change update it in the
// same transaction and returns the workspace as changed.
func (db *DB) updateWorkspace(ctx context.Context, op, id string, change func(tx pgx.Tx, ws *wagate.Workspace) error) (*wagate.Workspace, error) {
	var out *wagate.Workspace
	err := db.update(ctx, op, func(tx pgx.Tx) error {
		ws, err := findWorkspace(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if err := change(tx, ws); err != nil {
			return err
		}
		ws.Accounts, err = listAccounts(ctx, tx, id)
		out = ws
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
