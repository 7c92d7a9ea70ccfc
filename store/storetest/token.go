package storetest

import (
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// workspaceToken creates an owner or support token of the workspace.
func workspaceToken[S TokenStore](t *testing.T, f *fixture[S], wsID string, role wagate.Role) (*wagate.Token, error) {
	t.Helper()
	tok := newToken(t)
	tk := &wagate.Token{Hash: wagate.HashToken(tok), WorkspaceID: wsID, Role: role, Name: string(role) + " desk", Prefix: tok[:wagate.TokenPrefixLen]}
	return tk, f.s.CreateWorkspaceToken(f.ctx, tk, 0)
}

func mustWorkspaceToken[S TokenStore](t *testing.T, f *fixture[S], wsID string, role wagate.Role) *wagate.Token {
	t.Helper()
	tk, err := workspaceToken(t, f, wsID, role)
	must(t, err, "CreateWorkspaceToken")
	return tk
}

func operatorToken(t *testing.T) *wagate.Token {
	return &wagate.Token{Hash: wagate.HashToken(newToken(t)), Role: wagate.RoleOperator}
}

func tokenIDs(list []*wagate.Token) []string {
	out := make([]string, len(list))
	for i, tk := range list {
		out[i] = tk.ID
	}
	return out
}

func tokenBehaviours[S TokenStore]() []behaviour[S] {
	return []behaviour[S]{
		{"a workspace is created with its owner token in one commit", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			tk, err := f.s.FindToken(f.ctx, ws.ownerHash)
			must(t, err, "FindToken of the first owner token")
			if tk.Role != wagate.RoleOwner || tk.WorkspaceID != ws.ID || tk.ID != wagate.TokenID(ws.ownerHash) || tk.Hash != ws.ownerHash {
				t.Errorf("found %+v, want the owner token of %s with id %s", tk, ws.ID, wagate.TokenID(ws.ownerHash))
			}
			if tk.Name != "first" || tk.Prefix != ws.owner[:wagate.TokenPrefixLen] {
				t.Errorf("name %q prefix %q: the label and prefix were not kept", tk.Name, tk.Prefix)
			}
			sameTime(t, tk.CreatedAt, f.clock.Now(), "CreatedAt")
		}},
		{"a workspace whose owner token is refused is not created", func(t *testing.T, f *fixture[S]) {
			id, err := wagate.NewWorkspaceID(rand.Reader)
			must(t, err, "NewWorkspaceID")
			ws := &wagate.Workspace{ID: id, Name: "x", Webhook: wagate.Webhook{Token: newToken(t), Enabled: true}}
			owner := &wagate.Token{Hash: wagate.HashToken(newToken(t)), WorkspaceID: "ws_another", Role: wagate.RoleOwner}
			if err := f.s.CreateWorkspace(f.ctx, ws, owner); err == nil {
				t.Fatal("CreateWorkspace with the owner token of another workspace succeeded")
			}
			_, err = f.s.FindWorkspace(f.ctx, id)
			wantCode(t, err, wagate.ENOTFOUND, "the workspace of the refused create")
			_, err = f.s.FindToken(f.ctx, owner.Hash)
			wantCode(t, err, wagate.ENOTFOUND, "the token of the refused create")
		}},
		{"an unknown token is not found", func(t *testing.T, f *fixture[S]) {
			_, err := f.s.FindToken(f.ctx, wagate.HashToken(newToken(t)))
			wantCode(t, err, wagate.ENOTFOUND, "FindToken")
		}},
		{"storing a token again is a no-op", func(t *testing.T, f *fixture[S]) {
			op := operatorToken(t)
			must(t, f.s.CreateToken(f.ctx, op), "CreateToken")
			first, err := f.s.FindToken(f.ctx, op.Hash)
			must(t, err, "FindToken")
			f.clock.Advance(time.Hour)
			again := &wagate.Token{Hash: op.Hash, Role: wagate.RoleOperator}
			must(t, f.s.CreateToken(f.ctx, again), "CreateToken again")
			got, err := f.s.FindToken(f.ctx, op.Hash)
			must(t, err, "FindToken")
			sameTime(t, got.CreatedAt, first.CreatedAt, "CreatedAt after storing the token again")
			if got.ID != wagate.TokenID(op.Hash) || got.Role != wagate.RoleOperator || got.WorkspaceID != "" {
				t.Errorf("operator token stored as %+v", got)
			}
		}},
		{"a new operator token revokes the old one", func(t *testing.T, f *fixture[S]) {
			old, fresh := operatorToken(t), operatorToken(t)
			must(t, f.s.CreateToken(f.ctx, old), "CreateToken old")
			must(t, f.s.CreateToken(f.ctx, fresh), "CreateToken new")
			_, err := f.s.FindToken(f.ctx, old.Hash)
			wantCode(t, err, wagate.ENOTFOUND, "the old operator token")
			_, err = f.s.FindToken(f.ctx, fresh.Hash)
			must(t, err, "the new operator token")
			// Storing the current one again (every start does) keeps it.
			must(t, f.s.CreateToken(f.ctx, &wagate.Token{Hash: fresh.Hash, Role: wagate.RoleOperator}), "CreateToken current")
			_, err = f.s.FindToken(f.ctx, fresh.Hash)
			must(t, err, "the current operator token after storing it again")
		}},
		{"a workspace token gets its id from its hash", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			tk := mustWorkspaceToken(t, f, ws.ID, wagate.RoleSupport)
			if tk.ID != wagate.TokenID(tk.Hash) {
				t.Errorf("CreateWorkspaceToken set id %q, want %q", tk.ID, wagate.TokenID(tk.Hash))
			}
			got, err := f.s.FindToken(f.ctx, tk.Hash)
			must(t, err, "FindToken")
			if got.ID != tk.ID || got.Role != wagate.RoleSupport || got.WorkspaceID != ws.ID || got.Name != "support desk" || got.Prefix != tk.Prefix {
				t.Errorf("found %+v, want the support token as created", got)
			}
		}},
		{"workspace tokens beyond the limit are refused", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1) // its owner token is the first
			second := &wagate.Token{Hash: wagate.HashToken(newToken(t)), WorkspaceID: ws.ID, Role: wagate.RoleSupport}
			must(t, f.s.CreateWorkspaceToken(f.ctx, second, 2), "the second token of 2")
			third := &wagate.Token{Hash: wagate.HashToken(newToken(t)), WorkspaceID: ws.ID, Role: wagate.RoleOwner}
			err := f.s.CreateWorkspaceToken(f.ctx, third, 2)
			wantCode(t, err, wagate.ECONFLICT, "the third token of 2")
			if !errors.Is(err, wagate.ErrTokenLimit) {
				t.Errorf("the error %v does not wrap ErrTokenLimit", err)
			}
			_, err = f.s.FindToken(f.ctx, third.Hash)
			wantCode(t, err, wagate.ENOTFOUND, "the refused token")
			// Another workspace's tokens do not count.
			other := newWorkspace(t, f.ctx, f.s, 1)
			must(t, f.s.CreateWorkspaceToken(f.ctx, &wagate.Token{Hash: wagate.HashToken(newToken(t)), WorkspaceID: other.ID, Role: wagate.RoleOwner}, 2), "a token of another workspace")
		}},
		{"a limit of zero is no limit", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			for range 5 {
				mustWorkspaceToken(t, f, ws.ID, wagate.RoleSupport)
			}
			list, err := f.s.ListTokens(f.ctx, ws.ID)
			must(t, err, "ListTokens")
			if len(list) != 6 {
				t.Errorf("%d tokens, want 6", len(list))
			}
		}},
		{"a workspace token of an unknown workspace is not found", func(t *testing.T, f *fixture[S]) {
			_, err := workspaceToken(t, f, "ws_0000000000000000", wagate.RoleOwner)
			wantCode(t, err, wagate.ENOTFOUND, "CreateWorkspaceToken")
			_, err = f.s.ListTokens(f.ctx, "ws_0000000000000000")
			wantCode(t, err, wagate.ENOTFOUND, "ListTokens")
			wantCode(t, f.s.RevokeToken(f.ctx, "ws_0000000000000000", "tok_0000000000000000"), wagate.ENOTFOUND, "RevokeToken")
		}},
		{"tokens are listed oldest first, only the workspace's own", func(t *testing.T, f *fixture[S]) {
			must(t, f.s.CreateToken(f.ctx, operatorToken(t)), "CreateToken operator")
			ws := newWorkspace(t, f.ctx, f.s, 1)
			other := newWorkspace(t, f.ctx, f.s, 1)
			want := []string{wagate.TokenID(ws.ownerHash)}
			for _, role := range []wagate.Role{wagate.RoleSupport, wagate.RoleOwner, wagate.RoleSupport} {
				f.clock.Advance(time.Minute)
				want = append(want, mustWorkspaceToken(t, f, ws.ID, role).ID)
				mustWorkspaceToken(t, f, other.ID, role)
			}
			list, err := f.s.ListTokens(f.ctx, ws.ID)
			must(t, err, "ListTokens")
			equalIDs(t, tokenIDs(list), want...)
		}},
		{"a revoked token stops working", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			tk := mustWorkspaceToken(t, f, ws.ID, wagate.RoleSupport)
			must(t, f.s.RevokeToken(f.ctx, ws.ID, tk.ID), "RevokeToken")
			_, err := f.s.FindToken(f.ctx, tk.Hash)
			wantCode(t, err, wagate.ENOTFOUND, "FindToken of the revoked token")
			list, err := f.s.ListTokens(f.ctx, ws.ID)
			must(t, err, "ListTokens")
			equalIDs(t, tokenIDs(list), wagate.TokenID(ws.ownerHash))
			wantCode(t, f.s.RevokeToken(f.ctx, ws.ID, tk.ID), wagate.ENOTFOUND, "revoking it again")
		}},
		{"a token of another workspace cannot be revoked", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			other := newWorkspace(t, f.ctx, f.s, 1)
			tk := mustWorkspaceToken(t, f, other.ID, wagate.RoleSupport)
			wantCode(t, f.s.RevokeToken(f.ctx, ws.ID, tk.ID), wagate.ENOTFOUND, "RevokeToken through another workspace")
			_, err := f.s.FindToken(f.ctx, tk.Hash)
			must(t, err, "the token after the refused revoke")
		}},
		{"last owner token cannot be revoked", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			support := mustWorkspaceToken(t, f, ws.ID, wagate.RoleSupport)
			first := wagate.TokenID(ws.ownerHash)
			err := f.s.RevokeToken(f.ctx, ws.ID, first)
			wantCode(t, err, wagate.ECONFLICT, "revoking the only owner token")
			if !errors.Is(err, wagate.ErrLastOwnerToken) {
				t.Errorf("the error %v does not wrap ErrLastOwnerToken", err)
			}
			_, err = f.s.FindToken(f.ctx, ws.ownerHash)
			must(t, err, "the owner token after the refused revoke")
			// A support token is no owner: with a second owner, the first goes.
			second := mustWorkspaceToken(t, f, ws.ID, wagate.RoleOwner)
			must(t, f.s.RevokeToken(f.ctx, ws.ID, first), "revoking the first of two owner tokens")
			wantCode(t, f.s.RevokeToken(f.ctx, ws.ID, second.ID), wagate.ECONFLICT, "revoking the owner token left")
			must(t, f.s.RevokeToken(f.ctx, ws.ID, support.ID), "revoking the support token")
		}},
		{"racing creates never pass the token limit", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			var created atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					err := f.s.CreateWorkspaceToken(f.ctx, &wagate.Token{Hash: wagate.HashToken(newToken(t)), WorkspaceID: ws.ID, Role: wagate.RoleSupport}, 4)
					switch {
					case err == nil:
						created.Add(1)
					case !errors.Is(err, wagate.ErrTokenLimit):
						t.Errorf("CreateWorkspaceToken: %v", err)
					}
				})
			}
			wg.Wait()
			list, err := f.s.ListTokens(f.ctx, ws.ID)
			must(t, err, "ListTokens")
			if len(list) != 4 || created.Load() != 3 {
				t.Errorf("%d tokens (%d created by the race), want 4 of a limit of 4", len(list), created.Load())
			}
		}},
		{"racing revokes never remove the last owner token", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			ids := []string{wagate.TokenID(ws.ownerHash)}
			for range 3 {
				ids = append(ids, mustWorkspaceToken(t, f, ws.ID, wagate.RoleOwner).ID)
			}
			var wg sync.WaitGroup
			for _, id := range ids {
				wg.Go(func() {
					if err := f.s.RevokeToken(f.ctx, ws.ID, id); err != nil && !errors.Is(err, wagate.ErrLastOwnerToken) {
						t.Errorf("RevokeToken: %v", err)
					}
				})
			}
			wg.Wait()
			list, err := f.s.ListTokens(f.ctx, ws.ID)
			must(t, err, "ListTokens")
			if len(list) != 1 || list[0].Role != wagate.RoleOwner {
				t.Errorf("%d tokens left after revoking every owner token at once, want the one owner token", len(list))
			}
		}},
		{"tokens survive a reopen", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			op := operatorToken(t)
			must(t, f.s.CreateToken(f.ctx, op), "CreateToken")
			support := mustWorkspaceToken(t, f, ws.ID, wagate.RoleSupport)
			used := f.clock.Now().Add(time.Hour)
			must(t, f.s.RecordTokenUse(f.ctx, support.Hash, used), "RecordTokenUse")
			f.reopen()
			got, err := f.s.FindToken(f.ctx, support.Hash)
			must(t, err, "FindToken after reopen")
			if got.ID != support.ID || got.Name != support.Name || got.Prefix != support.Prefix || got.Role != wagate.RoleSupport {
				t.Errorf("after reopen: %+v", got)
			}
			sameTime(t, got.LastUsedAt, used, "LastUsedAt")
			if _, err := f.s.FindToken(f.ctx, op.Hash); err != nil {
				t.Errorf("the operator token after reopen: %v", err)
			}
			list, err := f.s.ListTokens(f.ctx, ws.ID)
			must(t, err, "ListTokens")
			if len(list) != 2 {
				t.Errorf("%d tokens after reopen, want 2", len(list))
			}
		}},
		{"failed token writes change nothing", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			old := operatorToken(t)
			must(t, f.s.CreateToken(f.ctx, old), "CreateToken")
			support := mustWorkspaceToken(t, f, ws.ID, wagate.RoleSupport)
			fresh := operatorToken(t)
			extra := &wagate.Token{Hash: wagate.HashToken(newToken(t)), WorkspaceID: ws.ID, Role: wagate.RoleOwner}
			f.faults.set(syscall.ENOSPC)
			wantCode(t, f.s.CreateToken(f.ctx, fresh), wagate.EUNAVAILABLE, "CreateToken while writes fail")
			wantCode(t, f.s.CreateWorkspaceToken(f.ctx, extra, 0), wagate.EUNAVAILABLE, "CreateWorkspaceToken while writes fail")
			wantCode(t, f.s.RevokeToken(f.ctx, ws.ID, support.ID), wagate.EUNAVAILABLE, "RevokeToken while writes fail")
			// Reads have nothing to leave half-written: a full disk still
			// lets admins read.
			if list, err := f.s.ListTokens(f.ctx, ws.ID); err != nil || len(list) != 2 {
				t.Errorf("ListTokens while writes fail: %d tokens, %v; want 2", len(list), err)
			}
			if _, err := f.s.FindToken(f.ctx, support.Hash); err != nil {
				t.Errorf("FindToken while writes fail: %v", err)
			}
			f.faults.set(nil)
			for _, h := range [][32]byte{old.Hash, support.Hash} {
				if _, err := f.s.FindToken(f.ctx, h); err != nil {
					t.Errorf("a token is gone after failed writes: %v", err)
				}
			}
			for _, h := range [][32]byte{fresh.Hash, extra.Hash} {
				_, err := f.s.FindToken(f.ctx, h)
				wantCode(t, err, wagate.ENOTFOUND, "a token of a failed create")
			}
		}},
		{"token use is recorded at most once per resolution", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			t0 := f.clock.Now().Add(time.Hour)
			must(t, f.s.RecordTokenUse(f.ctx, ws.ownerHash, t0), "RecordTokenUse")
			tk, err := f.s.FindToken(f.ctx, ws.ownerHash)
			must(t, err, "FindToken")
			sameTime(t, tk.LastUsedAt, t0, "LastUsedAt after the first use")
			must(t, f.s.RecordTokenUse(f.ctx, ws.ownerHash, t0.Add(wagate.TokenUseResolution/2)), "RecordTokenUse")
			tk, _ = f.s.FindToken(f.ctx, ws.ownerHash)
			sameTime(t, tk.LastUsedAt, t0, "LastUsedAt after a use within the resolution")
			t1 := t0.Add(wagate.TokenUseResolution)
			must(t, f.s.RecordTokenUse(f.ctx, ws.ownerHash, t1), "RecordTokenUse")
			tk, _ = f.s.FindToken(f.ctx, ws.ownerHash)
			sameTime(t, tk.LastUsedAt, t1, "LastUsedAt a resolution later")
		}},
		{"recording the use of a gone token is no error", func(t *testing.T, f *fixture[S]) {
			gone := wagate.HashToken(newToken(t))
			must(t, f.s.RecordTokenUse(f.ctx, gone, f.clock.Now()), "RecordTokenUse of an unknown token")
			_, err := f.s.FindToken(f.ctx, gone)
			wantCode(t, err, wagate.ENOTFOUND, "FindToken: recording a use created the token")
		}},
	}
}
