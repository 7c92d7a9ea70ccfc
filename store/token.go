package store

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Admin tokens.
//
//	tokens            sha256(token) -> tokenRecord (JSON)
//	workspace_tokens  ws id \x00 token id -> sha256(token): a workspace's
//	                  tokens, for lists, revocations and the limit count
//
// The operator token belongs to no workspace and is not in the index.
// Stores from before the index get it built at Open (indexStoredTokens).

// CreateToken stores an admin token by its hash. A hash that is already
// stored is a successful no-op: the operator token is registered again from
// its file at every start, and 256 random bits never collide by chance.
func (db *DB) CreateToken(ctx context.Context, t *wagate.Token) error {
	now := db.now()
	return db.update(ctx, "create token", func(tx *bolt.Tx) error {
		return createToken(tx, t, now)
	})
}

// CreateWorkspaceToken stores a new owner or support token unless the
// workspace already has max; counting and storing in one commit.
func (db *DB) CreateWorkspaceToken(ctx context.Context, t *wagate.Token, max int) error {
	if t.Role != wagate.RoleOwner && t.Role != wagate.RoleSupport {
		return wagate.ErrTokenRole(t.Role)
	}
	now := db.now()
	return db.update(ctx, "create workspace token", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, t.WorkspaceID); err != nil {
			return err
		}
		if max > 0 {
			n := 0
			if err := forWorkspaceTokens(tx, t.WorkspaceID, func([]byte) error { n++; return nil }); err != nil {
				return err
			}
			if n >= max {
				return wagate.TokenLimitError(n)
			}
		}
		return createToken(tx, t, now)
	})
}

// createToken stores t (its ID and zero CreatedAt filled in) and indexes a
// workspace token. An operator token revokes any other operator token.
func createToken(tx *bolt.Tx, t *wagate.Token, now time.Time) error {
	switch t.Role {
	case wagate.RoleOperator:
		if t.WorkspaceID != "" {
			return wagate.ErrOperatorTokenInWorkspace()
		}
	case wagate.RoleOwner, wagate.RoleSupport:
		if _, err := mustWorkspace(tx, t.WorkspaceID); err != nil {
			return err
		}
	default:
		return wagate.ErrTokenRole(t.Role)
	}
	b := bucket(tx, bucketTokens)
	if t.Role == wagate.RoleOperator {
		if err := deleteOtherOperatorTokens(tx, t.Hash); err != nil {
			return err
		}
	}
	t.ID = wagate.TokenID(t.Hash)
	if b.Get(t.Hash[:]) != nil {
		return nil
	}
	t.CreatedAt = orNow(t.CreatedAt, now)
	rec := &tokenRecord{WorkspaceID: t.WorkspaceID, Role: t.Role, CreatedAt: t.CreatedAt, ID: t.ID, Name: t.Name, Prefix: t.Prefix, LastUsedAt: t.LastUsedAt}
	if err := put(b, t.Hash[:], rec); err != nil {
		return err
	}
	if t.WorkspaceID == "" {
		return nil
	}
	return bucket(tx, bucketWsTokens).Put(join(t.WorkspaceID, t.ID), t.Hash[:])
}

// deleteOtherOperatorTokens keeps one operator token per instance: a new
// one (the operator deleted operator.token to rotate a leaked token)
// revokes the old, and its console sessions, in the same commit.
func deleteOtherOperatorTokens(tx *bolt.Tx, keep [32]byte) error {
	b := bucket(tx, bucketTokens)
	var stale [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var rec tokenRecord
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		if rec.Role == wagate.RoleOperator && !bytes.Equal(k, keep[:]) {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return err
		}
		if err := deleteTokenSessions(tx, k); err != nil {
			return err
		}
	}
	return nil
}

