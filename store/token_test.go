package store

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// workspaceToken stores a token of the fixture's workspace through
// CreateWorkspaceToken with limit max and returns it.
func (f *fixture) workspaceToken(secret string, role wagate.Role, name string, max int) (*wagate.Token, error) {
	t := &wagate.Token{Hash: wagate.HashToken(secret), WorkspaceID: f.ws.ID, Role: role, Name: name, Prefix: secret[:wagate.TokenPrefixLen], CreatedAt: f.clock.Now()}
	return t, f.db.CreateWorkspaceToken(f.ctx, t, max)
}

func TestListAndRevokeTokens(t *testing.T) {
	f := newFixture(t, 0)
	f.clock.Advance(time.Minute)
	support, err := f.workspaceToken("support-secret", wagate.RoleSupport, "help desk", 0)
	mustNoErr(t, err)
	if support.ID != wagate.TokenID(support.Hash) {
		t.Fatalf("created token id = %q, want TokenID of its hash", support.ID)
	}
	other := f.createWorkspace(0) // another workspace's owner: never listed here

	list, err := f.db.ListTokens(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if len(list) != 2 {
		t.Fatalf("ListTokens = %d tokens, want the owner and the support token", len(list))
	}
	if list[0].Role != wagate.RoleOwner || list[1].ID != support.ID || list[1].Name != "help desk" || list[1].Prefix != "suppor" || list[1].Role != wagate.RoleSupport {
		t.Errorf("ListTokens = [%+v %+v]; want the owner first, then the support token with its name and prefix", list[0], list[1])
	}
	for _, tok := range list {
		if tok.WorkspaceID != f.ws.ID {
			t.Errorf("token %s of workspace %s listed in %s", tok.ID, tok.WorkspaceID, f.ws.ID)
		}
	}

	// The only owner token stays.
	err = f.db.RevokeToken(f.ctx, f.ws.ID, list[0].ID)
	wantCode(t, err, wagate.ECONFLICT)
	if !errors.Is(err, wagate.ErrLastOwnerToken) || !strings.Contains(wagate.ErrorMessage(err), "create another owner token first") {
		t.Errorf("revoking the last owner: %v; want ErrLastOwnerToken and a message saying to create another owner token first", err)
	}
	wantCode(t, f.db.RevokeToken(f.ctx, f.ws.ID, "tok_0000000000000000"), wagate.ENOTFOUND)
	// A token id of another workspace is unknown here.
	otherList, err := f.db.ListTokens(f.ctx, other.ID)
	mustNoErr(t, err)
	wantCode(t, f.db.RevokeToken(f.ctx, f.ws.ID, otherList[0].ID), wagate.ENOTFOUND)

	// With a second owner, the first can go.
	second, err := f.workspaceToken("second-owner", wagate.RoleOwner, "", 0)
	mustNoErr(t, err)
	mustNoErr(t, f.db.RevokeToken(f.ctx, f.ws.ID, list[0].ID))
	_, err = f.db.FindToken(f.ctx, list[0].Hash)
	wantCode(t, err, wagate.ENOTFOUND)
	wantCode(t, f.db.RevokeToken(f.ctx, f.ws.ID, second.ID), wagate.ECONFLICT)
	mustNoErr(t, f.db.RevokeToken(f.ctx, f.ws.ID, support.ID))
	list, err = f.db.ListTokens(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if len(list) != 1 || list[0].ID != second.ID {
		t.Errorf("after revoking: %d tokens; want only the second owner", len(list))
	}
	_, err = f.db.ListTokens(f.ctx, "ws_missing")
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestTokenLimitIsCountedInTheCommit(t *testing.T) {
	f := newFixture(t, 0) // the workspace's owner token is the first
	for i := 1; i < 3; i++ {
		_, err := f.workspaceToken(fmt.Sprintf("token-%d", i), wagate.RoleSupport, "", 3)
		mustNoErr(t, err)
	}
	_, err := f.workspaceToken("token-3", wagate.RoleSupport, "", 3)
	wantCode(t, err, wagate.ECONFLICT)
	if !errors.Is(err, wagate.ErrTokenLimit) {
		t.Errorf("the 4th token past a limit of 3: %v; want ErrTokenLimit", err)
	}
	if _, err := f.db.FindToken(f.ctx, wagate.HashToken("token-3")); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("the refused token was stored: %v", err)
	}
	_, err = f.workspaceToken("token-4", wagate.RoleOperator, "", 0)
	wantCode(t, err, wagate.EINVALID)
}

func TestOldTokenRecordsGetAStableID(t *testing.T) {
	f := newFixture(t, 0)
	// A support token as a store from before token ids wrote it, and no
	// token index.
	old := wagate.HashToken("old-support-token")
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	err := f.db.bolt.Update(func(tx *bolt.Tx) error {
		v, err := json.Marshal(map[string]any{"ws": f.ws.ID, "role": "support", "created_at": created})
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketTokens).Put(old[:], v); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketWsTokens)
	})
	mustNoErr(t, err)
	mustNoErr(t, f.db.Close())
	f.db = openTest(t, f.path, f.clock)

	list, err := f.db.ListTokens(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if len(list) != 2 {
		t.Fatalf("ListTokens after the upgrade = %d tokens, want the old one and the owner", len(list))
	}
	got := list[0]
	if got.ID != wagate.TokenID(old) || got.Name != "" || got.Prefix != "" || !got.CreatedAt.Equal(created) || got.Role != wagate.RoleSupport {
		t.Errorf("old token = %+v; want id TokenID(hash), no name, no prefix, its created_at", got)
	}
	found, err := f.db.FindToken(f.ctx, old)
	mustNoErr(t, err)
	if found.ID != got.ID {
		t.Errorf("FindToken id %q, ListTokens id %q: the id is not stable", found.ID, got.ID)
	}
	mustNoErr(t, f.db.RevokeToken(f.ctx, f.ws.ID, got.ID))
	if _, err := f.db.FindToken(f.ctx, old); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("an old token revoked by its derived id still exists: %v", err)
	}
}

