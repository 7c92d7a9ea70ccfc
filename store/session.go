package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Console sessions (SPEC §6).
//
//	sessions        sha256(session id) -> sessionRecord (JSON)
//	token_sessions  sha256(token) ++ created (8-byte big-endian unix nanos) ++
//	                sha256(session id) -> "" : a token's sessions, oldest first
//	session_expiry  expires (8-byte big-endian unix nanos) ++ sha256(session id)
//	                -> "" : for the sweep of expired sessions
//
// The session id itself is never stored: a copy of the file gives no
// usable cookie away.

// sessionSweepLimit bounds how many expired sessions one sign-in deletes,
// so a sign-in's commit stays small after a long quiet spell; the rest go
// at the next sign-ins.
const sessionSweepLimit = 100

type sessionRecord struct {
	TokenHash   []byte      `json:"token_hash"`
	WorkspaceID string      `json:"ws,omitempty"`
	Role        wagate.Role `json:"role"`
	CSRF        string      `json:"csrf"`
	CreatedAt   time.Time   `json:"created_at"`
	ExpiresAt   time.Time   `json:"expires_at"`
}

// CreateSession stores s under key, ending the token's oldest sessions
// beyond wagate.SessionsPerToken and sweeping expired ones, in one commit.
func (db *DB) CreateSession(ctx context.Context, key [32]byte, s *wagate.Session) error {
	if err := wagate.CheckSessionExpiry(s); err != nil {
		return err
	}
	rec := &sessionRecord{
		TokenHash:   bytes.Clone(s.TokenHash[:]),
		WorkspaceID: s.WorkspaceID,
		Role:        s.Role,
		CSRF:        s.CSRF,
		CreatedAt:   orNow(s.CreatedAt, db.now()),
		ExpiresAt:   s.ExpiresAt,
	}
	return db.update(ctx, "create session", func(tx *bolt.Tx) error {
		if bucket(tx, bucketTokens).Get(s.TokenHash[:]) == nil {
			return wagate.ErrTokenNotFound()
		}
		if err := sweepSessions(tx, rec.CreatedAt); err != nil {
			return err
		}
		// The token's sessions, oldest first: keep the newest
		// SessionsPerToken-1, so with this one there are SessionsPerToken.
		var mine [][]byte
		prefix := s.TokenHash[:]
		c := bucket(tx, bucketTokenSess).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			mine = append(mine, copyBytes(k[len(k)-32:]))
		}
		for i := 0; i+wagate.SessionsPerToken-1 < len(mine); i++ {
			if err := deleteSession(tx, mine[i]); err != nil {
				return err
			}
		}
		if err := put(bucket(tx, bucketSessions), key[:], rec); err != nil {
			return err
		}
		if err := bucket(tx, bucketTokenSess).Put(tokenSessionKey(rec, key[:]), nil); err != nil {
			return err
		}
		return bucket(tx, bucketSessExpiry).Put(expiryKey(rec.ExpiresAt, key[:]), nil)
	})
}

// FindSession returns the live session under key whose token still exists.
func (db *DB) FindSession(ctx context.Context, key [32]byte, now time.Time) (*wagate.Session, error) {
	var s *wagate.Session
	err := db.view(ctx, "find session", func(tx *bolt.Tx) error {
		var rec sessionRecord
		ok, err := get(bucket(tx, bucketSessions), key[:], &rec)
		if err != nil {
			return err
		}
		if !ok || !now.Before(rec.ExpiresAt) || len(rec.TokenHash) != 32 || bucket(tx, bucketTokens).Get(rec.TokenHash) == nil {
			return wagate.ErrSessionNotFound()
		}
		s = &wagate.Session{
			TokenHash:   [32]byte(rec.TokenHash),
			WorkspaceID: rec.WorkspaceID,
			Role:        rec.Role,
			CSRF:        rec.CSRF,
			CreatedAt:   rec.CreatedAt,
			ExpiresAt:   rec.ExpiresAt,
		}
		return nil
	})
	return s, err
}

// DeleteSession ends the session under key, if there is one.
func (db *DB) DeleteSession(ctx context.Context, key [32]byte) error {
	return db.update(ctx, "delete session", func(tx *bolt.Tx) error {
		return deleteSession(tx, key[:])
	})
}

// deleteSession deletes the session under key and its index entries.
func deleteSession(tx *bolt.Tx, key []byte) error {
	b := bucket(tx, bucketSessions)
	var rec sessionRecord
	ok, err := get(b, key, &rec)
	if !ok || err != nil {
		return err
	}
	if err := bucket(tx, bucketTokenSess).Delete(tokenSessionKey(&rec, key)); err != nil {
		return err
	}
	if err := bucket(tx, bucketSessExpiry).Delete(expiryKey(rec.ExpiresAt, key)); err != nil {
		return err
	}
	return b.Delete(key)
}

// deleteTokenSessions ends every session of the token with that hash: a
// revoked token's browsers are signed out in the revoking commit.
func deleteTokenSessions(tx *bolt.Tx, tokenHash []byte) error {
	var keys [][]byte
	c := bucket(tx, bucketTokenSess).Cursor()
	for k, _ := c.Seek(tokenHash); k != nil && bytes.HasPrefix(k, tokenHash); k, _ = c.Next() {
		keys = append(keys, copyBytes(k[len(k)-32:]))
	}
	for _, k := range keys {
		if err := deleteSession(tx, k); err != nil {
			return err
		}
	}
	return nil
}

// sweepSessions deletes up to sessionSweepLimit sessions expired at now,
// soonest expiry first.
func sweepSessions(tx *bolt.Tx, now time.Time) error {
	var keys [][]byte
	c := bucket(tx, bucketSessExpiry).Cursor()
	for k, _ := c.First(); k != nil && len(keys) < sessionSweepLimit; k, _ = c.Next() {
		if len(k) != 8+32 || int64(binary.BigEndian.Uint64(k)) > now.UnixNano() {
			break
		}
		keys = append(keys, copyBytes(k[8:]))
	}
	for _, k := range keys {
		if err := deleteSession(tx, k); err != nil {
			return err
		}
	}
	return nil
}

// tokenSessionKey orders a token's sessions by creation, oldest first.
func tokenSessionKey(rec *sessionRecord, key []byte) []byte {
	k := make([]byte, 0, 32+8+32)
	k = append(k, rec.TokenHash...)
	k = binary.BigEndian.AppendUint64(k, uint64(rec.CreatedAt.UnixNano()))
	return append(k, key...)
}

// expiryKey orders sessions by expiry.
func expiryKey(expires time.Time, key []byte) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+32), uint64(expires.UnixNano()))
	return append(k, key...)
}
