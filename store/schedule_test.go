package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// schedule accepts a 1-credit message due in d.
func (f *fixture) schedule(text, jid string, d time.Duration) string {
	f.t.Helper()
	a := f.request(text, 1)
	a.Message.JID = jid
	a.Message.SendAt = f.clock.Now().Add(d)
	return f.accept(a).Message.ID
}

func (f *fixture) nextIDs(at time.Time, n int) ([]string, time.Time) {
	f.t.Helper()
	msgs, due, err := f.db.Next(f.ctx, f.ref(), at, n)
	mustNoErr(f.t, err)
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids, due
}

// TestScheduled: a scheduled message is charged at accept, shows
// waiting_reason scheduled with next_try_at, never holds back the
// account's due messages (to the same recipient neither), joins the queue
// by its due time once due, survives a reopen, and is cancelled or failed
// by an account deletion with a refund.
func TestScheduled(t *testing.T) {
	f := newFixture(t, 100)
	now := f.clock.Now()
	later := f.schedule("tomorrow", testJID, 24*time.Hour)
	soon := f.schedule("in an hour", testJID2, time.Hour)
	a := f.send("now, same recipient as the scheduled one")
	if got := f.balance(); got != 97 {
		t.Fatalf("balance %d after three accepts, want 97: scheduled messages are charged at accept", got)
	}
	m := f.message(later)
	if m.Status != wagate.StatusQueued || m.WaitingReason != wagate.WaitingScheduled || !m.NextTryAt.Equal(now.Add(24*time.Hour)) || !m.SendAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("scheduled message = status %s, reason %q, next_try_at %s, send_at %s", m.Status, m.WaitingReason, m.NextTryAt, m.SendAt)
	}
	refs, err := f.db.QueuedAccounts(f.ctx)
	mustNoErr(t, err)
	if len(refs) != 1 {
		t.Fatalf("QueuedAccounts = %v", refs)
	}
	if counts, _ := f.db.WaitingCounts(f.ctx); counts[wagate.WaitingScheduled] != 2 {
		t.Fatalf("WaitingCounts = %v, want 2 scheduled", counts)
	}

	ids, due := f.nextIDs(now, 5)
	if !slices.Equal(ids, []string{a}) || !due.Equal(now.Add(time.Hour)) {
		t.Fatalf("Next now = %v, due %s; want only the due message, due in 1 h", ids, due)
	}
	b := f.send("accepted after the first was due")
	f.clock.Advance(2 * time.Hour)
	// In an hour: soon is due, and goes between a (accepted before its due
	// time) and b (accepted after… no: b was accepted at now, before soon's
	// due time, so soon goes last).
	ids, due = f.nextIDs(f.clock.Now(), 5)
	if !slices.Equal(ids, []string{a, b, soon}) || !due.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("Next after 2 h = %v, due %s; want [a b soon], due at the next scheduled", ids, due)
	}

	// Reopen: the schedule is kept.
	mustNoErr(t, f.db.Close())
	f.db = openTest(t, f.path, f.clock)
	checkConsistent(t, f.db)
	for _, id := range []string{a, b, soon} {
		mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
		mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: f.clock.Now()}))
	}
	if ids, due = f.nextIDs(f.clock.Now(), 5); len(ids) != 0 || !due.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("Next with only the tomorrow message = %v, due %s", ids, due)
	}
	f.clock.Advance(22 * time.Hour)
	if ids, _ = f.nextIDs(f.clock.Now(), 5); !slices.Equal(ids, []string{later}) {
		t.Fatalf("Next at its time = %v, want [%s]", ids, later)
	}

	// Cancel one and delete the account with another: both refunded.
	c := f.schedule("cancel me", testJID, time.Hour)
	d := f.schedule("account goes", testJID, 2*time.Hour)
	before := f.balance()
	if _, err := f.db.CancelMessage(f.ctx, f.ws.ID, c, wagate.SourceSystem, f.clock.Now()); err != nil {
		t.Fatalf("CancelMessage(scheduled) = %v", err)
	}
	if got := f.balance(); got != before+1 {
		t.Fatalf("balance after cancel %d, want %d", got, before+1)
	}
	if ids, _ = f.nextIDs(f.clock.Now().Add(3*time.Hour), 5); !slices.Equal(ids, []string{later, d}) {
		t.Fatalf("Next after the cancel = %v, want [later d]", ids)
	}
	mustNoErr(t, f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now()))
	if m := f.message(d); m.Status != wagate.StatusFailed || m.Error != ErrorAccountDeleted {
		t.Fatalf("scheduled message of a deleted account = %s %q", m.Status, m.Error)
	}
	if got := f.balance(); got != before+3 {
		t.Fatalf("balance after the deletion %d, want %d (both queued messages refunded)", got, before+3)
	}
	checkConsistent(t, f.db)
}