// FindToken returns the admin token with that hash, or ENOTFOUND.
func (db *DB) FindToken(ctx context.Context, hash [32]byte) (*wagate.Token, error) {
	var t *wagate.Token
	err := db.view(ctx, "find token", func(tx *bolt.Tx) error {
		var err error
		t, err = getToken(tx, hash[:])
		if err == nil && t == nil {
			err = wagate.ErrTokenNotFound()
		}
		return err
	})
	return t, err
}

// getToken reads the token stored under hash; nil when there is none.
func getToken(tx *bolt.Tx, hash []byte) (*wagate.Token, error) {
	var rec tokenRecord
	ok, err := get(bucket(tx, bucketTokens), hash, &rec)
	if !ok || err != nil {
		return nil, err
	}
	if len(hash) != 32 {
		return nil, fmt.Errorf("token key is %d bytes, not 32", len(hash))
	}
	t := &wagate.Token{
		ID:          rec.ID,
		WorkspaceID: rec.WorkspaceID,
		Role:        rec.Role,
		Name:        rec.Name,
		Prefix:      rec.Prefix,
		CreatedAt:   rec.CreatedAt,
		LastUsedAt:  rec.LastUsedAt,
	}
	copy(t.Hash[:], hash)
	if t.ID == "" {
		t.ID = wagate.TokenID(t.Hash) // stored before tokens had ids
	}
	return t, nil
}

// ListTokens returns the workspace's tokens, oldest first (ties by id).
func (db *DB) ListTokens(ctx context.Context, workspaceID string) ([]*wagate.Token, error) {
	var list []*wagate.Token
	err := db.view(ctx, "list tokens", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, workspaceID); err != nil {
			return err
		}
		return forWorkspaceTokens(tx, workspaceID, func(hash []byte) error {
			t, err := getToken(tx, hash)
			if err != nil {
				return err
			}
			if t == nil {
				return fmt.Errorf("workspace %s: the token index points at a missing token", workspaceID)
			}
			list = append(list, t)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].CreatedAt.Equal(list[j].CreatedAt) {
			return list[i].CreatedAt.Before(list[j].CreatedAt)
		}
		return list[i].ID < list[j].ID
	})
	return list, nil
}

// forWorkspaceTokens calls fn with the hash of each token of the workspace.
// The hash is valid only during the call.
func forWorkspaceTokens(tx *bolt.Tx, workspaceID string, fn func(hash []byte) error) error {
	prefix := join(workspaceID, "")
	c := bucket(tx, bucketWsTokens).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// RevokeToken deletes a workspace token, its index entry and its console
// sessions in one commit; the last owner token stays.
func (db *DB) RevokeToken(ctx context.Context, workspaceID, id string) error {
	return db.update(ctx, "revoke token", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, workspaceID); err != nil {
			return err
		}
		idx := bucket(tx, bucketWsTokens)
		key := join(workspaceID, id)
		hash := idx.Get(key)
		if hash == nil {
			return wagate.ErrTokenNotInWorkspace(id)
		}
		hash = copyBytes(hash)
		t, err := getToken(tx, hash)
		if err != nil {
			return err
		}
		if t != nil && t.Role == wagate.RoleOwner {
			owners := 0
			err := forWorkspaceTokens(tx, workspaceID, func(h []byte) error {
				o, err := getToken(tx, h)
				if err == nil && o != nil && o.Role == wagate.RoleOwner {
					owners++
				}
				return err
			})
			if err != nil {
				return err
			}
			if owners <= 1 {
				return wagate.LastOwnerTokenError(id)
			}
		}
		if err := idx.Delete(key); err != nil {
			return err
		}
		if err := bucket(tx, bucketTokens).Delete(hash); err != nil {
			return err
		}
		return deleteTokenSessions(tx, hash)
	})
}

