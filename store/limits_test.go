package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

// wantLimit checks a 409 that names the operator flag.
func wantLimit(t *testing.T, err error, flag string) {
	t.Helper()
	wantCode(t, err, wagate.ECONFLICT)
	if msg := wagate.ErrorMessage(err); !strings.Contains(msg, flag) {
		t.Errorf("error %q does not name %s", msg, flag)
	}
}

func TestOpenTakesTheLimits(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "wagate.db"), Options{MaxAccounts: 3, MaxChats: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.limits.maxAccounts != 3 || db.limits.maxChats != 7 {
		t.Errorf("limits = %+v, want 3 accounts and 7 chats", db.limits)
	}
}

// TestMaxAccounts: past the limit a new account is ECONFLICT naming
// --max-accounts; a deleted account frees its place; another workspace has
// its own count.
func TestMaxAccounts(t *testing.T) {
	f := newFixture(t, 10) // one account already
	f.db.limits = limits{maxAccounts: 2}
	f.createAccount(f.ws.ID, testPhone2, true)
	err := f.db.CreateAccount(f.ctx, &wagate.Account{WorkspaceID: f.ws.ID, Phone: "+4915112345678", Transport: wagate.TransportDryrun, Active: true})
	wantLimit(t, err, "--max-accounts")
	// The same phone again is still the duplicate it is, not the limit.
	err = f.db.CreateAccount(f.ctx, &wagate.Account{WorkspaceID: f.ws.ID, Phone: testPhone2, Transport: wagate.TransportDryrun})
	if wantCode(t, err, wagate.ECONFLICT); strings.Contains(wagate.ErrorMessage(err), "--max-accounts") {
		t.Errorf("a duplicate phone got the limit's error %q", wagate.ErrorMessage(err))
	}
	mustNoErr(t, f.db.DeleteAccount(f.ctx, wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: testPhone2}, wagate.SourceSystem, f.clock.Now()))
	f.createAccount(f.ws.ID, "+4915112345678", true)

	other := f.createWorkspace(10)
	f.createAccount(other.ID, testPhone, true)
	f.createAccount(other.ID, testPhone2, true)
}

// TestMaxChats: the chats made by the admin API and those made by sends to
// a new recipient share one limit; past it, a send to a new recipient is
// refused (no charge, the attempt records why), while sends to the known
// chats go on.
func TestMaxChats(t *testing.T) {
	f := newFixture(t, 10)
	f.db.limits = limits{maxChats: 2}
	mustNoErr(t, f.db.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: f.ws.ID, AccountPhone: testPhone, JID: testJID2, Name: "by API"}))
	f.send("makes the chat with testJID") // the second chat

	err := f.db.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: f.ws.ID, AccountPhone: testPhone, JID: testGroup, Name: "one too many"})
	wantLimit(t, err, "--max-chats")

	a := f.request("to a new group", 1)
	a.Message.JID = testGroup
	_, err = f.db.Accept(f.ctx, a)
	wantLimit(t, err, "--max-chats")
	if a.Attempt.Code != wagate.ECONFLICT || !strings.Contains(a.Attempt.Message, "--max-chats") {
		t.Errorf("attempt = %q %q, want the limit recorded", a.Attempt.Code, a.Attempt.Message)
	}
	if got := f.balance(); got != 9 {
		t.Errorf("balance = %d after a refused send, want 9 (only the first send charged)", got)
	}
	f.send("to the known chat") // an existing chat is no new one
	chats, err := f.db.ListChats(context.Background(), f.ws.ID, "")
	if err != nil || len(chats) != 2 {
		t.Errorf("ListChats = %d chats, %v; want the 2 allowed", len(chats), err)
	}
}