// TestHold: a message held by a careful-sending rule is skipped until its
// time with its later messages to the same recipient, shows why, spends no
// try, and a scheduled one moves into the FIFO to wait.
func TestHold(t *testing.T) {
	f := newFixture(t, 100)
	now := f.clock.Now()
	a := f.send("to jid 1")
	b := f.send("to jid 1 again")
	c := f.request("to jid 2", 1)
	c.Message.JID = testJID2
	cid := f.accept(c).Message.ID
	s := f.schedule("scheduled", testJID2, -time.Minute) // in the past: an ordinary message
	if m := f.message(s); m.WaitingReason != "" || !m.SendAt.IsZero() {
		t.Fatalf("send_at in the past: reason %q, send_at %s; want an ordinary message", m.WaitingReason, m.SendAt)
	}
	mustNoErr(t, f.db.Hold(f.ctx, a, wagate.WaitingQuietHours, now.Add(8*time.Hour)))
	ids, due := f.nextIDs(now, 5)
	if !slices.Equal(ids, []string{cid, s}) || !due.Equal(now.Add(8*time.Hour)) {
		t.Fatalf("Next with jid 1 held = %v, due %s; want the other recipient's messages", ids, due)
	}
	m := f.message(a)
	if m.WaitingReason != wagate.WaitingQuietHours || !m.NextTryAt.Equal(now.Add(8*time.Hour)) || len(m.Tries) != 0 {
		t.Fatalf("held message: reason %q, next_try_at %s, %d tries", m.WaitingReason, m.NextTryAt, len(m.Tries))
	}
	if got := f.message(b).WaitingFor; got != a {
		t.Fatalf("the later message to the held recipient waits for %q, want %s", got, a)
	}

	sch := f.schedule("later", testJID2, time.Hour)
	mustNoErr(t, f.db.Hold(f.ctx, sch, wagate.WaitingDailyLimit, now.Add(30*time.Hour)))
	if m := f.message(sch); m.WaitingReason != wagate.WaitingDailyLimit || !m.NextTryAt.Equal(now.Add(30*time.Hour)) {
		t.Fatalf("held scheduled message: reason %q, next_try_at %s", m.WaitingReason, m.NextTryAt)
	}
	checkConsistent(t, f.db)
	counts, err := f.db.WaitingCounts(f.ctx)
	mustNoErr(t, err)
	if counts[wagate.WaitingQuietHours] != 1 || counts[wagate.WaitingDailyLimit] != 1 || counts[wagate.WaitingScheduled] != 0 {
		t.Fatalf("WaitingCounts = %v, want one held for each rule", counts)
	}
	if ids, _ = f.nextIDs(now.Add(9*time.Hour), 5); !slices.Equal(ids, []string{a, b, cid, s}) {
		t.Fatalf("Next after the quiet hours = %v", ids)
	}
	mustNoErr(t, f.db.MarkSending(f.ctx, a, now))
	mustNoErr(t, f.db.Retry(f.ctx, a, wagate.Try{At: now}, now.Add(time.Minute)))
	if m := f.message(a); m.WaitingReason != "" {
		t.Fatalf("after a retry the reason is %q, want none: a retry is not a rule's hold", m.WaitingReason)
	}
	wantCode(t, f.db.Hold(f.ctx, "wa_backend:00000000000000000000", wagate.WaitingQuietHours, now), wagate.ENOTFOUND)
	counts, err = f.db.WaitingCounts(f.ctx)
	mustNoErr(t, err)
	if counts[wagate.WaitingQuietHours] != 0 || counts[wagate.WaitingDailyLimit] != 1 {
		t.Fatalf("WaitingCounts after the retry = %v, want the quiet hours' hold ended", counts)
	}
	_, err = f.db.CancelMessage(f.ctx, f.ws.ID, sch, wagate.SourceSystem, now)
	mustNoErr(t, err)
	if counts, _ = f.db.WaitingCounts(f.ctx); counts[wagate.WaitingDailyLimit] != 0 {
		t.Fatalf("WaitingCounts after cancelling the held message = %v", counts)
	}
	checkConsistent(t, f.db)
}