// RecordTokenUse moves the token's LastUsedAt to at through the group
// commit, so the once-a-minute writes of busy tokens share fsyncs with the
// accept path instead of adding their own. It writes nothing when the
// token is gone or a racing request of the same minute already recorded
// its use.
func (db *DB) RecordTokenUse(ctx context.Context, hash [32]byte, at time.Time) error {
	return db.batch(ctx, "record token use", func(tx *bolt.Tx) (outcome, err error) {
		b := bucket(tx, bucketTokens)
		var rec tokenRecord
		ok, err := get(b, hash[:], &rec)
		if !ok || err != nil {
			return nil, err
		}
		if at.Sub(rec.LastUsedAt) < wagate.TokenUseResolution {
			return nil, nil
		}
		rec.LastUsedAt = at
		return nil, put(b, hash[:], &rec)
	})
}

// indexStoredTokens builds the workspace_tokens index of a store written
// before it existed; Open runs it in the commit that creates the bucket.
func indexStoredTokens(tx *bolt.Tx) error {
	idx := bucket(tx, bucketWsTokens)
	return bucket(tx, bucketTokens).ForEach(func(k, v []byte) error {
		var rec tokenRecord
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		if rec.WorkspaceID == "" || len(k) != 32 {
			return nil
		}
		id := rec.ID
		if id == "" {
			id = wagate.TokenID([32]byte(k))
		}
		return idx.Put(join(rec.WorkspaceID, id), copyBytes(k))
	})
}

// tokenBuckets are the buckets of token.go and session.go. A store written
// by a wagate from before them lacks them until its next Open, which
// creates them and indexes its tokens; Audit (which opens read-only) does
// not count them as missing.
var tokenBuckets = [][]byte{bucketWsTokens, bucketSessions, bucketTokenSess, bucketSessExpiry}

// addedByOpen reports whether name is one of tokenBuckets or
// endpointBuckets.
func addedByOpen(name []byte) bool {
	for _, b := range append(tokenBuckets[:len(tokenBuckets):len(tokenBuckets)], endpointBuckets...) {
		if bytes.Equal(b, name) {
			return true
		}
	}
	return false
}

// auditTokens checks the token index and the session indexes for Audit:
// every workspace token is indexed under its workspace and id and every
// index entry points at such a token; every session has its two index
// entries and every index entry its session.
func auditTokens(tx *bolt.Tx, report func(format string, args ...any)) error {
	for _, name := range tokenBuckets {
		if tx.Bucket(name) == nil {
			return nil // a store of an older wagate, checked before its first Open by this one
		}
	}
	tokens, idx := bucket(tx, bucketTokens), bucket(tx, bucketWsTokens)
	err := tokens.ForEach(func(k, v []byte) error {
		var rec tokenRecord
		if err := decode(k, v, &rec); err != nil {
			report("token: %v", err)
			return nil
		}
		if rec.WorkspaceID == "" || len(k) != 32 {
			return nil
		}
		if h := idx.Get(join(rec.WorkspaceID, wagate.TokenID([32]byte(k)))); !bytes.Equal(h, k) {
			report("token %s of workspace %s is not in the token index", wagate.TokenID([32]byte(k)), rec.WorkspaceID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = idx.ForEach(func(k, v []byte) error {
		if tokens.Get(v) == nil {
			report("token index entry %q points at a missing token", k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sessions := bucket(tx, bucketSessions)
	err = sessions.ForEach(func(k, v []byte) error {
		var rec sessionRecord
		if err := decode(k, v, &rec); err != nil {
			report("session: %v", err)
			return nil
		}
		if bucket(tx, bucketTokenSess).Get(tokenSessionKey(&rec, k)) == nil || bucket(tx, bucketSessExpiry).Get(expiryKey(rec.ExpiresAt, k)) == nil {
			report("a console session is missing from the session indexes")
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketTokenSess, bucketSessExpiry} {
		err := bucket(tx, name).ForEach(func(k, _ []byte) error {
			if len(k) < 32 || sessions.Get(k[len(k)-32:]) == nil {
				report("%s: an entry points at a missing console session", name)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
