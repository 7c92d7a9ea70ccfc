package store

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// sendTo accepts a 1-credit text message to jid and returns its id.
func (f *fixture) sendTo(jid, text string) string {
	f.t.Helper()
	a := f.request(text, 1)
	a.Message.JID = jid
	return f.accept(a).Message.ID
}

// next returns the ids Next gives at at, and its due time.
func (f *fixture) next(at time.Time, n int) ([]string, time.Time) {
	f.t.Helper()
	msgs, due, err := f.db.Next(f.ctx, f.ref(), at, n)
	if err != nil {
		f.t.Fatalf("Next: %v", err)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids, due
}

func retryTry(at time.Time, text string) wagate.Try {
	return wagate.Try{At: at, Result: wagate.TryResultRetry, Class: wagate.TryClassTransient, Error: text}
}

func TestRetryGoesBackToItsPlace(t *testing.T) {
	f := newFixture(t, 10)
	a := f.sendTo(testJID, "a")
	b := f.sendTo(testJID2, "b")
	c := f.sendTo(testJID, "c: same recipient as a")
	d := f.sendTo(testGroup, "d")
	now := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, a, now))
	due := now.Add(5 * time.Second)
	mustNoErr(t, f.db.Retry(f.ctx, a, retryTry(now, "cloud: 503"), due))

	m := f.message(a)
	if m.Status != wagate.StatusQueued || !m.NextTryAt.Equal(due) || m.Error != "cloud: 503" || len(m.Tries) != 1 ||
		m.Tries[0].Class != wagate.TryClassTransient || m.Tries[0].Result != wagate.TryResultRetry {
		t.Fatalf("retried message = %+v", m)
	}
	// Before a is due: b and d go; c waits behind a (same recipient).
	got, gotDue := f.next(now, 10)
	if !slices.Equal(got, []string{b, d}) || !gotDue.Equal(due) {
		t.Fatalf("Next before the retry is due = %v, due %v; want [b d], due %v", got, gotDue, due)
	}
	if got, _ := f.next(now, 1); !slices.Equal(got, []string{b}) {
		t.Fatalf("Next(n=1) = %v, want [b]", got)
	}
	// When a is due it is first again, at its place before c.
	got, gotDue = f.next(due, 10)
	if !slices.Equal(got, []string{a, b, c, d}) || !gotDue.IsZero() {
		t.Fatalf("Next at the due time = %v, due %v; want [a b c d] and no due", got, gotDue)
	}
	refs, err := f.db.QueuedAccounts(f.ctx)
	mustNoErr(t, err)
	if len(refs) != 1 {
		t.Fatalf("QueuedAccounts = %v", refs)
	}
	if f.head(f.ref()) != b {
		t.Fatal("Head ignores the retry time")
	}

	// The second try succeeds: the error of the retry is cleared.
	mustNoErr(t, f.db.MarkSending(f.ctx, a, due))
	mustNoErr(t, f.db.MarkSent(f.ctx, a, wagate.Try{At: due, Result: wagate.TryResultSent, ProviderID: "wamid.A"}))
	m = f.message(a)
	if m.Status != wagate.StatusSent || m.Error != "" || !m.NextTryAt.IsZero() || len(m.Tries) != 2 {
		t.Fatalf("sent after a retry = %+v", m)
	}
	if f.balance() != 6 {
		t.Fatalf("balance = %d, want 6", f.balance())
	}
}

func TestRetryOfAQueuedMessage(t *testing.T) {
	f := newFixture(t, 10)
	a := f.sendTo(testJID, "file download failed")
	b := f.sendTo(testJID2, "b")
	now := f.clock.Now()
	due := now.Add(time.Minute)
	mustNoErr(t, f.db.Retry(f.ctx, a, retryTry(now, "file_url: 502"), due))
	if got, _ := f.next(now, 5); !slices.Equal(got, []string{b}) {
		t.Fatalf("Next = %v, want [b]", got)
	}
	if got, _ := f.next(due, 5); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("Next when due = %v, want [a b]", got)
	}
	// A message waiting for a retry may also fail for good (the next try
	// is permanent): it is refunded once.
	mustNoErr(t, f.db.MarkFailed(f.ctx, a, wagate.Try{At: due, Class: wagate.TryClassPermanent, Error: "file_url: 404"}))
	if m := f.message(a); m.Status != wagate.StatusFailed || !m.NextTryAt.IsZero() || f.balance() != 9 {
		t.Fatalf("failed = %+v, balance %d", m, f.balance())
	}
}