// TestSendHistory: MarkSent records each send; sends older than 24 h are
// pruned; the first send ever stays.
func TestSendHistory(t *testing.T) {
	f := newFixture(t, 100)
	start := f.clock.Now()
	for i := range 3 {
		id := f.send(fmt.Sprint(i))
		mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
		mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: f.clock.Now()}))
		f.clock.Advance(10 * time.Hour)
	}
	// Sends at 0 h, 10 h, 20 h; now is 30 h: the first is pruned on the next send.
	sends, first, err := f.db.SendHistory(f.ctx, f.ref(), f.clock.Now().Add(-24*time.Hour))
	mustNoErr(t, err)
	if len(sends) != 2 || !first.Equal(start) {
		t.Fatalf("history = %v, first %s; want the 10 h and 20 h sends, first at %s", sends, first, start)
	}
	id := f.send("x")
	mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
	mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: f.clock.Now()}))
	n := 0
	mustNoErr(t, f.db.bolt.View(func(tx *bolt.Tx) error {
		n = bucket(tx, bucketSends).Bucket(join(f.ws.ID, f.phone)).Stats().KeyN
		return nil
	}))
	if n != 3 {
		t.Fatalf("%d sends kept, want 3: the one older than 24 h is pruned", n)
	}
	sends, first, err = f.db.SendHistory(f.ctx, f.ref(), time.Time{})
	mustNoErr(t, err)
	if len(sends) != 3 || !first.Equal(start) {
		t.Fatalf("history = %v, first %s", sends, first)
	}
}

// BenchmarkNextScheduled: Next on an account with 100,000 messages
// scheduled for later and one due costs what it costs without them (the
// due front of the index only), and so does QueuedAccounts, the other
// half of a restart.
func BenchmarkNextScheduled(b *testing.B) {
	for _, scheduled := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("scheduled=%d", scheduled), func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "wagate.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			now := time.Now().UTC()
			ref := wagate.AccountRef{WorkspaceID: "ws_bench", Phone: testPhone}
			err = db.bolt.Update(func(tx *bolt.Tx) error {
				for i := range scheduled + 1 {
					m := &messageRecord{ID: fmt.Sprintf("wa_backend:%020X", i), WorkspaceID: ref.WorkspaceID, Status: wagate.StatusQueued,
						AccountPhone: ref.Phone, JID: testJID, Text: "x", Credits: 1, CreatedAt: now}
					if i > 0 {
						m.SendAt = now.Add(time.Hour + time.Duration(i)*time.Second)
					}
					if err := place(tx, m, now); err != nil {
						return err
					}
					if err := putMessage(tx, m, db.change(wagate.SourceSystem, now)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.QueuedAccounts(ctx); err != nil {
					b.Fatal(err)
				}
				msgs, _, err := db.Next(ctx, ref, now, 4)
				if err != nil || len(msgs) != 1 {
					b.Fatalf("Next = %d messages, %v", len(msgs), err)
				}
			}
		})
	}
}
