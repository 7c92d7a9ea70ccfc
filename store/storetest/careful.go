package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// CarefulStore is what RunCareful needs: a whole store that also takes
// batches (wagate.BatchAccepter) and counts why queued messages wait, for
// the console (wagate.WaitingReporter) and the /metrics gauges.
type CarefulStore interface {
	Store
	wagate.BatchAccepter
	wagate.WaitingReporter
	// WaitingCounts counts the queued messages of the instance that wait
	// for their send_at or a careful-sending rule, by wagate.Waiting…
	// reason (wagate_messages_waiting).
	WaitingCounts(ctx context.Context) (map[string]int, error)
	// QueuedTotal counts every queued message of the instance, scheduled
	// ones included (wagate_queue_depth).
	QueuedTotal(ctx context.Context) (int, error)
}

// RunCareful runs the behaviours of careful sending (SPEC §2): scheduled
// messages (send_at), the holds of the careful-sending rules and their
// release when the rules change, the send history the daily limit counts,
// the counts of why messages wait, and batch accepts (POST …/batch).
func RunCareful[S CarefulStore](t *testing.T, h Harness[S]) {
	run(t, h, "careful sending", carefulBehaviours[S]())
	run(t, h, "batches", batchBehaviours[S]())
}

// scheduled accepts a 1-credit message to jid due in d.
func (w *world[S]) scheduled(jid string, d time.Duration) *wagate.Message {
	w.t.Helper()
	return w.queued(jid, 1, func(a *wagate.Accept) { a.Message.SendAt = w.clock.Now().Add(d) })
}

func (w *world[S]) hold(id, reason string, until time.Time) {
	w.t.Helper()
	must(w.t, w.s.Hold(w.ctx, id, reason, until), "Hold")
}

// sent takes a queued message through MarkSending and MarkSent now.
func (w *world[S]) sent(id string) {
	w.t.Helper()
	w.sending(id)
	must(w.t, w.s.MarkSent(w.ctx, id, wagate.Try{At: w.clock.Now()}), "MarkSent")
}

// waitingCounts reads the instance's counts through the store S.
func waitingCounts[S CarefulStore](f *fixture[S]) map[string]int {
	f.t.Helper()
	counts, err := f.s.WaitingCounts(f.ctx)
	must(f.t, err, "WaitingCounts")
	return counts
}

