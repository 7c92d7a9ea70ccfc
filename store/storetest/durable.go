package storetest

import (
	"crypto/sha256"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

func reopenBehaviours[S Store]() []behaviour[S] {
	return []behaviour[S]{
		{"everything committed survives a reopen", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			support := mustWorkspaceToken(t, (*fixture[S])(f), w.ws.ID, wagate.RoleSupport)
			key := sessionFor(t, f, support.Hash, w.ws.ID, wagate.RoleSupport)
			must(t, f.s.RecordTokenUse(f.ctx, support.Hash, f.clock.Now()), "RecordTokenUse")
			c := &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: jidB, Name: "Bob"}
			must(t, f.s.CreateChat(f.ctx, c), "CreateChat")
			retrying := w.queued(jidA, 1, withKey("k1"), withBody("b1"))
			behind := w.queued(jidA, 1)
			other := w.queued(jidB, 1)
			inFlight := w.queued(jidB, 1)
			sent := w.sentWith("wamid.9", 2)
			w.sending(retrying.ID)
			w.retryLater(retrying.ID, time.Hour)
			w.sending(inFlight.ID)
			must(t, f.s.RecordAttempt(f.ctx, w.ws.ID, &wagate.Attempt{At: f.clock.Now(), RequestID: "bad-json", Code: wagate.EINVALID}), "RecordAttempt")
			_, err := f.s.SetWebhookEnabled(f.ctx, w.ws.ID, false)
			must(t, err, "SetWebhookEnabled")
			before := w.balance()

			f.reopen()

			if b := w.balance(); b != before {
				t.Errorf("balance %d after reopen, want %d", b, before)
			}
			ws, err := f.s.FindWorkspaceByInboundToken(f.ctx, w.ws.Webhook.Token)
			must(t, err, "FindWorkspaceByInboundToken")
			if ws.Webhook.Enabled || len(ws.Accounts) != 1 {
				t.Errorf("after reopen: enabled=%v, %d accounts", ws.Webhook.Enabled, len(ws.Accounts))
			}
			tk, err := f.s.FindToken(f.ctx, support.Hash)
			must(t, err, "FindToken")
			if tk.LastUsedAt.IsZero() || tk.Role != wagate.RoleSupport {
				t.Errorf("token after reopen: %+v", tk)
			}
			if !alive(t, f, key) {
				t.Error("the console session did not survive the reopen")
			}
			got, err := f.s.FindChat(f.ctx, w.ws.ID, c.ID)
			must(t, err, "FindChat")
			if got.Name != "Bob" {
				t.Errorf("chat %+v", got)
			}
			ids, due := w.next(10)
			equalIDs(t, ids, other.ID)
			sameTime(t, due, f.clock.Now().Add(time.Hour), "the retry's due time after reopen")
			if m := w.message(behind.ID); m.WaitingFor != retrying.ID {
				t.Errorf("WaitingFor after reopen = %q", m.WaitingFor)
			}
			list, err := f.s.Sending(f.ctx)
			must(t, err, "Sending")
			equalIDs(t, msgIDs(list), inFlight.ID)
			if m := w.message(sent.ID); m.Status != wagate.StatusSent || m.Tries[0].ProviderID != "wamid.9" {
				t.Errorf("sent message after reopen: %+v", m)
			}
			_, applied, err := f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.9", Status: "read"}, forward)
			if err != nil || !applied {
				t.Errorf("a delivery report after reopen: applied=%v err=%v", applied, err)
			}
			m, err := f.s.Replay(f.ctx, w.ws.ID, "k1", sha256.Sum256([]byte("b1")), &wagate.Attempt{At: f.clock.Now()})
			must(t, err, "Replay")
			if m == nil || m.ID != retrying.ID {
				t.Errorf("the idempotency key did not survive the reopen: %v", m)
			}
			if n := len(w.attempts()); n != 7 {
				t.Errorf("%d attempts after reopen, want 7 (5 accepts, 1 bad request, 1 replay)", n)
			}
			f.clock.Advance(time.Hour)
			ids, _ = w.next(10)
			equalIDs(t, ids, retrying.ID, behind.ID, other.ID)
		}},
		{"a message left sending is recovered after a reopen", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 3)
			w.sending(m.ID)
			f.reopen()
			n, err := f.s.RecoverSending(f.ctx, time.Time{})
			must(t, err, "RecoverSending")
			if n != 1 {
				t.Errorf("RecoverSending = %d, want 1", n)
			}
			if got := w.message(m.ID); got.Status != wagate.StatusFailed {
				t.Errorf("status %s, want failed", got.Status)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100", b)
			}
		}},
	}
}