func TestRecordTokenUse(t *testing.T) {
	f := newFixture(t, 0)
	h := wagate.HashToken(f.owner)
	at := f.clock.Now()
	mustNoErr(t, f.db.RecordTokenUse(f.ctx, h, at))
	mustNoErr(t, f.db.RecordTokenUse(f.ctx, h, at.Add(wagate.TokenUseResolution-time.Second)))
	tok, err := f.db.FindToken(f.ctx, h)
	mustNoErr(t, err)
	if !tok.LastUsedAt.Equal(at) {
		t.Errorf("LastUsedAt = %v after a use within the resolution; want the first use %v", tok.LastUsedAt, at)
	}
	later := at.Add(wagate.TokenUseResolution)
	mustNoErr(t, f.db.RecordTokenUse(f.ctx, h, later))
	tok, err = f.db.FindToken(f.ctx, h)
	mustNoErr(t, err)
	if !tok.LastUsedAt.Equal(later) {
		t.Errorf("LastUsedAt = %v, want %v", tok.LastUsedAt, later)
	}
	// A token revoked meanwhile is not brought back.
	mustNoErr(t, f.db.RecordTokenUse(f.ctx, wagate.HashToken("gone"), later))
	if _, err := f.db.FindToken(f.ctx, wagate.HashToken("gone")); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("recording the use of an unknown token made one: %v", err)
	}
}

// newSession stores a session of the token with that hash, created at the
// fixture's clock, and returns its key.
func (f *fixture) newSession(n int, tokenHash [32]byte, ttl time.Duration) [32]byte {
	f.t.Helper()
	key := sha256.Sum256(fmt.Appendf(nil, "session-%x-%d", tokenHash[:4], n))
	now := f.clock.Now()
	mustNoErr(f.t, f.db.CreateSession(f.ctx, key, &wagate.Session{TokenHash: tokenHash, WorkspaceID: f.ws.ID, Role: wagate.RoleOwner, CSRF: "csrf", CreatedAt: now, ExpiresAt: now.Add(ttl)}))
	return key
}

func (f *fixture) sessionLive(key [32]byte) bool {
	f.t.Helper()
	_, err := f.db.FindSession(f.ctx, key, f.clock.Now())
	if err != nil && wagate.ErrorCode(err) != wagate.ENOTFOUND {
		f.t.Fatalf("FindSession: %v", err)
	}
	return err == nil
}

func TestSessionsPerTokenDropOnlyThatTokensOldest(t *testing.T) {
	f := newFixture(t, 0)
	a := wagate.HashToken(f.owner)
	b, err := f.workspaceToken("support-token", wagate.RoleSupport, "", 0)
	mustNoErr(t, err)
	other := f.newSession(0, b.Hash, time.Hour)
	var mine [][32]byte
	for i := range wagate.SessionsPerToken + 1 {
		f.clock.Advance(time.Second)
		mine = append(mine, f.newSession(i, a, time.Hour))
	}
	if f.sessionLive(mine[0]) {
		t.Error("the token's oldest session survived its 21st sign-in")
	}
	for i, k := range mine[1:] {
		if !f.sessionLive(k) {
			t.Errorf("session %d of the token was dropped; only the oldest should be", i+1)
		}
	}
	if !f.sessionLive(other) {
		t.Error("another token's session was dropped by this token's sign-ins")
	}
}