func carefulBehaviours[S CarefulStore]() []behaviour[S] {
	return []behaviour[S]{
		{"a scheduled message is charged at accept and waits for its send_at", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			now := f.clock.Now()
			later := w.scheduled(jidA, 24*time.Hour)
			soon := w.scheduled(jidB, time.Hour)
			a := w.queued(jidA, 1) // due now, to the recipient of a scheduled one
			if b := w.balance(); b != 97 {
				t.Fatalf("balance %d after three accepts, want 97: scheduled messages are charged at accept", b)
			}
			if later.WaitingReason != wagate.WaitingScheduled || !later.NextTryAt.Equal(later.SendAt) {
				t.Errorf("the accept's result: waiting_reason %q, next_try_at %v; want scheduled, at its send_at", later.WaitingReason, later.NextTryAt)
			}
			m := w.message(later.ID)
			if m.Status != wagate.StatusQueued || m.WaitingReason != wagate.WaitingScheduled {
				t.Errorf("scheduled message: status %s, waiting_reason %q; want queued, scheduled", m.Status, m.WaitingReason)
			}
			sameTime(t, m.NextTryAt, now.Add(24*time.Hour), "NextTryAt of the scheduled message")
			sameTime(t, m.SendAt, now.Add(24*time.Hour), "SendAt")
			refs, err := f.s.QueuedAccounts(f.ctx)
			must(t, err, "QueuedAccounts")
			if len(refs) != 1 || refs[0] != w.ref() {
				t.Errorf("QueuedAccounts = %v, want %v", refs, w.ref())
			}
			if c := waitingCounts(f); c[wagate.WaitingScheduled] != 2 {
				t.Errorf("WaitingCounts = %v, want 2 scheduled", c)
			}
			if n, err := f.s.QueuedTotal(f.ctx); err != nil || n != 3 {
				t.Errorf("QueuedTotal = %d, %v; want 3 (scheduled ones are queued)", n, err)
			}
			depths, err := f.s.QueueDepths(f.ctx, w.ws.ID)
			must(t, err, "QueueDepths")
			if depths[phone1] != 3 {
				t.Errorf("queue depth %d, want 3 (scheduled ones are queued)", depths[phone1])
			}

			ids, due := w.next(5)
			equalIDs(t, ids, a.ID)
			sameTime(t, due, now.Add(time.Hour), "due: the next scheduled message")
			b := w.queued(jidA, 1) // accepted before soon is due: goes before it
			f.clock.Advance(2 * time.Hour)
			ids, due = w.next(5)
			equalIDs(t, ids, a.ID, b.ID, soon.ID)
			sameTime(t, due, now.Add(24*time.Hour), "due once the first is taken")
			ids, due = w.next(2)
			equalIDs(t, ids, a.ID, b.ID)
			sameTime(t, due, now.Add(24*time.Hour), "due when n were taken before a due scheduled message")
		}},
		{"next's due time counts only the waiting messages it walked past", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			now := f.clock.Now()
			b, a := w.queued(jidB, 1), w.queued(jidA, 1)
			w.retryLater(a.ID, time.Hour) // its file did not download: it waits in its place, after b
			ids, due := w.next(1)
			equalIDs(t, ids, b.ID)
			if !due.IsZero() {
				t.Errorf("Next(1) due %v; want zero: the retry behind the one taken was not walked past", due)
			}
			ids, due = w.next(2)
			equalIDs(t, ids, b.ID)
			sameTime(t, due, now.Add(time.Hour), "Next(2) due: the retry it skipped")
			w.sent(b.ID)
			must(t, f.s.MarkFailed(f.ctx, a.ID, wagate.Try{At: now, Error: "file_url: 404"}), "MarkFailed")
			s1, s2 := w.scheduled(jidB, time.Minute), w.scheduled(jidB, 2*time.Minute)
			w.scheduled(jidB, time.Hour/2)
			f.clock.Advance(3 * time.Minute)
			ids, due = w.next(1)
			equalIDs(t, ids, s1.ID)
			if !due.IsZero() {
				t.Errorf("Next(1) with two scheduled messages due: due %v, want zero (another is due already)", due)
			}
			ids, due = w.next(2)
			equalIDs(t, ids, s1.ID, s2.ID)
			sameTime(t, due, now.Add(time.Hour/2), "Next(2) due: the next scheduled message")
		}},
		{"a send_at already past is an ordinary message", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.scheduled(jidA, -time.Minute)
			got := w.message(m.ID)
			if got.WaitingReason != "" || !got.SendAt.IsZero() || !got.NextTryAt.IsZero() {
				t.Errorf("send_at in the past: reason %q, send_at %v, next_try_at %v; want an ordinary message", got.WaitingReason, got.SendAt, got.NextTryAt)
			}
			if c := waitingCounts(f); c[wagate.WaitingScheduled] != 0 {
				t.Errorf("WaitingCounts = %v, want none scheduled", c)
			}
			ids, _ := w.next(5)
			equalIDs(t, ids, m.ID)
		}},
		{"a send_at of exactly now is due: an ordinary message", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.scheduled(jidA, 0)
			if m.WaitingReason != "" || !m.SendAt.IsZero() || !m.NextTryAt.IsZero() {
				t.Errorf("the accept's result: reason %q, send_at %v, next_try_at %v; want an ordinary message", m.WaitingReason, m.SendAt, m.NextTryAt)
			}
			if got := w.message(m.ID); got.WaitingReason != "" || !got.SendAt.IsZero() {
				t.Errorf("stored: reason %q, send_at %v; want an ordinary message", got.WaitingReason, got.SendAt)
			}
			ids, _ := w.next(5)
			equalIDs(t, ids, m.ID)
		}},
		{"a scheduled message survives a reopen and goes at its time", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			now := f.clock.Now()
			later := w.scheduled(jidA, 24*time.Hour)
			f.reopen()
			ids, due := w.next(5)
			if len(ids) != 0 {
				t.Errorf("Next before its time = %v", ids)
			}
			sameTime(t, due, now.Add(24*time.Hour), "due after reopen")
			f.clock.Advance(24 * time.Hour)
			ids, _ = w.next(5)
			equalIDs(t, ids, later.ID)
			w.sent(later.ID)
			if got := w.message(later.ID); got.Status != wagate.StatusSent || got.WaitingReason != "" || !got.NextTryAt.IsZero() {
				t.Errorf("sent scheduled message: %s, reason %q, next_try_at %v", got.Status, got.WaitingReason, got.NextTryAt)
			}
			if c := waitingCounts(f); c[wagate.WaitingScheduled] != 0 {
				t.Errorf("WaitingCounts after the send = %v", c)
			}
		}},
		{"a scheduled message is refunded when cancelled or its account deleted", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			c := w.scheduled(jidA, time.Hour)
			d := w.scheduled(jidA, 2*time.Hour)
			q := w.queued(jidB, 1)
			_, err := cancelMessage(f, w.ws.ID, c.ID, f.clock.Now())
			must(t, err, "CancelMessage of a scheduled message")
			if b := w.balance(); b != 98 {
				t.Errorf("balance after the cancel %d, want 98", b)
			}
			ids, _ := w.next(5)
			equalIDs(t, ids, q.ID)
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceSystem, f.clock.Now()), "DeleteAccount")
			if m := w.message(d.ID); m.Status != wagate.StatusFailed || m.Error != errorAccountDeleted {
				t.Errorf("scheduled message of a deleted account: %s %q", m.Status, m.Error)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance after the deletion %d, want 100", b)
			}
			if c := waitingCounts(f); c[wagate.WaitingScheduled] != 0 {
				t.Errorf("WaitingCounts = %v, want none scheduled", c)
			}
			refs, err := f.s.QueuedAccounts(f.ctx)
			must(t, err, "QueuedAccounts")
			if len(refs) != 0 {
				t.Errorf("QueuedAccounts = %v after the deletion", refs)
			}
		}},
		{"a held message waits with its recipient's later messages and spends no try", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			now := f.clock.Now()
			a, b, c := w.queued(jidA, 1), w.queued(jidA, 1), w.queued(jidB, 1)
			w.hold(a.ID, wagate.WaitingQuietHours, now.Add(8*time.Hour))
			ids, due := w.next(5)
			equalIDs(t, ids, c.ID)
			sameTime(t, due, now.Add(8*time.Hour), "due: the hold's end")
			m := w.message(a.ID)
			if m.Status != wagate.StatusQueued || m.WaitingReason != wagate.WaitingQuietHours || len(m.Tries) != 0 {
				t.Errorf("held message: %s, reason %q, %d tries; want queued, quiet_hours, none", m.Status, m.WaitingReason, len(m.Tries))
			}
			sameTime(t, m.NextTryAt, now.Add(8*time.Hour), "NextTryAt of the held message")
			if got := w.message(b.ID).WaitingFor; got != a.ID {
				t.Errorf("the later message to the held recipient waits for %q, want %s", got, a.ID)
			}
			if cnt := waitingCounts(f); cnt[wagate.WaitingQuietHours] != 1 {
				t.Errorf("WaitingCounts = %v, want 1 quiet_hours", cnt)
			}
			f.clock.Advance(9 * time.Hour)
			ids, _ = w.next(5)
			equalIDs(t, ids, a.ID, b.ID, c.ID)
			w.sent(a.ID)
			if cnt := waitingCounts(f); cnt[wagate.WaitingQuietHours] != 0 {
				t.Errorf("WaitingCounts after the send = %v, want the hold ended", cnt)
			}
		}},
		{"a hold of a scheduled message moves it to the end of the queue", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			now := f.clock.Now()
			s := w.scheduled(jidB, time.Hour)
			a := w.queued(jidA, 1)
			w.hold(s.ID, wagate.WaitingDailyLimit, now.Add(30*time.Hour))
			m := w.message(s.ID)
			if m.WaitingReason != wagate.WaitingDailyLimit {
				t.Errorf("held scheduled message: reason %q, want daily_limit", m.WaitingReason)
			}
			sameTime(t, m.NextTryAt, now.Add(30*time.Hour), "NextTryAt")
			if cnt := waitingCounts(f); cnt[wagate.WaitingScheduled] != 0 || cnt[wagate.WaitingDailyLimit] != 1 {
				t.Errorf("WaitingCounts = %v, want one daily_limit and none scheduled", cnt)
			}
			b := w.queued(jidA, 1)
			f.clock.Advance(31 * time.Hour)
			ids, _ := w.next(5)
			equalIDs(t, ids, a.ID, s.ID, b.ID)
			_, err := cancelMessage(f, w.ws.ID, s.ID, f.clock.Now())
			must(t, err, "CancelMessage of a held message")
			if cnt := waitingCounts(f); cnt[wagate.WaitingDailyLimit] != 0 {
				t.Errorf("WaitingCounts after the cancel = %v", cnt)
			}
		}},
		{"a retry ends a hold, and hold refuses what is not queued", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			now := f.clock.Now()
			a := w.queued(jidA, 1)
			w.hold(a.ID, wagate.WaitingQuietHours, now.Add(time.Hour))
			w.sending(a.ID)
			wantCode(t, f.s.Hold(f.ctx, a.ID, wagate.WaitingQuietHours, now.Add(time.Hour)), wagate.ECONFLICT, "Hold of a sending message")
			must(t, f.s.Retry(f.ctx, a.ID, wagate.Try{At: now}, now.Add(time.Minute)), "Retry")
			if m := w.message(a.ID); m.WaitingReason != "" {
				t.Errorf("after a retry the reason is %q, want none: a retry is not a rule's hold", m.WaitingReason)
			}
			if cnt := waitingCounts(f); cnt[wagate.WaitingQuietHours] != 0 {
				t.Errorf("WaitingCounts after the retry = %v", cnt)
			}
			wantCode(t, f.s.Hold(f.ctx, "wa_backend:00000000000000000000", wagate.WaitingQuietHours, now), wagate.ENOTFOUND, "Hold of an unknown id")
		}},
		{"changing the rules releases the holds, not the retries", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			now := f.clock.Now()
			held, retried := w.queued(jidA, 1), w.queued(jidB, 1)
			w.hold(held.ID, wagate.WaitingQuietHours, now.Add(8*time.Hour))
			must(t, f.s.Retry(f.ctx, retried.ID, wagate.Try{At: now}, now.Add(time.Minute)), "Retry")
			_, err := f.s.UpdateAccount(f.ctx, w.ref(), func(a *wagate.Account) error { a.Active = true; return nil })
			must(t, err, "UpdateAccount without a rule change")
			if m := w.message(held.ID); m.WaitingReason != wagate.WaitingQuietHours {
				t.Errorf("hold after an update without a rule change: %q", m.WaitingReason)
			}
			_, err = f.s.UpdateAccount(f.ctx, w.ref(), func(a *wagate.Account) error { a.Rules.DailyLimit = 50; return nil })
			must(t, err, "UpdateAccount of the rules")
			if m := w.message(held.ID); m.WaitingReason != "" || !m.NextTryAt.IsZero() {
				t.Errorf("held message after the rules changed: reason %q, next_try_at %v; want free", m.WaitingReason, m.NextTryAt)
			}
			sameTime(t, w.message(retried.ID).NextTryAt, now.Add(time.Minute), "the retry's due time after the rules changed")
			if cnt := waitingCounts(f); cnt[wagate.WaitingQuietHours] != 0 {
				t.Errorf("WaitingCounts = %v", cnt)
			}
			ids, _ := w.next(5)
			equalIDs(t, ids, held.ID)
		}},
		{"the send history keeps the last 24 h and the first send ever", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			start := f.clock.Now()
			for range 3 {
				w.sent(w.queued(jidA, 1).ID)
				f.clock.Advance(10 * time.Hour)
			}
			// Sends at 0 h, 10 h and 20 h; now is 30 h.
			sends, first, err := f.s.SendHistory(f.ctx, w.ref(), f.clock.Now().Add(-24*time.Hour))
			must(t, err, "SendHistory")
			if len(sends) != 2 {
				t.Errorf("%d sends in the last 24 h, want 2", len(sends))
			} else {
				sameTime(t, sends[0], start.Add(10*time.Hour), "the older send of the last 24 h")
			}
			sameTime(t, first, start, "the first send ever")
			w.sent(w.queued(jidA, 1).ID)
			sends, first, err = f.s.SendHistory(f.ctx, w.ref(), time.Time{})
			must(t, err, "SendHistory of all kept")
			if len(sends) != 3 {
				t.Errorf("%d sends kept, want 3: the one older than 24 h is pruned", len(sends))
			}
			sameTime(t, first, start, "the first send ever, after the prune")
			sends, first, err = f.s.SendHistory(f.ctx, wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2}, time.Time{})
			if err != nil || len(sends) != 0 || !first.IsZero() {
				t.Errorf("SendHistory of an account that never sent = %v, %v, %v", sends, first, err)
			}
		}},
		{"waiting by account counts why each account's messages wait", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			now := f.clock.Now()
			w.scheduled(jidB, 24*time.Hour)
			held := w.queued(jidA, 1)
			w.queued(jidA, 1) // behind the held one
			retried := w.queued(jidB, 1)
			w.queued(jidA, 1) // behind too
			w.hold(held.ID, wagate.WaitingQuietHours, now.Add(8*time.Hour))
			w.sending(retried.ID)
			must(t, f.s.Retry(f.ctx, retried.ID, wagate.Try{At: now}, now.Add(time.Minute)), "Retry")
			w.queued("15550001111@s.whatsapp.net", 1) // its turn only
			counts, complete, err := f.s.WaitingByAccount(f.ctx, w.ws.ID)
			must(t, err, "WaitingByAccount")
			want := map[string]int{wagate.WaitingScheduled: 1, wagate.WaitingQuietHours: 1, wagate.WaitingBehind: 2, wagate.WaitingRetry: 1}
			if !complete || len(counts) != 1 || !maps.Equal(counts[phone1], want) {
				t.Errorf("WaitingByAccount = %v (complete %v), want %s: %v", counts, complete, phone1, want)
			}
			other := newWorkspace(t, f.ctx, f.s, 1)
			if counts, _, err := f.s.WaitingByAccount(f.ctx, other.ID); err != nil || len(counts) != 0 {
				t.Errorf("another workspace's counts = %v, %v", counts, err)
			}
		}},
	}
}

