package storetest

import (
	"crypto/rand"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// sessionFor stores a session of the token created at the clock's time,
// valid for a day, and returns its key.
func sessionFor[S SessionStore](t *testing.T, f *fixture[S], tk [32]byte, wsID string, role wagate.Role) [32]byte {
	t.Helper()
	key := newKey(t)
	now := f.clock.Now()
	s := &wagate.Session{TokenHash: tk, WorkspaceID: wsID, Role: role, CSRF: "csrf-" + newToken(t)[:8], CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	must(t, f.s.CreateSession(f.ctx, key, s), "CreateSession")
	return key
}

func newKey(t *testing.T) [32]byte {
	var k [32]byte
	_, err := rand.Read(k[:])
	must(t, err, "rand")
	return k
}

// alive reports whether the session under key is found at the clock's time.
func alive[S SessionStore](t *testing.T, f *fixture[S], key [32]byte) bool {
	t.Helper()
	_, err := f.s.FindSession(f.ctx, key, f.clock.Now())
	switch wagate.ErrorCode(err) {
	case "":
		return true
	case wagate.ENOTFOUND:
		return false
	}
	t.Fatalf("FindSession: %v", err)
	return false
}

func sessionBehaviours[S SessionStore]() []behaviour[S] {
	return []behaviour[S]{
		{"a session is found until it expires", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			key := newKey(t)
			now := f.clock.Now()
			in := &wagate.Session{TokenHash: ws.ownerHash, WorkspaceID: ws.ID, Role: wagate.RoleOwner, CSRF: "form-token", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			must(t, f.s.CreateSession(f.ctx, key, in), "CreateSession")
			got, err := f.s.FindSession(f.ctx, key, now.Add(time.Hour-time.Millisecond))
			must(t, err, "FindSession just before expiry")
			if got.TokenHash != ws.ownerHash || got.WorkspaceID != ws.ID || got.Role != wagate.RoleOwner || got.CSRF != "form-token" {
				t.Errorf("found %+v, want the session as created", got)
			}
			sameTime(t, got.CreatedAt, now, "CreatedAt")
			sameTime(t, got.ExpiresAt, now.Add(time.Hour), "ExpiresAt")
			_, err = f.s.FindSession(f.ctx, key, now.Add(time.Hour))
			wantCode(t, err, wagate.ENOTFOUND, "FindSession at its expiry")
			_, err = f.s.FindSession(f.ctx, newKey(t), now)
			wantCode(t, err, wagate.ENOTFOUND, "FindSession of an unknown key")
		}},
		{"a session of an unknown token is not created", func(t *testing.T, f *fixture[S]) {
			key := newKey(t)
			now := f.clock.Now()
			err := f.s.CreateSession(f.ctx, key, &wagate.Session{TokenHash: wagate.HashToken(newToken(t)), Role: wagate.RoleOwner, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			wantCode(t, err, wagate.ENOTFOUND, "CreateSession")
			if alive(t, f, key) {
				t.Error("the refused session is found")
			}
		}},
		{"a deleted session ends, and deleting none is no error", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			key := sessionFor(t, f, ws.ownerHash, ws.ID, wagate.RoleOwner)
			other := sessionFor(t, f, ws.ownerHash, ws.ID, wagate.RoleOwner)
			must(t, f.s.DeleteSession(f.ctx, key), "DeleteSession")
			if alive(t, f, key) {
				t.Error("the deleted session is found")
			}
			if !alive(t, f, other) {
				t.Error("deleting one session ended another of the same token")
			}
			must(t, f.s.DeleteSession(f.ctx, key), "DeleteSession again")
			must(t, f.s.DeleteSession(f.ctx, newKey(t)), "DeleteSession of an unknown key")
		}},
		{"sessions beyond 20 per token drop the oldest", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			support := mustWorkspaceToken(t, f, ws.ID, wagate.RoleSupport)
			theirs := sessionFor(t, f, support.Hash, ws.ID, wagate.RoleSupport)
			var mine [][32]byte
			for range wagate.SessionsPerToken + 2 {
				f.clock.Advance(time.Second)
				mine = append(mine, sessionFor(t, f, ws.ownerHash, ws.ID, wagate.RoleOwner))
			}
			for i, key := range mine {
				if want := i >= 2; alive(t, f, key) != want {
					t.Errorf("session %d of %d: alive=%v, want %v (the newest %d stay)", i+1, len(mine), !want, want, wagate.SessionsPerToken)
				}
			}
			if !alive(t, f, theirs) {
				t.Error("another token's session was ended by this token's sign-ins")
			}
		}},
		{"revoking a token ends its sessions in the same commit", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			support := mustWorkspaceToken(t, f, ws.ID, wagate.RoleSupport)
			gone := []([32]byte){sessionFor(t, f, support.Hash, ws.ID, wagate.RoleSupport), sessionFor(t, f, support.Hash, ws.ID, wagate.RoleSupport)}
			kept := sessionFor(t, f, ws.ownerHash, ws.ID, wagate.RoleOwner)
			must(t, f.s.RevokeToken(f.ctx, ws.ID, support.ID), "RevokeToken")
			for _, key := range gone {
				if alive(t, f, key) {
					t.Error("a session of the revoked token is still found")
				}
			}
			if !alive(t, f, kept) {
				t.Error("the owner's session ended with the support token")
			}
		}},
		{"sessions survive a reopen", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			key := sessionFor(t, f, ws.ownerHash, ws.ID, wagate.RoleOwner)
			f.reopen()
			got, err := f.s.FindSession(f.ctx, key, f.clock.Now())
			must(t, err, "FindSession after reopen")
			if got.TokenHash != ws.ownerHash || got.WorkspaceID != ws.ID || got.Role != wagate.RoleOwner || got.CSRF == "" {
				t.Errorf("after reopen: %+v", got)
			}
		}},
		{"failed session writes change nothing", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			key := sessionFor(t, f, ws.ownerHash, ws.ID, wagate.RoleOwner)
			other := newKey(t)
			now := f.clock.Now()
			f.faults.set(syscall.ENOSPC)
			wantCode(t, f.s.CreateSession(f.ctx, other, &wagate.Session{TokenHash: ws.ownerHash, WorkspaceID: ws.ID, Role: wagate.RoleOwner, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}), wagate.EUNAVAILABLE, "CreateSession while writes fail")
			wantCode(t, f.s.DeleteSession(f.ctx, key), wagate.EUNAVAILABLE, "DeleteSession while writes fail")
			f.faults.set(nil)
			if !alive(t, f, key) {
				t.Error("a failed DeleteSession ended the session")
			}
			if alive(t, f, other) {
				t.Error("a failed CreateSession stored the session")
			}
		}},
		{"a new operator token ends the old operator's sessions", func(t *testing.T, f *fixture[S]) {
			old := operatorToken(t)
			must(t, f.s.CreateToken(f.ctx, old), "CreateToken")
			key := sessionFor(t, f, old.Hash, "", wagate.RoleOperator)
			fresh := operatorToken(t)
			must(t, f.s.CreateToken(f.ctx, fresh), "CreateToken new")
			if alive(t, f, key) {
				t.Error("the old operator's session survived the rotation")
			}
			if !alive(t, f, sessionFor(t, f, fresh.Hash, "", wagate.RoleOperator)) {
				t.Error("the new operator cannot sign in")
			}
		}},
	}
}
