package store

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// A message behind a retrying one to the same recipient says which it
// waits for; the retrying one says when its retry is due; a message to
// another recipient waits for nothing.
func TestWaitingForARetryToTheSameRecipient(t *testing.T) {
	f := newFixture(t, 10)
	a := f.sendTo(testJID, "a")
	b := f.sendTo(testJID2, "b")
	c := f.sendTo(testJID, "c: same recipient as a")
	now := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, a, now))
	due := now.Add(10 * time.Minute)
	mustNoErr(t, f.db.Retry(f.ctx, a, retryTry(now, "cloud: 503"), due))

	if m := f.message(c); m.WaitingFor != a {
		t.Fatalf("c.WaitingFor = %q, want a (%s)", m.WaitingFor, a)
	}
	if m := f.message(a); m.WaitingFor != "" || !m.NextTryAt.Equal(due) {
		t.Fatalf("a: WaitingFor %q NextTryAt %v; want none and %v", m.WaitingFor, m.NextTryAt, due)
	}
	if m := f.message(b); m.WaitingFor != "" {
		t.Fatalf("b (another recipient).WaitingFor = %q, want none", m.WaitingFor)
	}
	page, _, err := f.db.PageMessages(f.ctx, f.ws.ID, wagate.StatusQueued, 10, "")
	mustNoErr(t, err)
	for _, m := range page {
		if want := map[string]string{c: a}[m.ID]; m.WaitingFor != want {
			t.Errorf("listed %s.WaitingFor = %q, want %q", m.ID, m.WaitingFor, want)
		}
	}

	// Once the retry is due, nothing waits any more.
	f.clock.Advance(10 * time.Minute)
	if m := f.message(c); m.WaitingFor != "" {
		t.Fatalf("after the retry is due, c.WaitingFor = %q", m.WaitingFor)
	}
}

func TestCancelQueuedMessage(t *testing.T) {
	f := newFixture(t, 10)
	a := f.send("a")
	b := f.send("b")
	now := f.clock.Now()
	m, err := f.db.CancelMessage(f.ctx, f.ws.ID, a, wagate.SourceAPI, now)
	mustNoErr(t, err)
	if m.Status != wagate.StatusFailed || m.Error != wagate.ErrorCancelled {
		t.Fatalf("cancelled message: status %s error %q", m.Status, m.Error)
	}
	if last := m.Tries[len(m.Tries)-1]; last.Class != wagate.TryClassCancelled || last.Result != wagate.TryResultFailed {
		t.Fatalf("last try = %+v, want a cancelled failed try", last)
	}
	if got := f.balance(); got != 9 {
		t.Fatalf("balance after cancel = %d, want 9 (refunded)", got)
	}
	if h := f.head(f.ref()); h != b {
		t.Fatalf("queue head = %s, want b: a left the queue", h)
	}
	// The sender had a planned: it must not take it.
	wantCode(t, f.db.MarkSending(f.ctx, a, now), wagate.ECONFLICT)
	// Cancelled again: 409, and no second refund.
	_, err = f.db.CancelMessage(f.ctx, f.ws.ID, a, wagate.SourceAPI, now)
	wantCode(t, err, wagate.ECONFLICT)
	if got := f.balance(); got != 9 {
		t.Fatalf("balance after a second cancel = %d, want 9", got)
	}
	checkConsistent(t, f.db)
}

func TestCancelBetweenRetries(t *testing.T) {
	f := newFixture(t, 10)
	a := f.send("a")
	now := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, a, now))
	mustNoErr(t, f.db.Retry(f.ctx, a, retryTry(now, "cloud: 503"), now.Add(time.Hour)))
	m, err := f.db.CancelMessage(f.ctx, f.ws.ID, a, wagate.SourceAPI, now.Add(time.Minute))
	mustNoErr(t, err)
	if m.Status != wagate.StatusFailed || !m.NextTryAt.IsZero() || len(m.Tries) != 2 {
		t.Fatalf("cancelled retry: %s, next %v, %d tries", m.Status, m.NextTryAt, len(m.Tries))
	}
	if ids, due := f.next(now.Add(2*time.Hour), 10); len(ids) != 0 || !due.IsZero() {
		t.Fatalf("Next after cancel = %v due %v; want an empty queue", ids, due)
	}
	wantCode(t, f.db.Retry(f.ctx, a, retryTry(now, "late"), now), wagate.ECONFLICT)
	if got := f.balance(); got != 10 {
		t.Fatalf("balance = %d, want 10", got)
	}
	checkConsistent(t, f.db)
}

