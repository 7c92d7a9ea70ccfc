package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

func attemptBehaviours[S MessageStore]() []behaviour[S] {
	return []behaviour[S]{
		{"the attempt log keeps the last 100, newest first", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			for i := range wagate.AttemptLimit + 5 {
				a := &wagate.Attempt{At: f.clock.Now(), RequestID: fmt.Sprint("r", i), Code: wagate.EINVALID, Message: "bad JSON", Body: "{"}
				must(t, f.s.RecordAttempt(f.ctx, w.ws.ID, a), "RecordAttempt")
			}
			list := w.attempts()
			if len(list) != wagate.AttemptLimit {
				t.Fatalf("%d attempts kept, want %d", len(list), wagate.AttemptLimit)
			}
			if list[0].RequestID != fmt.Sprint("r", wagate.AttemptLimit+4) || list[len(list)-1].RequestID != "r5" {
				t.Errorf("kept %s … %s, want r%d … r5", list[0].RequestID, list[len(list)-1].RequestID, wagate.AttemptLimit+4)
			}
			if list[0].Code != wagate.EINVALID || list[0].Message != "bad JSON" || list[0].Body != "{" {
				t.Errorf("attempt stored as %+v", list[0])
			}
			few, err := f.s.ListAttempts(f.ctx, w.ws.ID, 3)
			must(t, err, "ListAttempts limit 3")
			if len(few) != 3 || few[0].RequestID != list[0].RequestID {
				t.Errorf("limit 3: %d attempts", len(few))
			}
		}},
		{"attempts are per workspace", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 100)
			other := newWorkspace(t, f.ctx, f.s, 1)
			must(t, f.s.RecordAttempt(f.ctx, other.ID, &wagate.Attempt{At: f.clock.Now(), RequestID: "theirs"}), "RecordAttempt")
			if n := len(w.attempts()); n != 0 {
				t.Errorf("%d attempts of another workspace listed", n)
			}
			wantCode(t, f.s.RecordAttempt(f.ctx, "ws_0000000000000000", &wagate.Attempt{}), wagate.ENOTFOUND, "RecordAttempt in an unknown workspace")
			_, err := f.s.ListAttempts(f.ctx, "ws_0000000000000000", 0)
			wantCode(t, err, wagate.ENOTFOUND, "ListAttempts of an unknown workspace")
		}},
	}
}

// attemptQueueBehaviours are the attempt behaviours that need the sender's
// queue.
func attemptQueueBehaviours[S Store]() []behaviour[S] {
	return []behaviour[S]{
		{"attempts show their message's current status", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			sent, failed := w.queued(jidA, 1), w.queued(jidB, 1)
			must(t, f.s.MarkSending(f.ctx, sent.ID, f.clock.Now()), "MarkSending")
			must(t, f.s.MarkSent(f.ctx, sent.ID, wagate.Try{At: f.clock.Now()}), "MarkSent")
			must(t, f.s.MarkFailed(f.ctx, failed.ID, wagate.Try{At: f.clock.Now(), Error: "bad recipient"}), "MarkFailed")
			list := w.attempts()
			if len(list) != 2 {
				t.Fatalf("%d attempts, want 2", len(list))
			}
			if list[1].SendStatus != wagate.StatusSent || list[0].SendStatus != wagate.StatusFailed || list[0].SendError != "bad recipient" {
				t.Errorf("send status %q and %q (%q), want sent, and failed with its error", list[1].SendStatus, list[0].SendStatus, list[0].SendError)
			}
		}},
	}
}

// retryLater records a transient try of m and schedules the next in d.
func (w *world[S]) retryLater(id string, d time.Duration) {
	w.t.Helper()
	now := w.clock.Now()
	must(w.t, w.s.Retry(w.ctx, id, wagate.Try{At: now, Class: wagate.TryClassTransient, Error: "timeout"}, now.Add(d)), "Retry")
}

func (w *world[S]) sending(id string) {
	w.t.Helper()
	must(w.t, w.s.MarkSending(w.ctx, id, w.clock.Now()), "MarkSending")
}

