package storetest

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

func workspaceBehaviours[S wagate.WorkspaceService]() []behaviour[S] {
	return []behaviour[S]{
		{"a created workspace is found with granted equal to its credits", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 100)
			if ws.Granted != 100 {
				t.Errorf("CreateWorkspace set Granted = %d, want 100", ws.Granted)
			}
			got, err := f.s.FindWorkspace(f.ctx, ws.ID)
			must(t, err, "FindWorkspace")
			if got.ID != ws.ID || got.Name != ws.Name || got.Credits != 100 || got.Granted != 100 {
				t.Errorf("found %+v, want id %s, name %q, credits and granted 100", got, ws.ID, ws.Name)
			}
			if got.Webhook.Token != ws.Webhook.Token || !got.Webhook.Enabled {
				t.Errorf("found inbound URL enabled=%v with another token, want the created one, enabled", got.Webhook.Enabled)
			}
			sameTime(t, got.CreatedAt, f.clock.Now(), "CreatedAt (zero given: the store's clock)")
			sameTime(t, got.Webhook.CreatedAt, f.clock.Now(), "Webhook.CreatedAt")
			if len(got.Accounts) != 0 {
				t.Errorf("a new workspace has %d accounts", len(got.Accounts))
			}
		}},
		{"a workspace id is taken once", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			again := &wagate.Workspace{ID: ws.ID, Name: "other", Webhook: wagate.Webhook{Token: newToken(t), Enabled: true}}
			owner := &wagate.Token{Hash: wagate.HashToken(newToken(t)), WorkspaceID: ws.ID, Role: wagate.RoleOwner}
			wantCode(t, f.s.CreateWorkspace(f.ctx, again, owner), wagate.ECONFLICT, "CreateWorkspace with a taken id")
			got, err := f.s.FindWorkspace(f.ctx, ws.ID)
			must(t, err, "FindWorkspace")
			if got.Name != ws.Name || got.Webhook.Token != ws.Webhook.Token {
				t.Errorf("the refused create changed the workspace: %+v", got)
			}
		}},
		{"an unknown workspace is not found", func(t *testing.T, f *fixture[S]) {
			_, err := f.s.FindWorkspace(f.ctx, "ws_0000000000000000")
			wantCode(t, err, wagate.ENOTFOUND, "FindWorkspace")
			_, err = f.s.AddCredits(f.ctx, "ws_0000000000000000", 5)
			wantCode(t, err, wagate.ENOTFOUND, "AddCredits")
			_, err = f.s.SetWebhookEnabled(f.ctx, "ws_0000000000000000", false)
			wantCode(t, err, wagate.ENOTFOUND, "SetWebhookEnabled")
			_, err = f.s.RegenerateWebhook(f.ctx, "ws_0000000000000000", newToken(t), time.Time{})
			wantCode(t, err, wagate.ENOTFOUND, "RegenerateWebhook")
		}},
		{"workspaces are listed oldest first without accounts", func(t *testing.T, f *fixture[S]) {
			var want []string
			for range 3 {
				want = append(want, newWorkspace(t, f.ctx, f.s, 1).ID)
				f.clock.Advance(time.Second)
			}
			list, err := f.s.ListWorkspaces(f.ctx)
			must(t, err, "ListWorkspaces")
			var got []string
			for _, ws := range list {
				got = append(got, ws.ID)
				if ws.Accounts != nil {
					t.Errorf("ListWorkspaces filled the accounts of %s", ws.ID)
				}
			}
			equalIDs(t, got, want...)
		}},
		{"credits added move the balance and granted", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 100)
			got, err := f.s.AddCredits(f.ctx, ws.ID, 50)
			must(t, err, "AddCredits")
			if got.Credits != 150 || got.Granted != 150 {
				t.Errorf("after +50: credits %d granted %d, want 150 and 150", got.Credits, got.Granted)
			}
			if b := balance(t, f.ctx, f.s, ws.ID); b != 150 {
				t.Errorf("stored balance %d, want 150", b)
			}
		}},
		{"a negative grant never takes the balance below zero", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 10)
			got, err := f.s.AddCredits(f.ctx, ws.ID, -25)
			must(t, err, "AddCredits")
			if got.Credits != 0 || got.Granted != 0 {
				t.Errorf("10 - 25: credits %d granted %d, want 0 and 0 (granted down by what was really taken)", got.Credits, got.Granted)
			}
			got, err = f.s.AddCredits(f.ctx, ws.ID, 7)
			must(t, err, "AddCredits")
			if got.Credits != 7 || got.Granted != 7 {
				t.Errorf("then +7: credits %d granted %d, want 7 and 7", got.Credits, got.Granted)
			}
		}},
		{"the inbound token finds its workspace and nothing else does", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			other := newWorkspace(t, f.ctx, f.s, 1)
			got, err := f.s.FindWorkspaceByInboundToken(f.ctx, ws.Webhook.Token)
			must(t, err, "FindWorkspaceByInboundToken")
			if got.ID != ws.ID {
				t.Errorf("the token found %s, want %s", got.ID, ws.ID)
			}
			got, err = f.s.FindWorkspaceByInboundToken(f.ctx, other.Webhook.Token)
			must(t, err, "FindWorkspaceByInboundToken")
			if got.ID != other.ID {
				t.Errorf("the other token found %s, want %s", got.ID, other.ID)
			}
			_, err = f.s.FindWorkspaceByInboundToken(f.ctx, newToken(t))
			wantCode(t, err, wagate.ENOTFOUND, "an unknown inbound token")
			_, err = f.s.FindWorkspaceByInboundToken(f.ctx, ws.Webhook.Token[:20])
			wantCode(t, err, wagate.ENOTFOUND, "a prefix of an inbound token")
		}},
		{"a regenerated inbound token stops the old one at once", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			// Read it first: a backend that caches the answer must drop it.
			_, err := f.s.FindWorkspaceByInboundToken(f.ctx, ws.Webhook.Token)
			must(t, err, "FindWorkspaceByInboundToken")
			at := f.clock.Now().Add(time.Hour)
			fresh := newToken(t)
			got, err := f.s.RegenerateWebhook(f.ctx, ws.ID, fresh, at)
			must(t, err, "RegenerateWebhook")
			if got.Webhook.Token != fresh || !got.Webhook.Enabled {
				t.Errorf("after regenerating: enabled=%v, token changed=%v; want the new token, still enabled", got.Webhook.Enabled, got.Webhook.Token == fresh)
			}
			sameTime(t, got.Webhook.CreatedAt, at, "Webhook.CreatedAt")
			_, err = f.s.FindWorkspaceByInboundToken(f.ctx, ws.Webhook.Token)
			wantCode(t, err, wagate.ENOTFOUND, "the regenerated (old) token")
			found, err := f.s.FindWorkspaceByInboundToken(f.ctx, fresh)
			must(t, err, "the new token")
			if found.ID != ws.ID {
				t.Errorf("the new token found %s", found.ID)
			}
		}},
		{"regenerating keeps a disabled inbound URL disabled", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			_, err := f.s.SetWebhookEnabled(f.ctx, ws.ID, false)
			must(t, err, "SetWebhookEnabled")
			got, err := f.s.RegenerateWebhook(f.ctx, ws.ID, newToken(t), time.Time{})
			must(t, err, "RegenerateWebhook")
			if got.Webhook.Enabled {
				t.Error("regenerating enabled the inbound URL")
			}
		}},
		{"workspaces survive a reopen", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 10)
			_, err := f.s.AddCredits(f.ctx, ws.ID, 5)
			must(t, err, "AddCredits")
			_, err = f.s.SetWebhookEnabled(f.ctx, ws.ID, false)
			must(t, err, "SetWebhookEnabled")
			f.reopen()
			got, err := f.s.FindWorkspaceByInboundToken(f.ctx, ws.Webhook.Token)
			must(t, err, "FindWorkspaceByInboundToken after reopen")
			if got.ID != ws.ID || got.Name != ws.Name || got.Credits != 15 || got.Granted != 15 || got.Webhook.Enabled {
				t.Errorf("after reopen: %+v, want 15 credits granted, the URL off", got)
			}
			sameTime(t, got.CreatedAt, ws.CreatedAt, "CreatedAt")
		}},
		{"failed workspace writes change nothing", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 10)
			fresh := newToken(t)
			f.faults.set(syscall.ENOSPC)
			other := &wagate.Workspace{ID: "ws_00000000000000ff", Name: "x", Webhook: wagate.Webhook{Token: newToken(t), Enabled: true}}
			wantCode(t, f.s.CreateWorkspace(f.ctx, other, &wagate.Token{Hash: wagate.HashToken(newToken(t)), WorkspaceID: other.ID, Role: wagate.RoleOwner}), wagate.EUNAVAILABLE, "CreateWorkspace while writes fail")
			_, err := f.s.AddCredits(f.ctx, ws.ID, 5)
			wantCode(t, err, wagate.EUNAVAILABLE, "AddCredits while writes fail")
			_, err = f.s.SetWebhookEnabled(f.ctx, ws.ID, false)
			wantCode(t, err, wagate.EUNAVAILABLE, "SetWebhookEnabled while writes fail")
			_, err = f.s.RegenerateWebhook(f.ctx, ws.ID, fresh, time.Time{})
			wantCode(t, err, wagate.EUNAVAILABLE, "RegenerateWebhook while writes fail")
			f.faults.set(nil)
			_, err = f.s.FindWorkspace(f.ctx, other.ID)
			wantCode(t, err, wagate.ENOTFOUND, "the workspace of the failed create")
			got, err := f.s.FindWorkspaceByInboundToken(f.ctx, ws.Webhook.Token)
			must(t, err, "the old inbound token after the failed regenerate")
			if got.Credits != 10 || got.Granted != 10 || !got.Webhook.Enabled {
				t.Errorf("after failed writes: credits %d granted %d enabled %v", got.Credits, got.Granted, got.Webhook.Enabled)
			}
			_, err = f.s.FindWorkspaceByInboundToken(f.ctx, fresh)
			wantCode(t, err, wagate.ENOTFOUND, "the token of the failed regenerate")
		}},
		{"racing grants all count", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					if _, err := f.s.AddCredits(f.ctx, ws.ID, 3); err != nil {
						t.Errorf("AddCredits: %v", err)
					}
				})
			}
			wg.Wait()
			got, err := f.s.FindWorkspace(f.ctx, ws.ID)
			must(t, err, "FindWorkspace")
			if got.Credits != 30 || got.Granted != 30 {
				t.Errorf("after 10 racing grants of 3: credits %d granted %d, want 30 and 30", got.Credits, got.Granted)
			}
		}},
		{"switching the inbound URL off and on keeps its token", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 1)
			got, err := f.s.SetWebhookEnabled(f.ctx, ws.ID, false)
			must(t, err, "SetWebhookEnabled(false)")
			if got.Webhook.Enabled || got.Webhook.Token != ws.Webhook.Token {
				t.Errorf("off: enabled=%v, same token=%v", got.Webhook.Enabled, got.Webhook.Token == ws.Webhook.Token)
			}
			found, err := f.s.FindWorkspaceByInboundToken(f.ctx, ws.Webhook.Token)
			must(t, err, "FindWorkspaceByInboundToken of a disabled URL")
			if found.Webhook.Enabled {
				t.Error("the lookup of a disabled URL says enabled")
			}
			got, err = f.s.SetWebhookEnabled(f.ctx, ws.ID, true)
			must(t, err, "SetWebhookEnabled(true)")
			if !got.Webhook.Enabled || got.Webhook.Token != ws.Webhook.Token {
				t.Errorf("on again: enabled=%v, same token=%v", got.Webhook.Enabled, got.Webhook.Token == ws.Webhook.Token)
			}
		}},
	}
}
