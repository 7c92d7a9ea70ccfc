package store

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

func TestWorkspaceCreateFindList(t *testing.T) {
	f := newFixture(t, 50)
	second := f.createWorkspace(0)

	ws, err := f.db.FindWorkspace(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if ws.Name != f.ws.Name || ws.Credits != 50 || ws.Granted != 50 || !ws.Webhook.Enabled || ws.Webhook.Token != f.ws.Webhook.Token {
		t.Fatalf("FindWorkspace = %+v", ws)
	}
	if ws.CreatedAt.IsZero() || ws.Webhook.CreatedAt.IsZero() {
		t.Fatalf("times not set: %+v", ws)
	}
	if f.ws.Granted != 50 {
		t.Fatalf("CreateWorkspace did not set Granted on the caller's workspace: %d", f.ws.Granted)
	}
	if len(ws.Accounts) != 1 || ws.Accounts[0].Phone != testPhone {
		t.Fatalf("Accounts = %+v", ws.Accounts)
	}

	// Accounts come most recently connected first.
	f.clock.Advance(time.Minute)
	f.createAccount(f.ws.ID, testPhone2, true)
	ws, err = f.db.FindWorkspace(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if len(ws.Accounts) != 2 || ws.Accounts[0].Phone != testPhone2 || ws.Accounts[1].Phone != testPhone {
		t.Fatalf("Accounts order = %v, %v", ws.Accounts[0].Phone, ws.Accounts[1].Phone)
	}

	list, err := f.db.ListWorkspaces(f.ctx)
	mustNoErr(t, err)
	if len(list) != 2 || list[0].ID != f.ws.ID || list[1].ID != second.ID {
		t.Fatalf("ListWorkspaces = %+v", list)
	}
	if list[0].Accounts != nil {
		t.Fatalf("ListWorkspaces filled Accounts")
	}

	err = f.db.CreateWorkspace(f.ctx, &wagate.Workspace{ID: f.ws.ID, Name: "dup", Webhook: wagate.Webhook{Token: "other"}}, nil)
	wantCode(t, err, wagate.ECONFLICT)
	_, err = f.db.FindWorkspace(f.ctx, "ws_missing")
	wantCode(t, err, wagate.ENOTFOUND)
	err = f.db.CreateWorkspace(f.ctx, &wagate.Workspace{ID: "ws_neg", Credits: -1, Webhook: wagate.Webhook{Token: "t"}}, nil)
	wantCode(t, err, wagate.EINVALID)
}

func TestAddCredits(t *testing.T) {
	f := newFixture(t, 5)
	steps := []struct {
		amount           int64
		balance, granted int64
	}{
		{+10, 15, 15},
		{-3, 12, 12},
		{-100, 0, 0}, // floor at 0: Granted moves by what was really taken
		{+4, 4, 4},
	}
	for _, s := range steps {
		ws, err := f.db.AddCredits(f.ctx, f.ws.ID, s.amount)
		mustNoErr(t, err)
		if ws.Credits != s.balance || ws.Granted != s.granted {
			t.Fatalf("AddCredits(%d) = balance %d granted %d, want %d %d", s.amount, ws.Credits, ws.Granted, s.balance, s.granted)
		}
	}

	// With a message holding credits, a large negative grant still adds up.
	f.send("hello")
	ws, err := f.db.AddCredits(f.ctx, f.ws.ID, -100)
	mustNoErr(t, err)
	if ws.Credits != 0 || ws.Granted != 1 {
		t.Fatalf("after -100 with 1 held: balance %d granted %d, want 0 1", ws.Credits, ws.Granted)
	}
	_, err = f.db.AddCredits(f.ctx, "ws_missing", 1)
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestInboundToken(t *testing.T) {
	f := newFixture(t, 1)
	old := f.ws.Webhook.Token

	ws, err := f.db.FindWorkspaceByInboundToken(f.ctx, old)
	mustNoErr(t, err)
	if ws.ID != f.ws.ID || len(ws.Accounts) != 1 {
		t.Fatalf("by token = %+v", ws)
	}
	_, err = f.db.FindWorkspaceByInboundToken(f.ctx, old+"x")
	wantCode(t, err, wagate.ENOTFOUND)
	_, err = f.db.FindWorkspaceByInboundToken(f.ctx, "")
	wantCode(t, err, wagate.ENOTFOUND)

	// Disable and enable keep the token.
	ws, err = f.db.SetWebhookEnabled(f.ctx, f.ws.ID, false)
	mustNoErr(t, err)
	if ws.Webhook.Enabled || ws.Webhook.Token != old {
		t.Fatalf("disabled = %+v", ws.Webhook)
	}
	ws, err = f.db.FindWorkspaceByInboundToken(f.ctx, old)
	mustNoErr(t, err) // found: the gateway answers 403, not 404
	if ws.Webhook.Enabled {
		t.Fatal("still enabled")
	}
	ws, err = f.db.SetWebhookEnabled(f.ctx, f.ws.ID, true)
	mustNoErr(t, err)
	if !ws.Webhook.Enabled || ws.Webhook.Token != old {
		t.Fatalf("enabled = %+v", ws.Webhook)
	}

	// Regenerate: the old token is gone at once, the flag is kept.
	_, err = f.db.SetWebhookEnabled(f.ctx, f.ws.ID, false)
	mustNoErr(t, err)
	fresh, err := wagate.NewToken(rand.Reader)
	mustNoErr(t, err)
	at := f.clock.Now().Add(time.Hour)
	ws, err = f.db.RegenerateWebhook(f.ctx, f.ws.ID, fresh, at)
	mustNoErr(t, err)
	if ws.Webhook.Token != fresh || ws.Webhook.Enabled || !ws.Webhook.CreatedAt.Equal(at) {
		t.Fatalf("regenerated = %+v", ws.Webhook)
	}
	_, err = f.db.FindWorkspaceByInboundToken(f.ctx, old)
	wantCode(t, err, wagate.ENOTFOUND)
	ws, err = f.db.FindWorkspaceByInboundToken(f.ctx, fresh)
	mustNoErr(t, err)
	if ws.ID != f.ws.ID {
		t.Fatalf("new token found %s", ws.ID)
	}
	_, err = f.db.RegenerateWebhook(f.ctx, "ws_missing", "t", at)
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestTokens(t *testing.T) {
	f := newFixture(t, 0)

	owner, err := f.db.FindToken(f.ctx, wagate.HashToken(f.owner))
	mustNoErr(t, err)
	if owner.Role != wagate.RoleOwner || owner.WorkspaceID != f.ws.ID || owner.CreatedAt.IsZero() {
		t.Fatalf("owner token = %+v", owner)
	}

	op := &wagate.Token{Hash: wagate.HashToken("operator-secret"), Role: wagate.RoleOperator, CreatedAt: f.clock.Now()}
	mustNoErr(t, f.db.CreateToken(f.ctx, op))
	// Registered again at the next start: a no-op success that keeps the first record.
	f.clock.Advance(time.Hour)
	again := *op
	again.CreatedAt = f.clock.Now()
	mustNoErr(t, f.db.CreateToken(f.ctx, &again))
	got, err := f.db.FindToken(f.ctx, op.Hash)
	mustNoErr(t, err)
	if got.Role != wagate.RoleOperator || got.WorkspaceID != "" || !got.CreatedAt.Equal(op.CreatedAt) {
		t.Fatalf("operator token = %+v", got)
	}

	support := &wagate.Token{Hash: wagate.HashToken("support"), WorkspaceID: f.ws.ID, Role: wagate.RoleSupport}
	mustNoErr(t, f.db.CreateToken(f.ctx, support))

	_, err = f.db.FindToken(f.ctx, wagate.HashToken("nope"))
	wantCode(t, err, wagate.ENOTFOUND)
	err = f.db.CreateToken(f.ctx, &wagate.Token{Hash: wagate.HashToken("x"), WorkspaceID: f.ws.ID, Role: "admin"})
	wantCode(t, err, wagate.EINVALID)
	err = f.db.CreateToken(f.ctx, &wagate.Token{Hash: wagate.HashToken("y"), WorkspaceID: "ws_missing", Role: wagate.RoleOwner})
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestAccounts(t *testing.T) {
	f := newFixture(t, 0)
	a := &wagate.Account{
		WorkspaceID: f.ws.ID, Phone: testPhone2, Transport: wagate.TransportCloudAPI, Active: true,
		Settings: map[string]string{"phone_number_id": "123", "access_token": "secret"},
	}
	mustNoErr(t, f.db.CreateAccount(f.ctx, a))
	if a.ConnectedAt.IsZero() {
		t.Fatal("ConnectedAt not set")
	}
	got, err := f.db.FindAccount(f.ctx, a.Ref())
	mustNoErr(t, err)
	if got.Transport != wagate.TransportCloudAPI || got.Settings["access_token"] != "secret" || !got.Active {
		t.Fatalf("FindAccount = %+v", got)
	}
	wantCode(t, f.db.CreateAccount(f.ctx, a), wagate.ECONFLICT)
	wantCode(t, f.db.CreateAccount(f.ctx, &wagate.Account{WorkspaceID: "ws_missing", Phone: testPhone}), wagate.ENOTFOUND)

	got, err = f.db.SetAccountActive(f.ctx, a.Ref(), false)
	mustNoErr(t, err)
	if got.Active || got.Settings["phone_number_id"] != "123" {
		t.Fatalf("SetAccountActive = %+v", got)
	}
	list, err := f.db.ListAccounts(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if len(list) != 2 {
		t.Fatalf("ListAccounts = %d accounts", len(list))
	}
	_, err = f.db.FindAccount(f.ctx, wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: "+10000000000"})
	wantCode(t, err, wagate.ENOTFOUND)
	_, err = f.db.SetAccountActive(f.ctx, wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: "+10000000000"}, true)
	wantCode(t, err, wagate.ENOTFOUND)
	_, err = f.db.ListAccounts(f.ctx, "ws_missing")
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestChats(t *testing.T) {
	f := newFixture(t, 0)
	f.createAccount(f.ws.ID, testPhone2, true)

	c1 := &wagate.Chat{WorkspaceID: f.ws.ID, AccountPhone: testPhone, JID: testJID, Name: "Alice"}
	c2 := &wagate.Chat{WorkspaceID: f.ws.ID, AccountPhone: testPhone, JID: testGroup, Name: "Team", Group: true}
	c3 := &wagate.Chat{WorkspaceID: f.ws.ID, AccountPhone: testPhone2, JID: testJID, Name: "Alice"} // same JID, other account
	for _, c := range []*wagate.Chat{c1, c2, c3} {
		mustNoErr(t, f.db.CreateChat(f.ctx, c))
	}
	if c1.ID != 1 || c2.ID != 2 || c3.ID != 3 {
		t.Fatalf("ids = %d %d %d, want 1 2 3", c1.ID, c2.ID, c3.ID)
	}
	err := f.db.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: f.ws.ID, AccountPhone: testPhone, JID: testJID, Name: "dup"})
	wantCode(t, err, wagate.ECONFLICT)
	err = f.db.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: f.ws.ID, AccountPhone: "+10000000000", JID: testJID})
	wantCode(t, err, wagate.EINVALID)

	got, err := f.db.FindChat(f.ctx, f.ws.ID, 2)
	mustNoErr(t, err)
	if got.JID != testGroup || !got.Group || got.Name != "Team" || got.AccountPhone != testPhone || got.WorkspaceID != f.ws.ID {
		t.Fatalf("FindChat = %+v", got)
	}
	_, err = f.db.FindChat(f.ctx, f.ws.ID, 99)
	wantCode(t, err, wagate.ENOTFOUND)

	all, err := f.db.ListChats(f.ctx, f.ws.ID, "")
	mustNoErr(t, err)
	if len(all) != 3 || all[0].ID != 1 || all[2].ID != 3 {
		t.Fatalf("ListChats = %+v", all)
	}
	alice, err := f.db.ListChats(f.ctx, f.ws.ID, "Alice")
	mustNoErr(t, err)
	if len(alice) != 2 {
		t.Fatalf("ListChats(Alice) = %d chats", len(alice))
	}
	none, err := f.db.ListChats(f.ctx, f.ws.ID, "alice") // exact match only
	mustNoErr(t, err)
	if len(none) != 0 {
		t.Fatalf("ListChats(alice) = %d chats", len(none))
	}

	// Ids are per workspace.
	other := f.createWorkspace(0)
	f.createAccount(other.ID, testPhone, true)
	c := &wagate.Chat{WorkspaceID: other.ID, AccountPhone: testPhone, JID: testJID}
	mustNoErr(t, f.db.CreateChat(f.ctx, c))
	if c.ID != 1 {
		t.Fatalf("first chat of another workspace has id %d", c.ID)
	}
	_, err = f.db.FindChat(f.ctx, other.ID, 2)
	wantCode(t, err, wagate.ENOTFOUND)
}
