package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// ErrorAccountDeleted is the error of a message failed because its account
// was deleted (wagate.AccountService.DeleteAccount).
const errorAccountDeleted = "account deleted"

func chatIDs(list []*wagate.Chat) []int64 {
	out := make([]int64, len(list))
	for i, c := range list {
		out[i] = c.ID
	}
	return out
}

func accountBehaviours[S AccountStore]() []behaviour[S] {
	return []behaviour[S]{
		{"an account keeps its transport, settings and connection time", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			got, err := f.s.FindAccount(f.ctx, w.ref())
			must(t, err, "FindAccount")
			if got.WorkspaceID != w.ws.ID || got.Phone != phone1 || got.Transport != wagate.TransportDryrun || !got.Active || got.Settings["phone_number_id"] != "pn-14155552671" {
				t.Errorf("found %+v, want the account as created", got)
			}
			sameTime(t, got.ConnectedAt, f.clock.Now(), "ConnectedAt")
		}},
		{"a workspace has one account per phone", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			err := f.s.CreateAccount(f.ctx, &wagate.Account{WorkspaceID: w.ws.ID, Phone: phone1, Transport: wagate.TransportDryrun})
			wantCode(t, err, wagate.ECONFLICT, "CreateAccount with a taken phone")
			other := newWorkspace(t, f.ctx, f.s, 1)
			w.account(other.ID, phone1, true) // another workspace may have it
		}},
		{"an account of an unknown workspace or phone is not found", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			err := f.s.CreateAccount(f.ctx, &wagate.Account{WorkspaceID: "ws_0000000000000000", Phone: phone1, Transport: wagate.TransportDryrun})
			wantCode(t, err, wagate.ENOTFOUND, "CreateAccount in an unknown workspace")
			missing := wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2}
			_, err = f.s.FindAccount(f.ctx, missing)
			wantCode(t, err, wagate.ENOTFOUND, "FindAccount")
			_, err = f.s.SetAccountActive(f.ctx, missing, false)
			wantCode(t, err, wagate.ENOTFOUND, "SetAccountActive")
			wantCode(t, f.s.DeleteAccount(f.ctx, missing, wagate.SourceSystem, time.Time{}), wagate.ENOTFOUND, "DeleteAccount")
		}},
		{"accounts are listed most recently connected first, also in their workspace", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			f.clock.Advance(time.Minute)
			w.account(w.ws.ID, phone2, false)
			list, err := f.s.ListAccounts(f.ctx, w.ws.ID)
			must(t, err, "ListAccounts")
			if len(list) != 2 || list[0].Phone != phone2 || list[1].Phone != phone1 {
				t.Fatalf("ListAccounts: %d accounts, want %s then %s", len(list), phone2, phone1)
			}
			ws, err := f.s.FindWorkspace(f.ctx, w.ws.ID)
			must(t, err, "FindWorkspace")
			if len(ws.Accounts) != 2 || ws.Accounts[0].Phone != phone2 {
				t.Errorf("FindWorkspace: %d accounts, want 2, newest first", len(ws.Accounts))
			}
		}},
		{"an account is switched off and on", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			got, err := f.s.SetAccountActive(f.ctx, w.ref(), false)
			must(t, err, "SetAccountActive(false)")
			if got.Active {
				t.Error("still active")
			}
			a, err := f.s.FindAccount(f.ctx, w.ref())
			must(t, err, "FindAccount")
			if a.Active || a.Settings["phone_number_id"] == "" {
				t.Errorf("stored %+v, want inactive with its settings", a)
			}
			got, err = f.s.SetAccountActive(f.ctx, w.ref(), true)
			must(t, err, "SetAccountActive(true)")
			if !got.Active {
				t.Error("not active again")
			}
		}},
		{"chats get the next id of the workspace", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			w.account(w.ws.ID, phone2, true)
			a := &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: jidA, Name: "Ann"}
			must(t, f.s.CreateChat(f.ctx, a), "CreateChat")
			b := &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone2, JID: jidA, Name: "Ann"}
			must(t, f.s.CreateChat(f.ctx, b), "CreateChat from another account")
			if a.ID < 1 || b.ID != a.ID+1 {
				t.Errorf("chat ids %d, %d: want ids from 1, one after the other", a.ID, b.ID)
			}
			got, err := f.s.FindChat(f.ctx, w.ws.ID, b.ID)
			must(t, err, "FindChat")
			if got.AccountPhone != phone2 || got.JID != jidA || got.Name != "Ann" || got.WorkspaceID != w.ws.ID {
				t.Errorf("found %+v, want the chat as created", got)
			}
			sameTime(t, got.CreatedAt, f.clock.Now(), "CreatedAt")
			other := newWorkspace(t, f.ctx, f.s, 1)
			_, err = f.s.FindChat(f.ctx, other.ID, a.ID)
			wantCode(t, err, wagate.ENOTFOUND, "FindChat through another workspace")
		}},
		{"an account has one chat per JID", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			must(t, f.s.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: jidA}), "CreateChat")
			wantCode(t, f.s.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: jidA, Name: "again"}), wagate.ECONFLICT, "CreateChat with the same JID")
		}},
		{"chats are listed by id and filtered by exact name", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			var ann []int64
			for i, jid := range []string{jidA, jidB, group} {
				name := "Ann"
				if i == 1 {
					name = "Anne"
				}
				c := &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: jid, Name: name, Group: jid == group}
				must(t, f.s.CreateChat(f.ctx, c), "CreateChat")
				if name == "Ann" {
					ann = append(ann, c.ID)
				}
			}
			all, err := f.s.ListChats(f.ctx, w.ws.ID, "")
			must(t, err, "ListChats")
			if len(all) != 3 || all[0].ID > all[1].ID || all[1].ID > all[2].ID {
				t.Errorf("ListChats: ids %v, want 3 by id", chatIDs(all))
			}
			if !all[2].Group {
				t.Error("the group chat lost its Group flag")
			}
			named, err := f.s.ListChats(f.ctx, w.ws.ID, "Ann")
			must(t, err, "ListChats Ann")
			if got := chatIDs(named); len(got) != 2 || got[0] != ann[0] || got[1] != ann[1] {
				t.Errorf("chats named Ann: %v, want %v", got, ann)
			}
		}},
		{"paging chats walks every chat once", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			var want []int64
			for i := range 5 {
				c := &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: string(rune('1'+i)) + "4155550100@s.whatsapp.net", Name: "same"}
				must(t, f.s.CreateChat(f.ctx, c), "CreateChat")
				want = append(want, c.ID)
			}
			var got []int64
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 5 {
					t.Fatal("paging does not end")
				}
				page, next, err := f.s.PageChats(f.ctx, w.ws.ID, "same", 2, cursor)
				must(t, err, "PageChats")
				if len(page) > 2 {
					t.Fatalf("a page of limit 2 holds %d chats", len(page))
				}
				got = append(got, chatIDs(page)...)
				if next == "" {
					break
				}
				cursor = next
			}
			if len(got) != len(want) {
				t.Fatalf("paged %v, want %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("paged %v, want %v", got, want)
				}
			}
			_, _, err := f.s.PageChats(f.ctx, w.ws.ID, "", 2, "not-a-cursor!")
			wantCode(t, err, wagate.EINVALID, "PageChats with a cursor never handed out")
		}},
		{"UpdateAccount stores the rules and Active and keeps every other field", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			rules := wagate.SendRules{DailyLimit: 250, Warmup: wagate.Warmup{Start: 20, Growth: 1.3},
				QuietHours: wagate.QuietHours{Set: true, From: 21 * 60, To: 8 * 60}, TimeZone: "Europe/Berlin",
				SendInterval: 3 * time.Second, SendJitter: 1500 * time.Millisecond}
			got, err := f.s.UpdateAccount(f.ctx, w.ref(), func(a *wagate.Account) error {
				if a.Settings["phone_number_id"] != "pn-14155552671" || !a.Active {
					t.Errorf("edit sees %+v, want the stored account", a)
				}
				a.Rules, a.Active = rules, false
				a.Transport, a.Settings = "other", map[string]string{"phone_number_id": "changed"}
				return nil
			})
			must(t, err, "UpdateAccount")
			for _, a := range []*wagate.Account{got, w.find()} {
				if a.Rules != rules || a.Active {
					t.Errorf("account %+v, want inactive with rules %+v", a, rules)
				}
				if a.Transport != wagate.TransportDryrun || a.Settings["phone_number_id"] != "pn-14155552671" {
					t.Errorf("account %+v: UpdateAccount changed the transport or settings", a)
				}
			}
			f.reopen()
			if a := w.find(); a.Rules != rules {
				t.Errorf("after a reopen the rules are %+v, want %+v", a.Rules, rules)
			}
			_, err = f.s.UpdateAccount(f.ctx, w.ref(), func(a *wagate.Account) error {
				a.Rules = wagate.SendRules{}
				return nil
			})
			must(t, err, "UpdateAccount clearing the rules")
			if a := w.find(); !a.Rules.IsZero() {
				t.Errorf("rules %+v after clearing them, want none", a.Rules)
			}
		}},
		{"an UpdateAccount whose edit fails writes nothing", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			_, err := f.s.UpdateAccount(f.ctx, w.ref(), func(a *wagate.Account) error {
				a.Active, a.Rules.DailyLimit = false, 10
				return wagate.Errorf(wagate.EINVALID, "daily_limit: no")
			})
			wantCode(t, err, wagate.EINVALID, "UpdateAccount with a failing edit")
			if a := w.find(); !a.Active || a.Rules.DailyLimit != 0 {
				t.Errorf("account %+v after a failed edit, want it unchanged", a)
			}
			_, err = f.s.UpdateAccount(f.ctx, wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2}, func(*wagate.Account) error { return nil })
			wantCode(t, err, wagate.ENOTFOUND, "UpdateAccount of an unknown account")
		}},
		{"the operator's --max-accounts refuses one more account in a workspace", func(t *testing.T, f *fixture[S]) {
			f.maxAccounts = 2
			f.reopen()
			w := newAccountWorld(f, 100)
			w.account(w.ws.ID, phone2, true)
			err := f.s.CreateAccount(f.ctx, &wagate.Account{WorkspaceID: w.ws.ID, Phone: "+33612345678", Transport: wagate.TransportDryrun})
			wantCode(t, err, wagate.ECONFLICT, "CreateAccount past the limit")
			if !strings.Contains(err.Error(), "--max-accounts 2") {
				t.Errorf("error %q does not name --max-accounts", err)
			}
			err = f.s.CreateAccount(f.ctx, &wagate.Account{WorkspaceID: w.ws.ID, Phone: phone2, Transport: wagate.TransportDryrun})
			wantCode(t, err, wagate.ECONFLICT, "CreateAccount of a taken phone at the limit")
			if !strings.Contains(err.Error(), "already has the account") {
				t.Errorf("error %q: at the limit a taken phone should still say so", err)
			}
			other := newWorkspace(t, f.ctx, f.s, 1)
			w.account(other.ID, phone1, true) // the limit is per workspace
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceSystem, time.Time{}), "DeleteAccount")
			w.account(w.ws.ID, "+33612345678", true) // a deleted account frees its place
		}},
		{"the operator's --max-chats refuses one more chat in a workspace", func(t *testing.T, f *fixture[S]) {
			f.maxChats = 2
			f.reopen()
			w := newAccountWorld(f, 100)
			must(t, f.s.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: jidA}), "CreateChat")
			must(t, f.s.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: jidB}), "CreateChat")
			err := f.s.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: group, Group: true})
			wantCode(t, err, wagate.ECONFLICT, "CreateChat past the limit")
			if !strings.Contains(err.Error(), "--max-chats 2") {
				t.Errorf("error %q does not name --max-chats", err)
			}
			other := newWorkspace(t, f.ctx, f.s, 1)
			w.account(other.ID, phone1, true)
			must(t, f.s.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: other.ID, AccountPhone: phone1, JID: jidA}), "CreateChat in another workspace")
		}},
		{"a chat needs an account of its workspace", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 100)
			err := f.s.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone2, JID: jidA})
			wantCode(t, err, wagate.EINVALID, "CreateChat for an account not in the workspace")
			if !strings.Contains(err.Error(), "account_phone") {
				t.Errorf("error %q does not name account_phone", err)
			}
			err = f.s.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: "ws_0000000000000000", AccountPhone: phone1, JID: jidA})
			wantCode(t, err, wagate.ENOTFOUND, "CreateChat in an unknown workspace")
		}},
	}
}