func TestRetryStateSurvivesReopen(t *testing.T) {
	f := newFixture(t, 10)
	a := f.sendTo(testJID, "a")
	b := f.sendTo(testJID, "b")
	now := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, a, now))
	due := now.Add(30 * time.Second)
	mustNoErr(t, f.db.Retry(f.ctx, a, retryTry(now, "503"), due))
	mustNoErr(t, f.db.Close())

	f.db = openTest(t, f.path, f.clock)
	n, err := f.db.RecoverSending(f.ctx, now)
	mustNoErr(t, err)
	if n != 0 {
		t.Fatalf("RecoverSending failed %d messages; a retrying message is queued, not interrupted", n)
	}
	if got, gotDue := f.next(now, 5); len(got) != 0 || !gotDue.Equal(due) {
		t.Fatalf("Next after reopen = %v, due %v; want nothing until %v", got, gotDue, due)
	}
	if got, _ := f.next(due, 5); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("Next at the due time after reopen = %v, want [a b]", got)
	}
	if m := f.message(a); len(m.Tries) != 1 || !m.NextTryAt.Equal(due) {
		t.Fatalf("retry state after reopen = %+v", m)
	}
}

func TestRetryAfterTheAccountWasDeleted(t *testing.T) {
	f := newFixture(t, 10)
	a := f.send("in flight when the account goes")
	mustNoErr(t, f.db.MarkSending(f.ctx, a, f.clock.Now()))
	mustNoErr(t, f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now()))
	mustNoErr(t, f.db.Retry(f.ctx, a, retryTry(f.clock.Now(), "503"), f.clock.Now().Add(time.Minute)))
	m := f.message(a)
	if m.Status != wagate.StatusFailed || m.Error != ErrorAccountDeleted || len(m.Tries) != 2 || m.Tries[1].Result != wagate.TryResultFailed {
		t.Fatalf("retry of a deleted account's message = %+v, want failed (account deleted) with the retry try and a failed try", m)
	}
	if f.balance() != 10 {
		t.Fatalf("balance = %d, want 10 (refunded)", f.balance())
	}
	refs, err := f.db.QueuedAccounts(f.ctx)
	mustNoErr(t, err)
	if len(refs) != 0 {
		t.Fatalf("the deleted account's queue came back: %v", refs)
	}
}

// TestRetryAfterTheAccountWasConnectedAgain: an account deleted and
// connected again with the same phone is another account; the old one's
// in-flight message fails and is refunded rather than join the new queue.
func TestRetryAfterTheAccountWasConnectedAgain(t *testing.T) {
	f := newFixture(t, 10)
	a := f.send("in flight")
	mustNoErr(t, f.db.MarkSending(f.ctx, a, f.clock.Now()))
	mustNoErr(t, f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now()))
	f.clock.Advance(time.Second)
	f.createAccount(f.ws.ID, f.phone, true)
	b := f.send("first of the new queue")
	mustNoErr(t, f.db.Retry(f.ctx, a, retryTry(f.clock.Now(), "503"), f.clock.Now()))
	if got, _ := f.next(f.clock.Now(), 5); !slices.Equal(got, []string{b}) {
		t.Fatalf("Next = %v, want [b]: the old account's message stays out of the new queue", got)
	}
	if m := f.message(a); m.Status != wagate.StatusFailed || m.Error != ErrorAccountDeleted {
		t.Fatalf("a = %s %q, want failed, account deleted", m.Status, m.Error)
	}
	if got := f.balance(); got != 9 {
		t.Fatalf("balance = %d, want 9: a refunded, b charged", got)
	}
	checkConsistent(t, f.db)
}

func TestRetryOfAFinishedMessage(t *testing.T) {
	f := newFixture(t, 10)
	sent, failed := f.send("sent"), f.send("failed")
	now := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, sent, now))
	mustNoErr(t, f.db.MarkSent(f.ctx, sent, wagate.Try{At: now}))
	mustNoErr(t, f.db.MarkFailed(f.ctx, failed, wagate.Try{At: now, Error: "bad"}))
	wantCode(t, f.db.Retry(f.ctx, sent, retryTry(now, "late"), now), wagate.ECONFLICT)
	wantCode(t, f.db.Retry(f.ctx, failed, retryTry(now, "late"), now), wagate.ECONFLICT)
	wantCode(t, f.db.Retry(f.ctx, "wa_backend:00000000000000000000", retryTry(now, "x"), now), wagate.ENOTFOUND)
	if f.balance() != 9 {
		t.Fatalf("balance = %d, want 9", f.balance())
	}
}

func TestSendingListsInterruptedSends(t *testing.T) {
	f := newFixture(t, 10)
	a, b := f.send("a"), f.send("b")
	f.send("c")
	mustNoErr(t, f.db.MarkSending(f.ctx, a, f.clock.Now()))
	mustNoErr(t, f.db.MarkSending(f.ctx, b, f.clock.Now()))
	list, err := f.db.Sending(f.ctx)
	mustNoErr(t, err)
	var got []string
	for _, m := range list {
		got = append(got, m.ID)
	}
	slices.Sort(got)
	want := []string{a, b}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Sending = %v, want %v", got, want)
	}
	n, err := f.db.RecoverSending(f.ctx, f.clock.Now())
	mustNoErr(t, err)
	if m := f.message(a); n != 2 || m.Tries[0].Class != wagate.TryClassInterrupted || m.Tries[0].Error != ErrorInterrupted {
		t.Fatalf("recovered %d; a = %+v, want an interrupted try", n, m)
	}
	if list, _ = f.db.Sending(f.ctx); len(list) != 0 {
		t.Fatalf("Sending after recovery = %d messages", len(list))
	}
}