func queueBehaviours[S Store]() []behaviour[S] {
	return []behaviour[S]{
		{"next returns queued messages in acceptance order, at most n", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			a, b, c := w.queued(jidA, 1), w.queued(jidB, 1), w.queued(jidA, 1)
			ids, due := w.next(10)
			equalIDs(t, ids, a.ID, b.ID, c.ID)
			if !due.IsZero() {
				t.Errorf("due %v with no retry waiting", due)
			}
			ids, _ = w.next(2)
			equalIDs(t, ids, a.ID, b.ID)
		}},
		{"an empty queue is nothing and no due time", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			msgs, due, err := f.s.Next(f.ctx, w.ref(), f.clock.Now(), 5)
			if msgs != nil || !due.IsZero() || err != nil {
				t.Errorf("Next of an empty queue: %v, %v, %v; want nil, zero, nil", msgs, due, err)
			}
		}},
		{"queued accounts lists every account with queued messages", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			w.account(w.ws.ID, phone2, true)
			other := newWorkspace(t, f.ctx, f.s, 10)
			w.account(other.ID, phone1, true)
			w.queued(jidA, 1)
			w.queued(jidA, 1, func(a *wagate.Accept) { a.WorkspaceID, a.InboundToken = other.ID, other.Webhook.Token })
			m := w.queued(jidA, 1, func(a *wagate.Accept) { a.Message.AccountPhone = phone2 })
			w.sending(m.ID)
			refs, err := f.s.QueuedAccounts(f.ctx)
			must(t, err, "QueuedAccounts")
			want := map[wagate.AccountRef]bool{w.ref(): true, {WorkspaceID: other.ID, Phone: phone1}: true}
			if len(refs) != 2 || !want[refs[0]] || !want[refs[1]] {
				t.Errorf("QueuedAccounts = %v, want %v (not the account whose only message is sending)", refs, want)
			}
			w.creditsAddUp(other.ID)
		}},
		{"mark sending takes the message out of its queue", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			a, b := w.queued(jidA, 1), w.queued(jidA, 1)
			w.sending(a.ID)
			ids, _ := w.next(10)
			equalIDs(t, ids, b.ID)
			if got := w.message(a.ID); got.Status != wagate.StatusSending {
				t.Errorf("status %s, want sending", got.Status)
			}
			list, err := f.s.Sending(f.ctx)
			must(t, err, "Sending")
			equalIDs(t, msgIDs(list), a.ID)
			depths, err := f.s.QueueDepths(f.ctx, w.ws.ID)
			must(t, err, "QueueDepths")
			if depths[phone1] != 1 {
				t.Errorf("queue depth %d, want 1", depths[phone1])
			}
		}},
		{"mark sending refuses a message that is not queued", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 1)
			w.sending(m.ID)
			wantCode(t, f.s.MarkSending(f.ctx, m.ID, f.clock.Now()), wagate.ECONFLICT, "MarkSending twice")
			wantCode(t, f.s.MarkSending(f.ctx, "wa_backend:00000000000000000000", f.clock.Now()), wagate.ENOTFOUND, "MarkSending an unknown id")
		}},
		{"mark sent records the try and the send time", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 2)
			w.sending(m.ID)
			at := f.clock.Now().Add(time.Second)
			must(t, f.s.MarkSent(f.ctx, m.ID, wagate.Try{At: at, ProviderID: "wamid.1"}), "MarkSent")
			got := w.message(m.ID)
			if got.Status != wagate.StatusSent || len(got.Tries) != 1 || got.Tries[0].ProviderID != "wamid.1" || got.Tries[0].Result != wagate.TryResultSent {
				t.Errorf("sent message %+v, want sent with one try carrying the provider id", got)
			}
			sameTime(t, got.SentAt, at, "SentAt")
			list, err := f.s.Sending(f.ctx)
			must(t, err, "Sending")
			if len(list) != 0 {
				t.Errorf("Sending lists %v after MarkSent", msgIDs(list))
			}
			must(t, f.s.MarkSent(f.ctx, m.ID, wagate.Try{At: at}), "MarkSent again (harmless)")
			if b := w.balance(); b != 98 {
				t.Errorf("balance %d, want 98", b)
			}
			wantCode(t, f.s.MarkSent(f.ctx, "wa_backend:00000000000000000000", wagate.Try{}), wagate.ENOTFOUND, "MarkSent of an unknown id")
		}},
		{"mark sent refuses a failed message", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 2)
			w.sending(m.ID)
			must(t, f.s.MarkFailed(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), Error: "gave up"}), "MarkFailed")
			wantCode(t, f.s.MarkSent(f.ctx, m.ID, wagate.Try{At: f.clock.Now()}), wagate.ECONFLICT, "MarkSent of a refunded message")
			if got := w.message(m.ID); got.Status != wagate.StatusFailed {
				t.Errorf("status %s, want failed", got.Status)
			}
		}},
		{"a retried message keeps its place and waits until due", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			a, b := w.queued(jidA, 1), w.queued(jidB, 1)
			w.sending(a.ID)
			w.retryLater(a.ID, time.Minute)
			got := w.message(a.ID)
			if got.Status != wagate.StatusQueued || got.Error != "timeout" || len(got.Tries) != 1 || got.Tries[0].Result != wagate.TryResultRetry {
				t.Errorf("retried message %+v, want queued with the try's error and one retry try", got)
			}
			sameTime(t, got.NextTryAt, f.clock.Now().Add(time.Minute), "NextTryAt")
			ids, due := w.next(10)
			equalIDs(t, ids, b.ID)
			sameTime(t, due, f.clock.Now().Add(time.Minute), "due")
			f.clock.Advance(time.Minute)
			ids, due = w.next(10)
			equalIDs(t, ids, a.ID, b.ID)
			if !due.IsZero() {
				t.Errorf("due %v once the retry is due", due)
			}
			w.sending(a.ID)
			must(t, f.s.MarkSent(f.ctx, a.ID, wagate.Try{At: f.clock.Now()}), "MarkSent")
			if got := w.message(a.ID); got.Error != "" || !got.NextTryAt.IsZero() {
				t.Errorf("sent after a retry: error %q next try %v, want both cleared", got.Error, got.NextTryAt)
			}
		}},
		{"next skips a retrying message and later ones to the same JID", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			a1, a2, b := w.queued(jidA, 1), w.queued(jidA, 1), w.queued(jidB, 1)
			w.sending(a1.ID)
			w.retryLater(a1.ID, time.Hour)
			ids, due := w.next(10)
			equalIDs(t, ids, b.ID)
			sameTime(t, due, f.clock.Now().Add(time.Hour), "due")
			if got := w.message(a2.ID); got.WaitingFor != a1.ID {
				t.Errorf("WaitingFor of the message behind the retry = %q, want %s", got.WaitingFor, a1.ID)
			}
			if got := w.message(b.ID); got.WaitingFor != "" {
				t.Errorf("WaitingFor of another recipient's message = %q", got.WaitingFor)
			}
			page, _, err := f.s.PageMessages(f.ctx, w.ws.ID, "", 10, "")
			must(t, err, "PageMessages")
			for _, m := range page {
				if m.ID == a2.ID && m.WaitingFor != a1.ID {
					t.Errorf("PageMessages: WaitingFor = %q, want %s", m.WaitingFor, a1.ID)
				}
			}
			f.clock.Advance(time.Hour)
			ids, _ = w.next(10)
			equalIDs(t, ids, a1.ID, a2.ID, b.ID)
		}},
		{"retry of a queued message keeps it queued in place", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			a, b := w.queued(jidA, 1), w.queued(jidB, 1)
			w.retryLater(a.ID, time.Minute) // its file did not download
			f.clock.Advance(time.Minute)
			ids, _ := w.next(10)
			equalIDs(t, ids, a.ID, b.ID)
		}},
		{"retry refuses a message already sent or failed", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			sent, failed := w.queued(jidA, 1), w.queued(jidA, 1)
			w.sending(sent.ID)
			must(t, f.s.MarkSent(f.ctx, sent.ID, wagate.Try{At: f.clock.Now()}), "MarkSent")
			must(t, f.s.MarkFailed(f.ctx, failed.ID, wagate.Try{At: f.clock.Now(), Error: "x"}), "MarkFailed")
			for _, id := range []string{sent.ID, failed.ID} {
				wantCode(t, f.s.Retry(f.ctx, id, wagate.Try{At: f.clock.Now()}, f.clock.Now()), wagate.ECONFLICT, "Retry")
			}
			wantCode(t, f.s.Retry(f.ctx, "wa_backend:00000000000000000000", wagate.Try{}, time.Time{}), wagate.ENOTFOUND, "Retry of an unknown id")
			if b := w.balance(); b != 99 {
				t.Errorf("balance %d, want 99", b)
			}
		}},
		{"a retry after the account was deleted fails and refunds instead", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 4)
			w.sending(m.ID)
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceSystem, time.Time{}), "DeleteAccount")
			must(t, f.s.Retry(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), Error: "timeout"}, f.clock.Now().Add(time.Minute)), "Retry")
			got := w.message(m.ID)
			if got.Status != wagate.StatusFailed || got.Error != errorAccountDeleted {
				t.Errorf("message %s %q, want failed %q", got.Status, got.Error, errorAccountDeleted)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100", b)
			}
		}},
		{"an account connected again with the same phone is another account", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 4)
			w.sending(m.ID)
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceSystem, time.Time{}), "DeleteAccount")
			f.clock.Advance(time.Minute)
			w.account(w.ws.ID, phone1, true)
			must(t, f.s.Retry(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), Error: "timeout"}, f.clock.Now()), "Retry")
			if got := w.message(m.ID); got.Status != wagate.StatusFailed || got.Error != errorAccountDeleted {
				t.Errorf("message %s %q, want failed %q: it must not slip into the new account's queue", got.Status, got.Error, errorAccountDeleted)
			}
			if ids, _ := w.next(10); len(ids) != 0 {
				t.Errorf("the new account's queue holds %v", ids)
			}
		}},
		{"MarkFailed refunds once", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 5)
			w.sending(m.ID)
			try := wagate.Try{At: f.clock.Now(), Class: wagate.TryClassPermanent, Error: "recipient is not on WhatsApp"}
			must(t, f.s.MarkFailed(f.ctx, m.ID, try), "MarkFailed")
			must(t, f.s.MarkFailed(f.ctx, m.ID, try), "MarkFailed again")
			got := w.message(m.ID)
			if got.Status != wagate.StatusFailed || got.Error != try.Error || len(got.Tries) != 1 || got.Tries[0].Result != wagate.TryResultFailed {
				t.Errorf("failed message %+v, want failed with the try's error and one try", got)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100 (refunded once)", b)
			}
			list, err := f.s.Sending(f.ctx)
			must(t, err, "Sending")
			if len(list) != 0 {
				t.Errorf("Sending lists a failed message")
			}
			wantCode(t, f.s.MarkFailed(f.ctx, "wa_backend:00000000000000000000", try), wagate.ENOTFOUND, "MarkFailed of an unknown id")
		}},
		{"racing final transitions refund once", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 5)
			w.sending(m.ID)
			var wg sync.WaitGroup
			for i := range 6 {
				wg.Go(func() {
					var err error
					switch i % 3 {
					case 0:
						err = f.s.MarkFailed(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), Error: "gave up"})
					case 1:
						_, err = f.s.RecoverSending(f.ctx, f.clock.Now())
					case 2:
						_, err = cancelMessage(f, w.ws.ID, m.ID, f.clock.Now())
						if wagate.ErrorCode(err) == wagate.ECONFLICT {
							err = nil // sending, or already failed: not cancellable
						}
					}
					if err != nil {
						t.Errorf("final transition %d: %v", i%3, err)
					}
				})
			}
			wg.Wait()
			if got := w.message(m.ID); got.Status != wagate.StatusFailed {
				t.Errorf("status %s, want failed", got.Status)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100 (refunded once)", b)
			}
		}},
		{"MarkFailed leaves a sent message sent and charged", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 5)
			w.sending(m.ID)
			must(t, f.s.MarkSent(f.ctx, m.ID, wagate.Try{At: f.clock.Now()}), "MarkSent")
			must(t, f.s.MarkFailed(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), Error: "late"}), "MarkFailed of a sent message")
			if got := w.message(m.ID); got.Status != wagate.StatusSent {
				t.Errorf("status %s, want sent", got.Status)
			}
			if b := w.balance(); b != 95 {
				t.Errorf("balance %d, want 95", b)
			}
		}},
		{"MarkFailed takes a queued message out of its queue", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.queued(jidA, 5)
			w.retryLater(m.ID, time.Hour)
			must(t, f.s.MarkFailed(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), Error: "file too large"}), "MarkFailed")
			f.clock.Advance(2 * time.Hour)
			if ids, _ := w.next(10); len(ids) != 0 {
				t.Errorf("Next shows %v", ids)
			}
			if got := w.message(m.ID); !got.NextTryAt.IsZero() {
				t.Errorf("a failed message keeps NextTryAt %v", got.NextTryAt)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100", b)
			}
		}},
		{"recover sending fails and refunds every message in sending, once", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			a, b, queued := w.queued(jidA, 2), w.queued(jidB, 3), w.queued(jidA, 1)
			w.sending(a.ID)
			w.sending(b.ID)
			at := f.clock.Now().Add(time.Second)
			n, err := f.s.RecoverSending(f.ctx, at)
			must(t, err, "RecoverSending")
			if n != 2 {
				t.Errorf("RecoverSending = %d, want 2", n)
			}
			for _, m := range []*wagate.Message{a, b} {
				got := w.message(m.ID)
				last := got.Tries[len(got.Tries)-1]
				if got.Status != wagate.StatusFailed || got.Error == "" || last.Class != wagate.TryClassInterrupted || !last.At.Equal(at) {
					t.Errorf("recovered %s: %s %q, last try %+v; want failed with an interrupted try at %v", m.ID, got.Status, got.Error, last, at)
				}
			}
			if got := w.message(queued.ID); got.Status != wagate.StatusQueued {
				t.Errorf("a queued message became %s", got.Status)
			}
			if bal := w.balance(); bal != 99 {
				t.Errorf("balance %d, want 99", bal)
			}
			n, err = f.s.RecoverSending(f.ctx, at)
			must(t, err, "RecoverSending again")
			if n != 0 {
				t.Errorf("RecoverSending again = %d, want 0", n)
			}
		}},
	}
}