// find reads phone1's account.
func (w *accountWorld[S]) find() *wagate.Account {
	w.t.Helper()
	a, err := w.s.FindAccount(w.ctx, w.ref())
	must(w.t, err, "FindAccount")
	return a
}

// accountQueueBehaviours are the account behaviours that need the
// sender's queue.
func accountQueueBehaviours[S Store]() []behaviour[S] {
	return []behaviour[S]{
		{"the sender's Queue.Account is the account with its settings, until deleted", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			viaQueue, err := f.s.Account(f.ctx, w.ref())
			must(t, err, "Queue.Account")
			if viaQueue.Settings["phone_number_id"] != "pn-14155552671" || viaQueue.Transport != wagate.TransportDryrun {
				t.Errorf("Queue.Account lost the settings: %+v", viaQueue)
			}
			_, err = f.s.Account(f.ctx, wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2})
			wantCode(t, err, wagate.ENOTFOUND, "Queue.Account of an unknown account")
			w.queued(jidA, 1)
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceSystem, time.Time{}), "DeleteAccount")
			_, err = f.s.Account(f.ctx, w.ref())
			wantCode(t, err, wagate.ENOTFOUND, "Queue.Account after DeleteAccount")
			refs, err := f.s.QueuedAccounts(f.ctx)
			must(t, err, "QueuedAccounts")
			for _, r := range refs {
				if r == w.ref() {
					t.Error("QueuedAccounts lists the deleted account")
				}
			}
		}},
		{"queue depths count the queued messages of each account", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			w.account(w.ws.ID, phone2, true)
			w.account(w.ws.ID, "+33612345678", true)
			m := w.queued(jidA, 1)
			w.queued(jidB, 1)
			w.queued(jidA, 1, func(a *wagate.Accept) { a.Message.AccountPhone = phone2 })
			must(t, f.s.Retry(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), Error: "file host timed out"}, f.clock.Now().Add(time.Hour)), "Retry")
			depths, err := f.s.QueueDepths(f.ctx, w.ws.ID)
			must(t, err, "QueueDepths")
			if len(depths) != 2 || depths[phone1] != 2 || depths[phone2] != 1 {
				t.Errorf("queue depths %v, want %s: 2 (a retrying one counts), %s: 1, and no empty account", depths, phone1, phone2)
			}
		}},
	}
}