// failing runs fn with every write failing, then switches the fault off.
func (f *fixture[S]) failing(fn func()) {
	f.faults.set(syscall.ENOSPC)
	defer f.faults.set(nil)
	fn()
}

// unavailable checks a write that failed at commit.
func unavailable(t *testing.T, err error, what string) {
	t.Helper()
	wantCode(t, err, wagate.EUNAVAILABLE, what+" while writes fail")
}

func faultBehaviours[S Store]() []behaviour[S] {
	return []behaviour[S]{
		{"a failed accept commit leaves nothing, not even the attempt", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			var a *wagate.Accept
			f.failing(func() {
				var err error
				_, a, err = w.send(jidA, 3, withKey("k"), withBody("b"))
				unavailable(t, err, "Accept")
			})
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100", b)
			}
			if n := len(w.messages()); n != 0 {
				t.Errorf("%d messages", n)
			}
			if n := len(w.attempts()); n != 0 {
				t.Errorf("%d attempts", n)
			}
			if chats, _ := f.s.ListChats(f.ctx, w.ws.ID, ""); len(chats) != 0 {
				t.Errorf("%d chats", len(chats))
			}
			if ids, _ := w.next(10); len(ids) != 0 {
				t.Errorf("queue holds %v", ids)
			}
			_, err := f.s.FindMessage(f.ctx, w.ws.ID, a.Message.ID)
			wantCode(t, err, wagate.ENOTFOUND, "the message of the failed accept")
			// The key was not taken: the client's retry is a first accept.
			res, _, err := w.send(jidA, 3, withKey("k"), withBody("b"))
			must(t, err, "Accept after the fault")
			if res.Replayed || res.Balance != 97 {
				t.Errorf("the retry after a failed commit: replayed=%v balance %d, want a first accept", res.Replayed, res.Balance)
			}
		}},
		{"failed state changes of the sender leave the message as it was", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			queued, sending := w.queued(jidA, 2), w.queued(jidB, 3)
			w.sending(sending.ID)
			now := f.clock.Now()
			f.failing(func() {
				unavailable(t, f.s.MarkSending(f.ctx, queued.ID, now), "MarkSending")
				unavailable(t, f.s.MarkSent(f.ctx, sending.ID, wagate.Try{At: now, ProviderID: "wamid.x"}), "MarkSent")
				unavailable(t, f.s.Retry(f.ctx, sending.ID, wagate.Try{At: now}, now.Add(time.Hour)), "Retry")
				unavailable(t, f.s.MarkFailed(f.ctx, sending.ID, wagate.Try{At: now, Error: "x"}), "MarkFailed")
				_, err := f.s.RecoverSending(f.ctx, now)
				unavailable(t, err, "RecoverSending")
				_, err = cancelMessage(f, w.ws.ID, queued.ID, now)
				unavailable(t, err, "CancelMessage")
			})
			if got := w.message(queued.ID); got.Status != wagate.StatusQueued || len(got.Tries) != 0 {
				t.Errorf("queued message became %s with %d tries", got.Status, len(got.Tries))
			}
			if got := w.message(sending.ID); got.Status != wagate.StatusSending || len(got.Tries) != 0 {
				t.Errorf("sending message became %s with %d tries", got.Status, len(got.Tries))
			}
			if b := w.balance(); b != 95 {
				t.Errorf("balance %d, want 95: nothing refunded", b)
			}
			_, _, err := f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.x", Status: "read"}, forward)
			wantCode(t, err, wagate.ENOTFOUND, "the provider id of the failed MarkSent")
		}},
		{"failed admin writes change nothing", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			support := mustWorkspaceToken(t, f, w.ws.ID, wagate.RoleSupport)
			key := sessionFor(t, f, support.Hash, w.ws.ID, wagate.RoleSupport)
			id, err := wagate.NewWorkspaceID(randSource)
			must(t, err, "NewWorkspaceID")
			newOwner := &wagate.Token{Hash: wagate.HashToken(newToken(t)), WorkspaceID: id, Role: wagate.RoleOwner}
			f.failing(func() {
				unavailable(t, f.s.CreateWorkspace(f.ctx, &wagate.Workspace{ID: id, Name: "x", Webhook: wagate.Webhook{Token: newToken(t), Enabled: true}}, newOwner), "CreateWorkspace")
				_, err := f.s.AddCredits(f.ctx, w.ws.ID, 50)
				unavailable(t, err, "AddCredits")
				_, err = f.s.RegenerateWebhook(f.ctx, w.ws.ID, newToken(t), time.Time{})
				unavailable(t, err, "RegenerateWebhook")
				_, err = f.s.SetWebhookEnabled(f.ctx, w.ws.ID, false)
				unavailable(t, err, "SetWebhookEnabled")
				unavailable(t, f.s.CreateAccount(f.ctx, &wagate.Account{WorkspaceID: w.ws.ID, Phone: phone2, Transport: wagate.TransportDryrun}), "CreateAccount")
				_, err = f.s.SetAccountActive(f.ctx, w.ref(), false)
				unavailable(t, err, "SetAccountActive")
				unavailable(t, f.s.CreateChat(f.ctx, &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone1, JID: jidA}), "CreateChat")
				unavailable(t, f.s.RevokeToken(f.ctx, w.ws.ID, support.ID), "RevokeToken")
				unavailable(t, f.s.CreateToken(f.ctx, operatorToken(t)), "CreateToken")
				unavailable(t, f.s.DeleteSession(f.ctx, key), "DeleteSession")
				unavailable(t, f.s.RecordAttempt(f.ctx, w.ws.ID, &wagate.Attempt{RequestID: "x"}), "RecordAttempt")
				unavailable(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceSystem, time.Time{}), "DeleteAccount")
			})
			_, err = f.s.FindWorkspace(f.ctx, id)
			wantCode(t, err, wagate.ENOTFOUND, "the workspace of the failed create")
			_, err = f.s.FindToken(f.ctx, newOwner.Hash)
			wantCode(t, err, wagate.ENOTFOUND, "the owner token of the failed create")
			ws, err := f.s.FindWorkspaceByInboundToken(f.ctx, w.ws.Webhook.Token)
			must(t, err, "the inbound token after the failed regenerate")
			if ws.Credits != 100 || ws.Granted != 100 || !ws.Webhook.Enabled || len(ws.Accounts) != 1 || !ws.Accounts[0].Active {
				t.Errorf("workspace after failed writes: credits %d granted %d enabled %v accounts %d", ws.Credits, ws.Granted, ws.Webhook.Enabled, len(ws.Accounts))
			}
			if chats, _ := f.s.ListChats(f.ctx, w.ws.ID, ""); len(chats) != 0 {
				t.Errorf("%d chats", len(chats))
			}
			if _, err := f.s.FindToken(f.ctx, support.Hash); err != nil {
				t.Errorf("the support token after the failed revoke: %v", err)
			}
			if !alive(t, f, key) {
				t.Error("the session ended by a failed write")
			}
			if n := len(w.attempts()); n != 0 {
				t.Errorf("%d attempts", n)
			}
		}},
		{"a cancelled caller writes nothing", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			ctx, cancel := contextCancelled(f)
			defer cancel()
			orig := f.ctx
			f.ctx = ctx
			_, _, err := w.send(jidA, 3)
			f.ctx = orig
			unavailable(t, err, "Accept with a cancelled context")
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d", b)
			}
			if n := len(w.attempts()); n != 0 {
				t.Errorf("%d attempts", n)
			}
		}},
	}
}