// batchOf is a batch of the world's workspace with one item per jid, each
// costing credits, under the Idempotency-Key key ("" for none).
func (w *world[S]) batchOf(key string, credits int64, jids ...string) *wagate.AcceptBatch {
	w.t.Helper()
	now := w.clock.Now()
	b := &wagate.AcceptBatch{WorkspaceID: w.ws.ID, InboundToken: w.ws.Webhook.Token, IdempotencyKey: key,
		BodyHash: sha256.Sum256([]byte(fmt.Sprint(jids)))}
	for i, jid := range jids {
		id, err := ids.Next(now)
		must(w.t, err, "message id")
		b.Items = append(b.Items, &wagate.Accept{
			Message: &wagate.Message{ID: id, AccountPhone: phone1, JID: jid, Text: fmt.Sprint("item ", i), Credits: credits, CreatedAt: now},
			Attempt: &wagate.Attempt{At: now, RequestID: fmt.Sprint("req-", i)},
		})
		b.Refused = append(b.Refused, nil)
	}
	return b
}

func batchBehaviours[S CarefulStore]() []behaviour[S] {
	return []behaviour[S]{
		{"a batch commits whole or not at all, and its key replays it", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 10)
			f.failing(func() {
				_, err := f.s.AcceptBatch(f.ctx, w.batchOf("batch-1", 1, jidA, jidB, jidA))
				unavailable(t, err, "AcceptBatch")
			})
			if b := w.balance(); b != 10 {
				t.Errorf("balance %d after a failed batch, want 10", b)
			}
			if n := len(w.messages()); n != 0 {
				t.Errorf("%d messages after a failed batch", n)
			}
			if n := len(w.attempts()); n != 0 {
				t.Errorf("%d attempts after a failed batch", n)
			}
			res, err := f.s.AcceptBatch(f.ctx, w.batchOf("batch-1", 1, jidA, jidB, jidA))
			must(t, err, "AcceptBatch")
			if len(res.Items) != 3 || res.Replayed {
				t.Fatalf("AcceptBatch = %+v, want 3 items, not replayed", res)
			}
			for i, it := range res.Items {
				if it.MessageID == "" || it.Credits != 1 || it.Code != "" {
					t.Errorf("item %d = %+v, want accepted for 1 credit", i, it)
				}
			}
			if b := w.balance(); b != 7 {
				t.Errorf("balance %d, want 7", b)
			}
			ids, _ := w.next(5)
			equalIDs(t, ids, res.Items[0].MessageID, res.Items[1].MessageID, res.Items[2].MessageID)
			if n := len(w.attempts()); n != 3 {
				t.Errorf("%d attempts, want one per item", n)
			}
			hash := sha256.Sum256([]byte(fmt.Sprint([]string{jidA, jidB, jidA})))
			again, err := f.s.ReplayBatch(f.ctx, w.ws.ID, "batch-1", hash)
			must(t, err, "ReplayBatch")
			if again == nil || !again.Replayed || len(again.Items) != 3 || again.Items[2] != res.Items[2] {
				t.Errorf("ReplayBatch = %+v, want the first results, replayed", again)
			}
			again, err = f.s.AcceptBatch(f.ctx, w.batchOf("batch-1", 1, jidA, jidB, jidA))
			must(t, err, "AcceptBatch again")
			if !again.Replayed || again.Items[0] != res.Items[0] {
				t.Errorf("the same batch again = %+v, want the first results, replayed", again)
			}
			if b := w.balance(); b != 7 {
				t.Errorf("balance %d after the replay, want 7: nothing charged", b)
			}
			_, err = f.s.ReplayBatch(f.ctx, w.ws.ID, "batch-1", [32]byte{2})
			wantCode(t, err, wagate.EIDEMPOTENCY, "ReplayBatch with another body")
			_, err = f.s.AcceptBatch(f.ctx, w.batchOf("batch-1", 1, jidB))
			wantCode(t, err, wagate.EIDEMPOTENCY, "AcceptBatch of another body under the key")
			if res, err := f.s.ReplayBatch(f.ctx, w.ws.ID, "batch-2", hash); res != nil || err != nil {
				t.Errorf("ReplayBatch of a new key = %v, %v; want nothing", res, err)
			}
		}},
		{"a batch key is fresh again after 24 hours, and a single request's key replays no batch", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 10)
			first, err := f.s.AcceptBatch(f.ctx, w.batchOf("batch-1", 1, jidA))
			must(t, err, "AcceptBatch")
			hash := sha256.Sum256([]byte(fmt.Sprint([]string{jidA})))
			// A microsecond: the finest time every backend stores.
			f.clock.Advance(wagate.IdempotencyWindow - time.Microsecond)
			again, err := f.s.ReplayBatch(f.ctx, w.ws.ID, "batch-1", hash)
			must(t, err, "ReplayBatch within the window")
			if again == nil || !again.Replayed {
				t.Errorf("ReplayBatch just within the window = %+v, want the first results", again)
			}
			f.clock.Advance(time.Microsecond)
			if again, err := f.s.ReplayBatch(f.ctx, w.ws.ID, "batch-1", hash); again != nil || err != nil {
				t.Errorf("ReplayBatch after the window = %+v, %v; want nothing: a new key", again, err)
			}
			fresh, err := f.s.AcceptBatch(f.ctx, w.batchOf("batch-1", 1, jidB))
			must(t, err, "AcceptBatch of another body after the window")
			if fresh.Replayed || fresh.Items[0].MessageID == "" || fresh.Items[0].MessageID == first.Items[0].MessageID {
				t.Errorf("another body under the expired key = %+v, want a new accept", fresh)
			}
			if b := w.balance(); b != 8 {
				t.Errorf("balance %d, want 8: charged twice", b)
			}
			w.queued(jidA, 1, withKey("single-1"), withBody("one"))
			_, err = f.s.ReplayBatch(f.ctx, w.ws.ID, "single-1", sha256.Sum256([]byte("one")))
			wantCode(t, err, wagate.EIDEMPOTENCY, "ReplayBatch of a single request's key and body")
		}},
		{"a batch's key replays no single request, and the refusal is in the attempt log", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 10)
			_, err := f.s.AcceptBatch(f.ctx, w.batchOf("batch-1", 1, jidA))
			must(t, err, "AcceptBatch")
			hash := sha256.Sum256([]byte(fmt.Sprint([]string{jidA})))
			// The same key and body hash at the single inbound URL: Replay
			// runs before validation and meets the batch's record.
			f.clock.Advance(wagate.IdempotencyWindow - time.Microsecond)
			m, err := f.s.Replay(f.ctx, w.ws.ID, "batch-1", hash, &wagate.Attempt{At: f.clock.Now(), RequestID: "r1"})
			wantCode(t, err, wagate.EIDEMPOTENCY, "Replay of a batch's key and body")
			if m != nil {
				t.Errorf("Replay of a batch's key answered %+v, want no message", m)
			}
			if msg := wagate.ErrorMessage(err); !strings.Contains(msg, `"batch-1"`) || !strings.Contains(msg, "for a batch") {
				t.Errorf("the refusal %q does not name the key and say it was used for a batch", msg)
			}
			if list := w.attempts(); len(list) != 2 || list[0].RequestID != "r1" || list[0].Code != wagate.EIDEMPOTENCY || list[0].MessageID != "" || list[0].Credits != 0 {
				t.Errorf("attempt log after the refused replay: %+v", list)
			}
			// An Accept that gets past Replay (the record came in between)
			// is refused the same way, charging nothing.
			w.refused(wagate.EIDEMPOTENCY, withKey("batch-1"), func(a *wagate.Accept) { a.BodyHash = hash })
			if b := w.balance(); b != 9 {
				t.Errorf("balance %d, want 9: the batch's item only", b)
			}
			// After the window the key is fresh for a single request.
			f.clock.Advance(time.Microsecond)
			if m, err := f.s.Replay(f.ctx, w.ws.ID, "batch-1", hash, &wagate.Attempt{At: f.clock.Now(), RequestID: "r2"}); m != nil || err != nil {
				t.Errorf("Replay after the window = %+v, %v; want nothing: a new key", m, err)
			}
			w.queued(jidA, 1, withKey("batch-1"), func(a *wagate.Accept) { a.BodyHash = hash })
		}},
		{"a batch charges item by item and keeps each item's refusal", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 3)
			b := w.batchOf("", 2, jidA, jidB, jidA)
			b.Items[1].Message.Credits = 1
			b.Refused[2] = wagate.Errorf(wagate.EINVALID, "text: too long")
			b.Items = append(b.Items, w.batchOf("", 1, jidB).Items[0])
			b.Refused = append(b.Refused, nil)
			res, err := f.s.AcceptBatch(f.ctx, b)
			must(t, err, "AcceptBatch")
			if len(res.Items) != 4 {
				t.Fatalf("%d items, want 4", len(res.Items))
			}
			if res.Items[0].MessageID == "" || res.Items[1].MessageID == "" {
				t.Errorf("items 0 and 1 = %+v, %+v; want accepted (3 credits)", res.Items[0], res.Items[1])
			}
			if res.Items[2].Code != wagate.EINVALID || res.Items[2].Message != "text: too long" {
				t.Errorf("item 2 = %+v, want the gateway's refusal", res.Items[2])
			}
			if res.Items[3].Code != wagate.ECREDITS || res.Items[3].MessageID != "" {
				t.Errorf("item 3 = %+v, want ECREDITS: the items before it spent the balance", res.Items[3])
			}
			if bal := w.balance(); bal != 0 {
				t.Errorf("balance %d, want 0", bal)
			}
			list := w.attempts()
			if len(list) != 4 || list[0].Code != wagate.ECREDITS || list[1].Code != wagate.EINVALID || list[3].MessageID != res.Items[0].MessageID {
				t.Errorf("attempts %+v, want one per item, newest first, with their outcomes", list)
			}
		}},
		{"a batch of a regenerated token or a disabled URL is refused whole", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 10)
			_, err := f.s.SetWebhookEnabled(f.ctx, w.ws.ID, false)
			must(t, err, "SetWebhookEnabled")
			_, err = f.s.AcceptBatch(f.ctx, w.batchOf("", 1, jidA))
			wantCode(t, err, wagate.EDISABLED, "AcceptBatch on a disabled URL")
			_, err = f.s.RegenerateWebhook(f.ctx, w.ws.ID, newToken(t), time.Time{})
			must(t, err, "RegenerateWebhook")
			_, err = f.s.AcceptBatch(f.ctx, w.batchOf("", 1, jidA))
			wantCode(t, err, wagate.ENOTFOUND, "AcceptBatch with the old token")
			if b := w.balance(); b != 10 {
				t.Errorf("balance %d, want 10", b)
			}
			if n := len(w.messages()); n != 0 {
				t.Errorf("%d messages from refused batches", n)
			}
		}},
	}
}