// accountMessageBehaviours are the account behaviours that need messages
// but not the sender's queue.
func accountMessageBehaviours[S MessageStore]() []behaviour[S] {
	return []behaviour[S]{
		{"deleting an account fails and refunds its queued messages in one commit and keeps its chats", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			w.account(w.ws.ID, phone2, true)
			m1 := w.queued(jidA, 3)
			m2 := w.queued(jidB, 4)
			kept := w.queued(jidA, 5, func(a *wagate.Accept) { a.Message.AccountPhone = phone2 })
			if b := w.balance(); b != 88 {
				t.Fatalf("balance %d after charging 12, want 88", b)
			}
			f.clock.Advance(time.Minute)
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceSystem, time.Time{}), "DeleteAccount")
			for _, m := range []*wagate.Message{m1, m2} {
				got := w.message(m.ID)
				if got.Status != wagate.StatusFailed || got.Error != errorAccountDeleted {
					t.Errorf("message %s: %s %q, want failed %q", m.ID, got.Status, got.Error, errorAccountDeleted)
				}
			}
			if got := w.message(kept.ID); got.Status != wagate.StatusQueued {
				t.Errorf("the other account's message is %s", got.Status)
			}
			if b := w.balance(); b != 95 {
				t.Errorf("balance %d, want 95 (the 7 credits of the deleted account's messages refunded)", b)
			}
			_, err := f.s.FindAccount(f.ctx, w.ref())
			wantCode(t, err, wagate.ENOTFOUND, "FindAccount after DeleteAccount")
			if _, err := f.s.FindChat(f.ctx, w.ws.ID, m1.ChatID); err != nil {
				t.Errorf("the deleted account's chat is gone: %v", err)
			}
			depths, err := f.s.QueueDepths(f.ctx, w.ws.ID)
			must(t, err, "QueueDepths")
			if len(depths) != 1 || depths[phone2] != 1 {
				t.Errorf("queue depths %v, want only %s: 1", depths, phone2)
			}
		}},
		{"queue depths count the queued messages of each account and not the failed", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			w.account(w.ws.ID, phone2, true)
			w.queued(jidA, 1)
			w.queued(jidB, 1)
			cancelled := w.queued(jidB, 1)
			w.queued(jidA, 1, func(a *wagate.Accept) { a.Message.AccountPhone = phone2 })
			_, err := cancelMessage(f, w.ws.ID, cancelled.ID, time.Time{})
			must(t, err, "CancelMessage")
			depths, err := f.s.QueueDepths(f.ctx, w.ws.ID)
			must(t, err, "QueueDepths")
			if len(depths) != 2 || depths[phone1] != 2 || depths[phone2] != 1 {
				t.Errorf("queue depths %v, want %s: 2 (not the cancelled one), %s: 1", depths, phone1, phone2)
			}
		}},
		{"a cancelled message is refunded once and cannot be cancelled again", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			m := w.queued(jidA, 7)
			f.clock.Advance(time.Minute)
			got, err := cancelMessage(f, w.ws.ID, m.ID, time.Time{})
			must(t, err, "CancelMessage")
			if got.Status != wagate.StatusFailed || got.Error != wagate.ErrorCancelled || len(got.Tries) != 1 || got.Tries[0].Class != wagate.TryClassCancelled {
				t.Errorf("cancelled %+v, want failed %q with a cancelled try", got, wagate.ErrorCancelled)
			}
			sameTime(t, w.message(m.ID).Tries[0].At, f.clock.Now(), "the cancelled try's time")
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d after the cancel, want 100", b)
			}
			_, err = cancelMessage(f, w.ws.ID, m.ID, time.Time{})
			wantCode(t, err, wagate.ECONFLICT, "CancelMessage again")
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d after a second cancel, want 100 (refunded once)", b)
			}
			other := newWorkspace(t, f.ctx, f.s, 1)
			_, err = cancelMessage(f, other.ID, m.ID, time.Time{})
			wantCode(t, err, wagate.ENOTFOUND, "CancelMessage through another workspace")
		}},
	}
}