func TestCancelRefusesSendingFinalAndOthers(t *testing.T) {
	f := newFixture(t, 10)
	sending := f.send("sending")
	sent := f.send("sent")
	now := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, sent, now))
	mustNoErr(t, f.db.MarkSent(f.ctx, sent, wagate.Try{At: now}))
	mustNoErr(t, f.db.MarkSending(f.ctx, sending, now))
	for _, tc := range []struct {
		ws, id, code, says string
	}{
		{f.ws.ID, sending, wagate.ECONFLICT, "being sent"},
		{f.ws.ID, sent, wagate.ECONFLICT, "already sent"},
		{f.ws.ID, "wa_backend:00000000000000000000", wagate.ENOTFOUND, "not a message"},
		{"ws_other", sent, wagate.ENOTFOUND, "not a message"},
	} {
		_, err := f.db.CancelMessage(f.ctx, tc.ws, tc.id, wagate.SourceAPI, now)
		wantCode(t, err, tc.code)
		if msg := wagate.ErrorMessage(err); !strings.Contains(msg, tc.says) {
			t.Errorf("cancel %s: message %q does not say %q", tc.id, msg, tc.says)
		}
	}
	if got := f.balance(); got != 8 {
		t.Fatalf("balance = %d, want 8: nothing refunded", got)
	}
	mustNoErr(t, f.db.MarkSent(f.ctx, sending, wagate.Try{At: now}))
}

// Following next cursors walks every message once, newest first, with and
// without a status filter, across the scan budget too.
func TestPageMessagesWalksEveryMessageOnce(t *testing.T) {
	f := newFixture(t, 100)
	var all []string
	for i := range 23 {
		all = append(all, f.send(fmt.Sprintf("m%d", i)))
	}
	now := f.clock.Now()
	var sent []string
	for i, id := range all {
		if i%3 == 0 {
			mustNoErr(t, f.db.MarkSending(f.ctx, id, now))
			mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: now}))
			sent = append(sent, id)
		}
	}
	slices.Reverse(all)
	slices.Reverse(sent)
	for _, tc := range []struct {
		status wagate.MessageStatus
		limit  int
		want   []string
	}{
		{"", 5, all}, {"", 23, all}, {"", 1, all}, {wagate.StatusSent, 2, sent}, {"", 100, all},
	} {
		var got []string
		cursor, pages := "", 0
		for {
			page, next, err := f.db.PageMessages(f.ctx, f.ws.ID, tc.status, tc.limit, cursor)
			mustNoErr(t, err)
			if len(page) > tc.limit {
				t.Fatalf("page of %d with limit %d", len(page), tc.limit)
			}
			for _, m := range page {
				got = append(got, m.ID)
			}
			pages++
			if next == "" {
				break
			}
			cursor = next
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("status %q limit %d: walked %v, want %v", tc.status, tc.limit, got, tc.want)
		}
		if wantPages := (len(tc.want) + tc.limit - 1) / tc.limit; pages != wantPages {
			t.Errorf("status %q limit %d: %d pages, want %d (no empty last page)", tc.status, tc.limit, pages, wantPages)
		}
	}
	for _, bad := range []string{"!!", "AAAA", "not a cursor"} {
		_, _, err := f.db.PageMessages(f.ctx, f.ws.ID, "", 5, bad)
		wantCode(t, err, wagate.EINVALID)
		if !strings.Contains(wagate.ErrorMessage(err), "cursor") {
			t.Errorf("bad cursor %q: message %q does not name cursor", bad, wagate.ErrorMessage(err))
		}
	}
}