func TestSessionsSurviveReopenAndEndWithTheirToken(t *testing.T) {
	f := newFixture(t, 0)
	support, err := f.workspaceToken("support-token", wagate.RoleSupport, "", 0)
	mustNoErr(t, err)
	s1 := f.newSession(1, support.Hash, time.Hour)
	s2 := f.newSession(2, support.Hash, time.Hour)
	owner := f.newSession(3, wagate.HashToken(f.owner), time.Hour)

	mustNoErr(t, f.db.Close())
	f.db = openTest(t, f.path, f.clock)
	got, err := f.db.FindSession(f.ctx, s1, f.clock.Now())
	mustNoErr(t, err)
	if got.TokenHash != support.Hash || got.Role != wagate.RoleOwner || got.CSRF != "csrf" || got.WorkspaceID != f.ws.ID {
		t.Errorf("session after reopen = %+v", got)
	}

	mustNoErr(t, f.db.RevokeToken(f.ctx, f.ws.ID, support.ID))
	if f.sessionLive(s1) || f.sessionLive(s2) {
		t.Error("a revoked token's sessions still work")
	}
	if !f.sessionLive(owner) {
		t.Error("revoking one token ended another token's session")
	}
	err = f.db.bolt.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketSessions).Stats().KeyN; n != 1 {
			t.Errorf("%d sessions stored after the revoke, want the owner's 1", n)
		}
		return nil
	})
	mustNoErr(t, err)
	// A sign-in racing the revoke finds the token gone.
	err = f.db.CreateSession(f.ctx, sha256.Sum256([]byte("late")), &wagate.Session{TokenHash: support.Hash, CreatedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)})
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestExpiredSessionsAreSwept(t *testing.T) {
	f := newFixture(t, 0)
	h := wagate.HashToken(f.owner)
	s1 := f.newSession(1, h, time.Hour)
	f.clock.Advance(time.Hour - time.Nanosecond)
	if !f.sessionLive(s1) {
		t.Fatal("a session ended before its expiry")
	}
	f.clock.Advance(time.Nanosecond)
	if f.sessionLive(s1) {
		t.Fatal("a session still works at its expiry")
	}
	f.newSession(2, h, time.Hour)
	err := f.db.bolt.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSessions, bucketTokenSess, bucketSessExpiry} {
			if n := tx.Bucket(b).Stats().KeyN; n != 1 {
				t.Errorf("bucket %s holds %d keys after the sweep, want the new session's 1", b, n)
			}
		}
		return nil
	})
	mustNoErr(t, err)
	mustNoErr(t, f.db.DeleteSession(f.ctx, sha256.Sum256([]byte("no such session"))))
}

func TestAuditFindsABrokenTokenIndex(t *testing.T) {
	f := newFixture(t, 0)
	h := wagate.HashToken(f.owner)
	key := join(f.ws.ID, wagate.TokenID(h))
	f.newSession(1, h, time.Hour)
	mustNoErr(t, f.db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketWsTokens).Delete(key) }))
	problems, err := f.db.Audit(f.ctx)
	mustNoErr(t, err)
	if len(problems) != 1 || !strings.Contains(problems[0], "not in the token index") {
		t.Errorf("audit of a store without the owner's index entry = %q", problems)
	}
	mustNoErr(t, f.db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketWsTokens).Put(key, h[:]) }))
}

func TestOperatorRotationEndsTheOldOperatorsSessions(t *testing.T) {
	f := newFixture(t, 0)
	old := &wagate.Token{Hash: wagate.HashToken("operator-1"), Role: wagate.RoleOperator}
	mustNoErr(t, f.db.CreateToken(f.ctx, old))
	s := f.newSession(1, old.Hash, time.Hour)
	mustNoErr(t, f.db.CreateToken(f.ctx, &wagate.Token{Hash: wagate.HashToken("operator-2"), Role: wagate.RoleOperator}))
	if f.sessionLive(s) {
		t.Error("the rotated-out operator token's session still works")
	}
	mustNoErr(t, f.db.bolt.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketSessions).Stats().KeyN; n != 0 {
			t.Errorf("%d sessions stored after the rotation; the old operator's should be deleted", n)
		}
		return nil
	}))
}

func TestAuditOfAStoreFromBeforeTokenIDs(t *testing.T) {
	f := newFixture(t, 0)
	mustNoErr(t, f.db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range tokenBuckets {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	}))
	mustNoErr(t, f.db.Close())
	ro, err := Open(f.path, Options{ReadOnly: true})
	mustNoErr(t, err)
	problems, err := ro.Audit(f.ctx)
	mustNoErr(t, err)
	if len(problems) != 0 {
		t.Errorf("wagate check of a store from before token ids (not yet opened by this wagate) reports %q", problems)
	}
	mustNoErr(t, ro.Close())
	f.db = openTest(t, f.path, f.clock) // builds the index; the cleanup audits it
	if _, err := f.db.ListTokens(f.ctx, f.ws.ID); err != nil {
		t.Fatal(err)
	}
}
