package storetest

import (
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// withKey sets the request's Idempotency-Key.
func withKey(key string) func(*wagate.Accept) {
	return func(a *wagate.Accept) { a.IdempotencyKey = key }
}

// withBody sets the hash of the request's body, so two requests can have
// the same one.
func withBody(body string) func(*wagate.Accept) {
	return func(a *wagate.Accept) { a.BodyHash = sha256.Sum256([]byte(body)) }
}

// attempts lists the world's attempt log, newest first.
func (w *messageWorld[S]) attempts() []*wagate.Attempt {
	w.t.Helper()
	list, err := w.s.ListAttempts(w.ctx, w.ws.ID, 0)
	must(w.t, err, "ListAttempts")
	return list
}

func (w *messageWorld[S]) messages() []*wagate.Message {
	w.t.Helper()
	list, err := w.s.ListMessages(w.ctx, w.ws.ID, "", 1000)
	must(w.t, err, "ListMessages")
	return list
}

// refused checks a client fault of Accept: its code, nothing charged or
// stored, and the attempt recorded with the code.
func (w *messageWorld[S]) refused(code string, opts ...func(*wagate.Accept)) {
	w.t.Helper()
	before, n := w.balance(), len(w.messages())
	attempts := len(w.attempts())
	res, a, err := w.send(jidA, 1, opts...)
	wantCode(w.t, err, code, "Accept")
	if res != nil {
		w.t.Errorf("a refused Accept returned a result: %+v", res)
	}
	if b := w.balance(); b != before {
		w.t.Errorf("balance %d after a refused Accept, want %d", b, before)
	}
	if got := len(w.messages()); got != n {
		w.t.Errorf("%d messages after a refused Accept, want %d", got, n)
	}
	list := w.attempts()
	if len(list) != attempts+1 {
		w.t.Fatalf("%d attempts after a refused Accept, want %d: the attempt is recorded whatever the outcome", len(list), attempts+1)
	}
	if list[0].Code != code || list[0].MessageID != "" || list[0].Credits != 0 || list[0].RequestID != a.Attempt.RequestID {
		w.t.Errorf("recorded attempt %+v, want code %q, no message, no credits", list[0], code)
	}
	if a.Attempt.Code != code || a.Attempt.Message == "" {
		w.t.Errorf("Accept filled the caller's attempt with code %q message %q, want %q and the error's message", a.Attempt.Code, a.Attempt.Message, code)
	}
}

func messageBehaviours[S MessageStore]() []behaviour[S] {
	return []behaviour[S]{
		{"accept creates the chat once and reuses it", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			first := w.queued(jidA, 1, func(a *wagate.Accept) { a.ChatName = "Ann" })
			again := w.queued(jidA, 1, func(a *wagate.Accept) { a.ChatName = "Other name" })
			if again.ChatID != first.ChatID {
				t.Errorf("a second message to the same JID made chat %d, want %d", again.ChatID, first.ChatID)
			}
			c, err := f.s.FindChat(f.ctx, w.ws.ID, first.ChatID)
			must(t, err, "FindChat")
			if c.Name != "Ann" || c.JID != jidA || c.AccountPhone != phone1 || c.Group {
				t.Errorf("the created chat is %+v, want Ann with %s, not a group", c, jidA)
			}
			g := w.queued(group, 1)
			gc, err := f.s.FindChat(f.ctx, w.ws.ID, g.ChatID)
			must(t, err, "FindChat group")
			if !gc.Group {
				t.Error("a chat made for a group JID is not a group")
			}
		}},
		{"accept to a chat id takes its account and recipient", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			w.account(w.ws.ID, phone2, true)
			c := &wagate.Chat{WorkspaceID: w.ws.ID, AccountPhone: phone2, JID: jidB, Name: "Bob"}
			must(t, f.s.CreateChat(f.ctx, c), "CreateChat")
			m := w.queued("", 1, func(a *wagate.Accept) { a.Message.ChatID, a.Message.AccountPhone = c.ID, "" })
			if m.ChatID != c.ID || m.AccountPhone != phone2 || m.JID != jidB {
				t.Errorf("accepted to chat %d: account %s jid %s chat %d", c.ID, m.AccountPhone, m.JID, m.ChatID)
			}
		}},
		{"a replay with the same key commits only the attempt", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			first := w.queued(jidA, 3, withKey("order-1"), withBody("same"))
			f.clock.Advance(time.Hour)
			res, a, err := w.send(jidA, 3, withKey("order-1"), withBody("same"))
			must(t, err, "Accept replay")
			if !res.Replayed || res.Message.ID != first.ID || res.Balance != 97 {
				t.Errorf("replay: replayed=%v message %s balance %d, want the first message %s and 97", res.Replayed, res.Message.ID, res.Balance, first.ID)
			}
			if b := w.balance(); b != 97 {
				t.Errorf("balance %d, want 97: a replay is not charged", b)
			}
			if n := len(w.messages()); n != 1 {
				t.Errorf("%d messages, want 1", n)
			}
			list := w.attempts()
			if len(list) != 2 || list[0].MessageID != first.ID || list[0].Credits != 0 || list[0].Code != "" {
				t.Errorf("attempts %+v, want the replay recorded with the first message and 0 credits", list)
			}
			if a.Attempt.MessageID != first.ID || a.Attempt.Credits != 0 {
				t.Errorf("the caller's attempt: %+v", a.Attempt)
			}
			_, err = f.s.FindMessage(f.ctx, w.ws.ID, a.Message.ID)
			wantCode(t, err, wagate.ENOTFOUND, "the replay's own message id")
		}},
		{"racing first uses of one key charge once", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			results := make([]*wagate.AcceptResult, 8)
			var wg sync.WaitGroup
			for i := range results {
				wg.Go(func() {
					res, _, err := w.send(jidA, 3, withKey("order-1"), withBody("same"))
					if err != nil {
						t.Errorf("Accept: %v", err)
					}
					results[i] = res
				})
			}
			wg.Wait()
			firsts := 0
			for _, r := range results {
				if r != nil && !r.Replayed {
					firsts++
				}
				if r != nil && r.Message.ID != results[0].Message.ID {
					t.Errorf("racing uses of one key answered %s and %s", r.Message.ID, results[0].Message.ID)
				}
			}
			if firsts != 1 || w.balance() != 97 || len(w.messages()) != 1 {
				t.Errorf("%d first accepts, balance %d, %d messages; want 1, 97, 1", firsts, w.balance(), len(w.messages()))
			}
			if n := len(w.attempts()); n != len(results) {
				t.Errorf("%d attempts, want %d", n, len(results))
			}
		}},
		{"racing accepts never overdraw the balance", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			var (
				mu       sync.Mutex
				accepted int
				wg       sync.WaitGroup
			)
			for range 8 {
				wg.Go(func() {
					_, _, err := w.send(jidA, 3)
					switch wagate.ErrorCode(err) {
					case "":
						mu.Lock()
						accepted++
						mu.Unlock()
					case wagate.ECREDITS:
					default:
						t.Errorf("Accept: %v", err)
					}
				})
			}
			wg.Wait()
			if accepted != 3 || w.balance() != 1 {
				t.Errorf("%d accepted of 3 credits each on 10, balance %d; want 3 and 1", accepted, w.balance())
			}
		}},
		{"a key reused with another body is refused", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			w.queued(jidA, 3, withKey("order-1"), withBody("one"))
			w.refused(wagate.EIDEMPOTENCY, withKey("order-1"), withBody("two"))
		}},
		{"an idempotency key is fresh again after 24 hours", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			first := w.queued(jidA, 3, withKey("order-1"), withBody("same"))
			f.clock.Advance(24*time.Hour - time.Second)
			res, _, err := w.send(jidA, 3, withKey("order-1"), withBody("same"))
			must(t, err, "Accept within the window")
			if !res.Replayed {
				t.Error("within 24 h the key did not replay")
			}
			f.clock.Advance(time.Second)
			second := w.queued(jidA, 3, withKey("order-1"), withBody("another"))
			if second.ID == first.ID {
				t.Fatal("after 24 h the key still answered the first message")
			}
			if b := w.balance(); b != 94 {
				t.Errorf("balance %d, want 94 (charged twice)", b)
			}
			res, _, err = w.send(jidA, 3, withKey("order-1"), withBody("another"))
			must(t, err, "Accept")
			if !res.Replayed || res.Message.ID != second.ID {
				t.Error("the renewed key does not replay its new message")
			}
		}},
		{"Replay of a key is a new key from 24 hours on and records nothing", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			first := w.queued(jidA, 3, withKey("order-1"), withBody("same"))
			before := len(w.attempts())
			// A microsecond: the finest time every backend stores.
			f.clock.Advance(wagate.IdempotencyWindow - time.Microsecond)
			m, err := f.s.Replay(f.ctx, w.ws.ID, "order-1", sha256.Sum256([]byte("same")), &wagate.Attempt{At: f.clock.Now(), RequestID: "r1"})
			if err != nil || m == nil || m.ID != first.ID {
				t.Fatalf("Replay just within the window = %v, %v; want the first message %s", m, err, first.ID)
			}
			f.clock.Advance(time.Microsecond)
			for _, body := range []string{"same", "another"} {
				m, err = f.s.Replay(f.ctx, w.ws.ID, "order-1", sha256.Sum256([]byte(body)), &wagate.Attempt{At: f.clock.Now(), RequestID: "late " + body})
				if m != nil || err != nil {
					t.Errorf("Replay with body %q after the window = %v, %v; want nil, nil: a new key", body, m, err)
				}
			}
			if n := len(w.attempts()) - before; n != 1 {
				t.Errorf("%d attempts written, want the replay's only: Accept records a new key's", n)
			}
		}},
		{"idempotency keys are per workspace", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			w.queued(jidA, 3, withKey("order-1"), withBody("same"))
			other := newWorkspace(t, f.ctx, f.s, 10)
			w.account(other.ID, phone1, true)
			res, _, err := w.send(jidA, 3, withKey("order-1"), withBody("same"), func(a *wagate.Accept) {
				a.WorkspaceID, a.InboundToken = other.ID, other.Webhook.Token
			})
			must(t, err, "Accept in another workspace")
			if res.Replayed || res.Balance != 7 {
				t.Errorf("another workspace's key replayed=%v balance=%d, want a new message and 7", res.Replayed, res.Balance)
			}
		}},
		{"replay answers a known key before validation and records the attempt", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			hash := sha256.Sum256([]byte("same"))
			m, err := f.s.Replay(f.ctx, w.ws.ID, "order-1", hash, &wagate.Attempt{At: f.clock.Now(), RequestID: "r0"})
			if m != nil || err != nil {
				t.Fatalf("Replay of a new key: %v, %v; want nil, nil", m, err)
			}
			if n := len(w.attempts()); n != 0 {
				t.Errorf("Replay of a new key wrote %d attempts", n)
			}
			first := w.queued(jidA, 3, withKey("order-1"), withBody("same"))
			// The account goes off: a replay still gets the first answer.
			_, err = f.s.SetAccountActive(f.ctx, w.ref(), false)
			must(t, err, "SetAccountActive")
			att := &wagate.Attempt{At: f.clock.Now(), RequestID: "r1"}
			m, err = f.s.Replay(f.ctx, w.ws.ID, "order-1", hash, att)
			must(t, err, "Replay")
			if m == nil || m.ID != first.ID || att.MessageID != first.ID {
				t.Fatalf("Replay answered %v (attempt message %q), want %s", m, att.MessageID, first.ID)
			}
			_, err = f.s.Replay(f.ctx, w.ws.ID, "order-1", sha256.Sum256([]byte("other")), &wagate.Attempt{At: f.clock.Now(), RequestID: "r2"})
			wantCode(t, err, wagate.EIDEMPOTENCY, "Replay with another body")
			list := w.attempts()
			if len(list) != 3 || list[1].RequestID != "r1" || list[1].MessageID != first.ID || list[1].Credits != 0 ||
				list[0].RequestID != "r2" || list[0].Code != wagate.EIDEMPOTENCY {
				t.Errorf("attempt log after two replays: %+v", list)
			}
			if b := w.balance(); b != 97 {
				t.Errorf("balance %d, want 97", b)
			}
		}},
		{"too few credits are refused and nothing is charged", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 2)
			w.refused(wagate.ECREDITS, func(a *wagate.Accept) { a.Message.Credits = 3 })
			if !strings.Contains(w.attempts()[0].Message, "3") {
				t.Errorf("the credits error %q does not say how many are needed", w.attempts()[0].Message)
			}
			w.queued(jidA, 2) // exactly the balance is enough
			if b := w.balance(); b != 0 {
				t.Errorf("balance %d, want 0", b)
			}
		}},
		{"accept on a disabled inbound URL is refused", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			_, err := f.s.SetWebhookEnabled(f.ctx, w.ws.ID, false)
			must(t, err, "SetWebhookEnabled")
			w.refused(wagate.EDISABLED)
			// A request not from the inbound URL skips the check.
			w.queued(jidA, 1, func(a *wagate.Accept) { a.InboundToken = "" })
		}},
		{"accept with a regenerated token is not found and records nothing", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			old := w.ws.Webhook.Token
			_, err := f.s.RegenerateWebhook(f.ctx, w.ws.ID, newToken(t), time.Time{})
			must(t, err, "RegenerateWebhook")
			_, _, err = w.send(jidA, 1, func(a *wagate.Accept) { a.InboundToken = old })
			wantCode(t, err, wagate.ENOTFOUND, "Accept on the old token")
			if n := len(w.attempts()); n != 0 {
				t.Errorf("%d attempts recorded for a regenerated token, want none", n)
			}
			_, _, err = w.send(jidA, 1, func(a *wagate.Accept) { a.WorkspaceID = "ws_0000000000000000" })
			wantCode(t, err, wagate.ENOTFOUND, "Accept for an unknown workspace")
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100", b)
			}
		}},
		{"accept from an unknown or inactive account or to an unknown chat is invalid", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			w.refused(wagate.EINVALID, func(a *wagate.Accept) { a.Message.AccountPhone = phone2 })
			w.refused(wagate.EINVALID, func(a *wagate.Accept) { a.Message.ChatID, a.Message.JID = 999, "" })
			_, err := f.s.SetAccountActive(f.ctx, w.ref(), false)
			must(t, err, "SetAccountActive")
			w.refused(wagate.EINVALID)
		}},
		{"paging messages walks every message once, newest first", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			var want []string
			for range 7 {
				want = append([]string{w.queued(jidA, 1).ID}, want...)
				f.clock.Advance(time.Millisecond)
			}
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 7 {
					t.Fatal("paging does not end")
				}
				page, next, err := f.s.PageMessages(f.ctx, w.ws.ID, "", 3, cursor)
				must(t, err, "PageMessages")
				if len(page) > 3 {
					t.Fatalf("a page of limit 3 holds %d", len(page))
				}
				got = append(got, msgIDs(page)...)
				if next == "" {
					break
				}
				cursor = next
			}
			equalIDs(t, got, want...)
			page, _, err := f.s.PageMessages(f.ctx, w.ws.ID, wagate.StatusFailed, 3, "")
			must(t, err, "PageMessages failed")
			if len(page) != 0 {
				t.Errorf("%d failed messages, want none", len(page))
			}
			_, _, err = f.s.PageMessages(f.ctx, w.ws.ID, "", 3, "not-a-cursor!")
			wantCode(t, err, wagate.EINVALID, "PageMessages with a cursor never handed out")
		}},
		{"an accept to a new recipient past --max-chats is refused and recorded, and known chats still work", func(t *testing.T, f *fixture[S]) {
			f.maxChats = 1
			f.reopen()
			w := newMessageWorld(f, 100)
			first := w.queued(jidA, 1)
			w.refused(wagate.ECONFLICT, func(a *wagate.Accept) { a.Message.JID = jidB })
			if list := w.attempts(); !strings.Contains(list[0].Message, "--max-chats 1") {
				t.Errorf("the refusal %q does not name --max-chats", list[0].Message)
			}
			again := w.queued(jidA, 1)
			if again.ChatID != first.ChatID {
				t.Errorf("chat %d, want the known chat %d", again.ChatID, first.ChatID)
			}
		}},
		{"a message of another workspace is not found", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			m := w.queued(jidA, 1)
			other := newWorkspace(t, f.ctx, f.s, 1)
			_, err := f.s.FindMessage(f.ctx, other.ID, m.ID)
			wantCode(t, err, wagate.ENOTFOUND, "FindMessage through another workspace")
			_, err = cancelMessage(f, other.ID, m.ID, time.Time{})
			wantCode(t, err, wagate.ENOTFOUND, "CancelMessage through another workspace")
			_, err = f.s.FindMessage(f.ctx, w.ws.ID, "wa_backend:00000000000000000000")
			wantCode(t, err, wagate.ENOTFOUND, "FindMessage of an unknown id")
			if got := w.message(m.ID); got.Status != wagate.StatusQueued {
				t.Errorf("the message is %s after another workspace's cancel", got.Status)
			}
		}},
	}
}