func TestPageChatsWalksEveryChatOnce(t *testing.T) {
	f := newFixture(t, 100)
	var want []int64
	for i := range 12 {
		name := "Other"
		if i%2 == 0 {
			name = "Alice"
		}
		c := &wagate.Chat{WorkspaceID: f.ws.ID, AccountPhone: f.phone, JID: fmt.Sprintf("1415555%04d@s.whatsapp.net", i), Name: name}
		mustNoErr(t, f.db.CreateChat(f.ctx, c))
		want = append(want, c.ID)
	}
	for _, tc := range []struct {
		name  string
		limit int
		want  []int64
	}{
		{"", 5, want}, {"", 12, want}, {"Alice", 4, []int64{want[0], want[2], want[4], want[6], want[8], want[10]}},
	} {
		var got []int64
		cursor := ""
		for {
			page, next, err := f.db.PageChats(f.ctx, f.ws.ID, tc.name, tc.limit, cursor)
			mustNoErr(t, err)
			for _, c := range page {
				got = append(got, c.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("name %q limit %d: walked %v, want %v", tc.name, tc.limit, got, tc.want)
		}
	}
	_, _, err := f.db.PageChats(f.ctx, f.ws.ID, "", 5, "x")
	wantCode(t, err, wagate.EINVALID)
}

// Retention deletes messages final for longer than the retention, with
// their list and provider-id entries, keeps queued and recent ones, and
// credits still add up (the audit at cleanup checks it too).
func TestPruneMessages(t *testing.T) {
	f := newFixture(t, 100)
	oldSent := f.send("old sent")
	oldFailed := f.send("old failed")
	oldQueued := f.send("old queued")
	t0 := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, oldSent, t0))
	mustNoErr(t, f.db.MarkSent(f.ctx, oldSent, wagate.Try{At: t0, ProviderID: "wamid.OLD"}))
	mustNoErr(t, f.db.MarkFailed(f.ctx, oldFailed, wagate.Try{At: t0, Error: "bad recipient"}))

	f.clock.Advance(40 * 24 * time.Hour)
	recentSent := f.send("recent sent")
	t1 := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, recentSent, t1))
	mustNoErr(t, f.db.MarkSent(f.ctx, recentSent, wagate.Try{At: t1, ProviderID: "wamid.NEW"}))
	balance := f.balance()

	n, err := f.db.PruneMessages(f.ctx, t1.Add(-30*24*time.Hour))
	mustNoErr(t, err)
	if n != 2 {
		t.Fatalf("PruneMessages deleted %d, want 2", n)
	}
	for _, id := range []string{oldSent, oldFailed} {
		_, err := f.db.FindMessage(f.ctx, f.ws.ID, id)
		wantCode(t, err, wagate.ENOTFOUND)
	}
	for _, id := range []string{oldQueued, recentSent} {
		f.message(id)
	}
	all, err := f.db.ListMessages(f.ctx, f.ws.ID, "", 0)
	mustNoErr(t, err)
	if len(all) != 2 {
		t.Fatalf("list after prune has %d messages, want 2", len(all))
	}
	_, _, err = f.db.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.OLD", Status: "read"}, func(string, string) bool { return true })
	wantCode(t, err, wagate.ENOTFOUND)
	if got := f.balance(); got != balance {
		t.Fatalf("balance changed by the prune: %d, want %d", got, balance)
	}
	checkConsistent(t, f.db)
	// A second run finds nothing more.
	if n, err := f.db.PruneMessages(f.ctx, t1.Add(-30*24*time.Hour)); err != nil || n != 0 {
		t.Fatalf("second prune = %d, %v", n, err)
	}
}

// More than one batch: every commit deletes at most PruneBatch, and all go.
func TestPruneMessagesInBatches(t *testing.T) {
	f := newFixture(t, 2*PruneBatch+10)
	now := f.clock.Now()
	for range PruneBatch + 7 {
		id := f.send("x")
		mustNoErr(t, f.db.MarkFailed(f.ctx, id, wagate.Try{At: now, Error: "no"}))
	}
	var commits atomic.Int64
	f.db.failCommit = func(op string) error {
		if op == "prune messages" {
			commits.Add(1)
		}
		return nil
	}
	f.clock.Advance(48 * time.Hour)
	n, err := f.db.PruneMessages(f.ctx, f.clock.Now().Add(-time.Hour))
	mustNoErr(t, err)
	if n != PruneBatch+7 {
		t.Fatalf("pruned %d, want %d", n, PruneBatch+7)
	}
	if got := commits.Load(); got != 2 {
		t.Fatalf("%d prune commits, want 2 (at most %d deletions each)", got, PruneBatch)
	}
	all, err := f.db.ListMessages(f.ctx, f.ws.ID, "", 0)
	mustNoErr(t, err)
	if len(all) != 0 {
		t.Fatalf("%d messages left", len(all))
	}
}

// Cancel and MarkSending racing on the same messages: for each message
// exactly one wins, a cancelled message is never taken for sending, and
// credits add up (the audit at cleanup).
func TestCancelRacesMarkSending(t *testing.T) {
	f := newFixture(t, 100)
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.send(fmt.Sprint("m", i))
	}
	now := f.clock.Now()
	var wg sync.WaitGroup
	cancelled := make([]bool, n)
	taken := make([]bool, n)
	for i, id := range ids {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := f.db.CancelMessage(f.ctx, f.ws.ID, id, wagate.SourceAPI, now)
			cancelled[i] = err == nil
			if err != nil && wagate.ErrorCode(err) != wagate.ECONFLICT {
				t.Errorf("cancel %s: %v", id, err)
			}
		}()
		go func() {
			defer wg.Done()
			err := f.db.MarkSending(f.ctx, id, now)
			taken[i] = err == nil
			if err != nil && wagate.ErrorCode(err) != wagate.ECONFLICT {
				t.Errorf("mark sending %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	refunded := int64(0)
	for i, id := range ids {
		if cancelled[i] == taken[i] {
			t.Fatalf("message %d: cancelled %v, taken %v; want exactly one", i, cancelled[i], taken[i])
		}
		m := f.message(id)
		switch {
		case cancelled[i] && m.Status != wagate.StatusFailed:
			t.Errorf("cancelled message %d is %s", i, m.Status)
		case taken[i] && m.Status != wagate.StatusSending:
			t.Errorf("taken message %d is %s", i, m.Status)
		}
		if cancelled[i] {
			refunded++
		} else {
			mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: now}))
		}
	}
	if got := f.balance(); got != 100-n+refunded {
		t.Fatalf("balance = %d, want %d", got, 100-n+refunded)
	}
}