// TestRefundExactlyOnceUnderRaces lets every way a message can end race on
// the real store: MarkFailed from several goroutines, Retry, MarkSent and
// an account deletion, at once. Each message must end sent or failed with
// exactly one failing write applied, and the credits must add up (the
// fixture's cleanup runs the audit too).
func TestRefundExactlyOnceUnderRaces(t *testing.T) {
	const n = 40
	f := newFixture(t, 1000)
	var ids []string
	for i := range n {
		ids = append(ids, f.sendTo(fmt.Sprintf("1%09d@s.whatsapp.net", i), fmt.Sprint("m", i)))
	}
	now := f.clock.Now()
	for _, id := range ids[:n/2] {
		mustNoErr(t, f.db.MarkSending(f.ctx, id, now))
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	run := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := fn(); err != nil && wagate.ErrorCode(err) != wagate.ECONFLICT && wagate.ErrorCode(err) != wagate.ENOTFOUND {
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	for i, id := range ids {
		for k := range 3 {
			run(func() error {
				return f.db.MarkFailed(f.ctx, id, wagate.Try{At: now, Result: wagate.TryResultFailed, Error: fmt.Sprint("failure ", k)})
			})
		}
		run(func() error { return f.db.Retry(f.ctx, id, retryTry(now, "503"), now.Add(time.Minute)) })
		if i%4 == 0 {
			run(func() error { return f.db.MarkSent(f.ctx, id, wagate.Try{At: now, Result: wagate.TryResultSent}) })
		}
	}
	run(func() error { return f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, now) })
	close(start)
	wg.Wait()

	var spent int64
	for _, id := range ids {
		m := f.message(id)
		failedTries := 0
		for _, try := range m.Tries {
			if try.Result == wagate.TryResultFailed {
				failedTries++
			}
		}
		switch m.Status {
		case wagate.StatusSent:
			spent += m.Credits
			if failedTries != 0 {
				t.Errorf("%s is sent but has %d failed tries", id, failedTries)
			}
		case wagate.StatusFailed:
			if failedTries != 1 {
				t.Errorf("%s failed with %d failing writes applied, want exactly 1: %+v", id, failedTries, m.Tries)
			}
		default:
			t.Errorf("%s ended %s, want sent or failed", id, m.Status)
		}
	}
	if got, want := f.balance(), int64(1000)-spent; got != want {
		t.Errorf("balance = %d, want %d (1000 minus the %d credits of sent messages)", got, want, spent)
	}
	problems, err := f.db.Audit(f.ctx)
	mustNoErr(t, err)
	if len(problems) > 0 {
		t.Errorf("audit: %v", problems)
	}
}

func TestAttemptShowsTheFinalStatusAfterRetries(t *testing.T) {
	f := newFixture(t, 10)
	id := f.send("retried, then failed")
	now := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, id, now))
	mustNoErr(t, f.db.Retry(f.ctx, id, retryTry(now, "503"), now.Add(5*time.Second)))
	list, err := f.db.ListAttempts(f.ctx, f.ws.ID, 1)
	mustNoErr(t, err)
	if list[0].SendStatus != wagate.StatusQueued || list[0].SendError != "503" {
		t.Fatalf("attempt while retrying = %s %q, want queued with the last error", list[0].SendStatus, list[0].SendError)
	}
	mustNoErr(t, f.db.MarkSending(f.ctx, id, now.Add(5*time.Second)))
	mustNoErr(t, f.db.MarkFailed(f.ctx, id, wagate.Try{At: now.Add(6 * time.Second), Class: wagate.TryClassPermanent, Error: "recipient is not on WhatsApp"}))
	list, err = f.db.ListAttempts(f.ctx, f.ws.ID, 1)
	mustNoErr(t, err)
	if list[0].SendStatus != wagate.StatusFailed || list[0].SendError != "recipient is not on WhatsApp" {
		t.Fatalf("attempt after the failure = %s %q, want failed with the final error", list[0].SendStatus, list[0].SendError)
	}
	m := f.message(id)
	if len(m.Tries) != 2 || m.Tries[0].Class != wagate.TryClassTransient || m.Tries[1].Class != wagate.TryClassPermanent {
		t.Fatalf("tries = %+v, want the retry and the failure with their classes", m.Tries)
	}
}
