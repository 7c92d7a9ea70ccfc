package store

import (
	"context"
	"crypto/subtle"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

// CreateWorkspace stores ws with Granted = Credits, the index entry of its
// inbound token and, when owner is not nil, its first owner token, in one
// commit: a workspace never exists without the token that administers it.
// Zero CreatedAt times are set to now. ECONFLICT if the id is taken.
func (db *DB) CreateWorkspace(ctx context.Context, ws *wagate.Workspace, owner *wagate.Token) error {
	if err := wagate.CheckNewWorkspace(ws); err != nil {
		return err
	}
	now := db.now()
	rec := &workspaceRecord{
		ID:           ws.ID,
		Name:         ws.Name,
		Balance:      ws.Credits,
		Granted:      ws.Credits,
		Token:        ws.Webhook.Token,
		Enabled:      ws.Webhook.Enabled,
		TokenCreated: orNow(ws.Webhook.CreatedAt, now),
		CreatedAt:    orNow(ws.CreatedAt, now),
		LowCredits:   max(ws.LowCredits, 0),
	}
	err := db.update(ctx, "create workspace", func(tx *bolt.Tx) error {
		b := bucket(tx, bucketWorkspaces)
		if b.Get([]byte(rec.ID)) != nil {
			return wagate.ErrWorkspaceTaken(rec.ID)
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.Seq = seq
		if err := putWorkspace(tx, rec); err != nil {
			return err
		}
		if err := indexInboundToken(tx, rec); err != nil {
			return err
		}
		if owner != nil {
			if owner.WorkspaceID != rec.ID {
				return wagate.Errorf(wagate.EINVALID, "the owner token belongs to workspace %q, not %s", owner.WorkspaceID, rec.ID)
			}
			if err := createToken(tx, owner, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	ws.Granted = rec.Granted
	ws.CreatedAt = rec.CreatedAt
	ws.Webhook.CreatedAt = rec.TokenCreated
	return nil
}

// FindWorkspace returns the workspace with its accounts, most recently
// connected first, or ENOTFOUND.
func (db *DB) FindWorkspace(ctx context.Context, id string) (*wagate.Workspace, error) {
	var ws *wagate.Workspace
	err := db.view(ctx, "find workspace", func(tx *bolt.Tx) error {
		rec, err := mustWorkspace(tx, id)
		if err != nil {
			return err
		}
		ws = rec.domain()
		ws.Accounts, err = listAccounts(tx, id)
		return err
	})
	return ws, err
}

// ListWorkspaces returns every workspace, oldest first, without accounts.
// Workspaces are few (one per tenant), so reading them all and sorting by
// creation order is cheaper than keeping an order index.
func (db *DB) ListWorkspaces(ctx context.Context) ([]*wagate.Workspace, error) {
	var recs []*workspaceRecord
	err := db.view(ctx, "list workspaces", func(tx *bolt.Tx) error {
		return bucket(tx, bucketWorkspaces).ForEach(func(k, v []byte) error {
			var rec workspaceRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			recs = append(recs, &rec)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	list := make([]*wagate.Workspace, len(recs))
	for i, r := range recs {
		list[i] = r.domain()
	}
	return list, nil
}

// AddCredits applies an operator's grant (quota.Grant): the balance never
// goes below 0 and Granted moves by what was really applied, so the credit
// audit still adds up after a large negative grant.
func (db *DB) AddCredits(ctx context.Context, id string, amount int64) (*wagate.Workspace, error) {
	return db.updateWorkspace(ctx, "add credits", id, func(tx *bolt.Tx, rec *workspaceRecord) error {
		var applied int64
		rec.Balance, applied = quota.Grant(rec.Balance, amount)
		rec.Granted += applied
		return nil
	})
}

// FindWorkspaceByInboundToken looks the token up by its SHA-256 hash, then
// compares the stored token with the given one in constant time. The lookup
// walks the B-tree by the hash, which an attacker cannot steer byte by byte,
// and the final comparison leaks nothing about the token either; it also
// rejects an index entry left pointing at a workspace whose token changed.
//
// The answer is cached in memory until the next admin write (see
// inboundcache.go), looked up by the same hash and compared the same way, so
// most requests open no transaction. Its Credits may be behind the charges
// and refunds since; Accept charges from the stored balance.
func (db *DB) FindWorkspaceByInboundToken(ctx context.Context, token string) (*wagate.Workspace, error) {
	if err := begin(ctx, "find workspace by token"); err != nil {
		return nil, err
	}
	h := wagate.HashToken(token)
	if ws := db.inbound.get(h); ws != nil {
		if subtle.ConstantTimeCompare([]byte(ws.Webhook.Token), []byte(token)) != 1 {
			return nil, wagate.ErrWebhookNotFound()
		}
		return ws, nil
	}
	gen := db.inbound.generation() // before the transaction: see inboundcache.go
	var ws *wagate.Workspace
	err := db.view(ctx, "find workspace by token", func(tx *bolt.Tx) error {
		id := bucket(tx, bucketInbound).Get(h[:])
		if id == nil {
			return wagate.ErrWebhookNotFound()
		}
		rec, err := getWorkspace(tx, string(id))
		if err != nil {
			return err
		}
		if rec == nil || subtle.ConstantTimeCompare([]byte(rec.Token), []byte(token)) != 1 {
			return wagate.ErrWebhookNotFound()
		}
		ws = rec.domain()
		ws.Accounts, err = listAccounts(tx, rec.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	db.inbound.put(h, gen, ws)
	return ws, nil
}

// SetWebhookEnabled switches the inbound URL on or off; the token stays, so
// a re-enabled URL is the same URL.
func (db *DB) SetWebhookEnabled(ctx context.Context, id string, enabled bool) (*wagate.Workspace, error) {
	return db.updateWorkspace(ctx, "set webhook enabled", id, func(tx *bolt.Tx, rec *workspaceRecord) error {
		rec.Enabled = enabled
		return nil
	})
}

// RegenerateWebhook replaces the inbound token. The old token's index entry
// is deleted in the same commit, so the old URL answers 404 from the moment
// the new one is shown.
func (db *DB) RegenerateWebhook(ctx context.Context, id, token string, at time.Time) (*wagate.Workspace, error) {
	if err := wagate.CheckNewInboundToken(token); err != nil {
		return nil, err
	}
	at = orNow(at, db.now())
	return db.updateWorkspace(ctx, "regenerate webhook", id, func(tx *bolt.Tx, rec *workspaceRecord) error {
		old := wagate.HashToken(rec.Token)
		if err := bucket(tx, bucketInbound).Delete(old[:]); err != nil {
			return err
		}
		rec.Token = token
		rec.TokenCreated = at
		return indexInboundToken(tx, rec)
	})
}

// SetLowCredits sets the credits.low threshold; see
// wagate.WorkspaceService.
func (db *DB) SetLowCredits(ctx context.Context, id string, threshold int64) (*wagate.Workspace, error) {
	if err := wagate.CheckLowCredits(threshold); err != nil {
		return nil, err
	}
	return db.updateWorkspace(ctx, "set low credits", id, func(_ *bolt.Tx, rec *workspaceRecord) error {
		rec.LowCredits = threshold
		return nil
	})
}

// updateWorkspace reads, changes and writes one workspace record in a write
// transaction and returns the result with its accounts.
func (db *DB) updateWorkspace(ctx context.Context, op, id string, change func(tx *bolt.Tx, rec *workspaceRecord) error) (*wagate.Workspace, error) {
	var ws *wagate.Workspace
	err := db.update(ctx, op, func(tx *bolt.Tx) error {
		rec, err := mustWorkspace(tx, id)
		if err != nil {
			return err
		}
		if err := change(tx, rec); err != nil {
			return err
		}
		if err := putWorkspace(tx, rec); err != nil {
			return err
		}
		ws = rec.domain()
		ws.Accounts, err = listAccounts(tx, id)
		return err
	})
	return ws, err
}

// getWorkspace returns the record, or nil when there is none.
func getWorkspace(tx *bolt.Tx, id string) (*workspaceRecord, error) {
	var rec workspaceRecord
	ok, err := get(bucket(tx, bucketWorkspaces), []byte(id), &rec)
	if !ok || err != nil {
		return nil, err
	}
	return &rec, nil
}

// mustWorkspace is getWorkspace with ENOTFOUND for a missing workspace.
func mustWorkspace(tx *bolt.Tx, id string) (*workspaceRecord, error) {
	rec, err := getWorkspace(tx, id)
	if err == nil && rec == nil {
		err = wagate.ErrWorkspaceNotFound(id)
	}
	return rec, err
}

func putWorkspace(tx *bolt.Tx, rec *workspaceRecord) error {
	return put(bucket(tx, bucketWorkspaces), []byte(rec.ID), rec)
}

// indexInboundToken points the hash of the workspace's inbound token at it.
func indexInboundToken(tx *bolt.Tx, rec *workspaceRecord) error {
	h := wagate.HashToken(rec.Token)
	b := bucket(tx, bucketInbound)
	if other := b.Get(h[:]); other != nil && string(other) != rec.ID {
		// 256 random bits do not collide; a caller reused a token.
		return wagate.ErrInboundTokenTaken()
	}
	return b.Put(h[:], []byte(rec.ID))
}