// messageQueueBehaviours are the behaviours that also need the sender's queue.
func messageQueueBehaviours[S Store]() []behaviour[S] {
	return []behaviour[S]{
		{"accept charges and enqueues in one commit", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			res, a, err := w.send(jidA, 3)
			must(t, err, "Accept")
			if res.Replayed || res.Balance != 97 {
				t.Errorf("result replayed=%v balance=%d, want a first accept and 97", res.Replayed, res.Balance)
			}
			m := res.Message
			if m.ID != a.Message.ID || m.Status != wagate.StatusQueued || m.ChatID == 0 || m.WorkspaceID != w.ws.ID || m.Credits != 3 || m.Text != a.Message.Text {
				t.Errorf("accepted %+v, want it queued with a chat", m)
			}
			if b := w.balance(); b != 97 {
				t.Errorf("stored balance %d, want 97", b)
			}
			got := w.message(m.ID)
			if got.Status != wagate.StatusQueued || got.JID != jidA || got.AccountPhone != phone1 || got.ChatID != m.ChatID {
				t.Errorf("stored %+v", got)
			}
			sameTime(t, got.CreatedAt, a.Message.CreatedAt, "CreatedAt")
			ids, _ := w.next(10)
			equalIDs(t, ids, m.ID)
			if a.Attempt.Code != "" || a.Attempt.MessageID != m.ID || a.Attempt.Credits != 3 {
				t.Errorf("the caller's attempt was filled with %+v", a.Attempt)
			}
			list := w.attempts()
			if len(list) != 1 || list[0].MessageID != m.ID || list[0].Credits != 3 || list[0].Code != "" || list[0].Body != a.Attempt.Body {
				t.Errorf("attempt log %+v, want the one accepted attempt", list)
			}
		}},
		{"a message and its attempt keep every field", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			res, a, err := w.send(group, 4, func(a *wagate.Accept) {
				a.Message.Text = "Héllo 👋\nline two"
				a.Message.FileURL = "https://files.example.com/a.pdf"
				a.Message.FileName = "a.pdf"
				a.Attempt.RemoteAddr = "203.0.113.7"
				a.Attempt.Warnings = []string{`unknown field "fileurl"; did you mean "file_url"?`}
			})
			must(t, err, "Accept")
			got := w.message(res.Message.ID)
			want := a.Message
			if got.Text != want.Text || got.FileURL != want.FileURL || got.FileName != want.FileName || got.JID != group || got.Credits != 4 || got.WorkspaceID != w.ws.ID {
				t.Errorf("stored message %+v, want the fields of %+v", got, want)
			}
			try := wagate.Try{At: f.clock.Now().Add(time.Second), Result: wagate.TryResultRetry, Class: wagate.TryClassRateLimited, Error: "slow down"}
			w.sending(got.ID)
			must(t, f.s.Retry(f.ctx, got.ID, try, try.At.Add(time.Minute)), "Retry")
			got = w.message(got.ID)
			if len(got.Tries) != 1 || got.Tries[0].Class != try.Class || got.Tries[0].Error != try.Error || got.Tries[0].Result != try.Result || !got.Tries[0].At.Equal(try.At) {
				t.Errorf("stored tries %+v, want [%+v]", got.Tries, try)
			}
			list := w.attempts()
			if len(list) != 1 {
				t.Fatalf("%d attempts", len(list))
			}
			at := list[0]
			if at.RequestID != a.Attempt.RequestID || at.RemoteAddr != "203.0.113.7" || at.ContentType != "application/json" || at.Body != a.Attempt.Body ||
				len(at.Warnings) != 1 || at.Warnings[0] != a.Attempt.Warnings[0] || !at.At.Equal(a.Attempt.At) {
				t.Errorf("stored attempt %+v, want the fields of %+v", at, a.Attempt)
			}
			if at.SendStatus != wagate.StatusQueued || at.SendError != "slow down" {
				t.Errorf("attempt send status %q %q, want queued with the retry's error", at.SendStatus, at.SendError)
			}
		}},
		{"messages are listed newest first and filtered by status", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			var all []string
			for range 4 {
				all = append(all, w.queued(jidA, 1).ID)
				f.clock.Advance(time.Millisecond)
			}
			must(t, f.s.MarkSending(f.ctx, all[1], f.clock.Now()), "MarkSending")
			must(t, f.s.MarkSent(f.ctx, all[1], wagate.Try{At: f.clock.Now(), ProviderID: "p1"}), "MarkSent")
			list, err := f.s.ListMessages(f.ctx, w.ws.ID, "", 0)
			must(t, err, "ListMessages")
			equalIDs(t, msgIDs(list), all[3], all[2], all[1], all[0])
			list, err = f.s.ListMessages(f.ctx, w.ws.ID, "", 2)
			must(t, err, "ListMessages limit 2")
			equalIDs(t, msgIDs(list), all[3], all[2])
			list, err = f.s.ListMessages(f.ctx, w.ws.ID, wagate.StatusSent, 0)
			must(t, err, "ListMessages sent")
			equalIDs(t, msgIDs(list), all[1])
			_, err = f.s.ListMessages(f.ctx, w.ws.ID, "delivered", 0)
			wantCode(t, err, wagate.EINVALID, "ListMessages with an unknown status")
		}},
		{"cancel fails a queued message, refunds it once and keeps it from the sender", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 3)
			at := f.clock.Now().Add(time.Minute)
			got, err := cancelMessage(f, w.ws.ID, m.ID, at)
			must(t, err, "CancelMessage")
			if got.Status != wagate.StatusFailed || got.Error != wagate.ErrorCancelled {
				t.Errorf("cancelled message is %s %q, want failed %q", got.Status, got.Error, wagate.ErrorCancelled)
			}
			if n := len(got.Tries); n == 0 || got.Tries[n-1].Class != wagate.TryClassCancelled || !got.Tries[n-1].At.Equal(at) {
				t.Errorf("tries %+v, want a cancelled try at %v", got.Tries, at)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100", b)
			}
			_, err = cancelMessage(f, w.ws.ID, m.ID, at)
			wantCode(t, err, wagate.ECONFLICT, "cancelling it again")
			wantCode(t, f.s.MarkSending(f.ctx, m.ID, at), wagate.ECONFLICT, "MarkSending a cancelled message")
			if ids, _ := w.next(10); len(ids) != 0 {
				t.Errorf("Next still shows %v", ids)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100 (refunded once)", b)
			}
		}},
		{"a message waiting for its retry can be cancelled", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 3)
			must(t, f.s.MarkSending(f.ctx, m.ID, f.clock.Now()), "MarkSending")
			must(t, f.s.Retry(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), Error: "timeout"}, f.clock.Now().Add(time.Hour)), "Retry")
			_, err := cancelMessage(f, w.ws.ID, m.ID, time.Time{})
			must(t, err, "CancelMessage")
			f.clock.Advance(2 * time.Hour)
			if ids, _ := w.next(10); len(ids) != 0 {
				t.Errorf("the cancelled retry is still in the queue: %v", ids)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100", b)
			}
		}},
		{"cancel refuses a message sending, sent or failed", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			sending, sent, failed := w.queued(jidA, 1), w.queued(jidA, 1), w.queued(jidA, 1)
			must(t, f.s.MarkSending(f.ctx, sending.ID, f.clock.Now()), "MarkSending")
			must(t, f.s.MarkSending(f.ctx, sent.ID, f.clock.Now()), "MarkSending")
			must(t, f.s.MarkSent(f.ctx, sent.ID, wagate.Try{At: f.clock.Now()}), "MarkSent")
			must(t, f.s.MarkFailed(f.ctx, failed.ID, wagate.Try{At: f.clock.Now(), Error: "bad recipient"}), "MarkFailed")
			for _, m := range []*wagate.Message{sending, sent, failed} {
				_, err := cancelMessage(f, w.ws.ID, m.ID, time.Time{})
				wantCode(t, err, wagate.ECONFLICT, "CancelMessage of a "+string(w.message(m.ID).Status)+" message")
			}
			if b := w.balance(); b != 98 {
				t.Errorf("balance %d, want 98 (only the failed message refunded)", b)
			}
		}},
	}
}
