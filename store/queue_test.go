package store

import (
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

func TestQueueFIFO(t *testing.T) {
	f := newFixture(t, 100)
	f.createAccount(f.ws.ID, testPhone2, true)
	var first, second []string
	for i := 0; i < 5; i++ {
		first = append(first, f.send("a"))
		a := f.request("b", 1)
		a.Message.AccountPhone = testPhone2
		second = append(second, f.accept(a).Message.ID)
	}

	refs, err := f.db.QueuedAccounts(f.ctx)
	mustNoErr(t, err)
	if len(refs) != 2 || !slices.Contains(refs, f.ref()) || !slices.Contains(refs, wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: testPhone2}) {
		t.Fatalf("QueuedAccounts = %v", refs)
	}

	drain := func(ref wagate.AccountRef) []string {
		var got []string
		for {
			id := f.head(ref)
			if id == "" {
				return got
			}
			got = append(got, id)
			mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
			mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: f.clock.Now(), Result: wagate.TryResultSent}))
		}
	}
	if got := drain(f.ref()); !slices.Equal(got, first) {
		t.Fatalf("account 1 order = %v, want %v", got, first)
	}
	refs, err = f.db.QueuedAccounts(f.ctx)
	mustNoErr(t, err)
	if len(refs) != 1 || refs[0].Phone != testPhone2 {
		t.Fatalf("QueuedAccounts after draining one = %v", refs)
	}
	if got := drain(wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: testPhone2}); !slices.Equal(got, second) {
		t.Fatalf("account 2 order = %v, want %v", got, second)
	}
	refs, err = f.db.QueuedAccounts(f.ctx)
	mustNoErr(t, err)
	if len(refs) != 0 {
		t.Fatalf("QueuedAccounts when all sent = %v", refs)
	}
	if f.head(wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: "+10000000000"}) != "" {
		t.Fatal("an unknown account has a head")
	}
}

func TestMarkTransitions(t *testing.T) {
	f := newFixture(t, 10)
	id := f.send("hi")
	at := f.clock.Now().Add(time.Second)

	wantCode(t, f.db.MarkSending(f.ctx, "wa_backend:00000000000000000000", at), wagate.ENOTFOUND)
	mustNoErr(t, f.db.MarkSending(f.ctx, id, at))
	if m := f.message(id); m.Status != wagate.StatusSending {
		t.Fatalf("status = %s", m.Status)
	}
	if f.head(f.ref()) != "" {
		t.Fatal("a sending message is still in the queue")
	}
	wantCode(t, f.db.MarkSending(f.ctx, id, at), wagate.ECONFLICT)

	sentAt := at.Add(time.Second)
	mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: sentAt, Result: wagate.TryResultSent, ProviderID: "wamid.X"}))
	m := f.message(id)
	if m.Status != wagate.StatusSent || !m.SentAt.Equal(sentAt) || len(m.Tries) != 1 || m.Tries[0].ProviderID != "wamid.X" {
		t.Fatalf("sent = %+v", m)
	}
	// Repeated and late calls leave a sent message alone.
	mustNoErr(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: sentAt}))
	mustNoErr(t, f.db.MarkFailed(f.ctx, id, wagate.Try{At: sentAt, Error: "late"}))
	m = f.message(id)
	if m.Status != wagate.StatusSent || len(m.Tries) != 1 || m.Error != "" {
		t.Fatalf("sent message changed: %+v", m)
	}
	if f.balance() != 9 {
		t.Fatalf("balance = %d, want 9: a sent message was refunded", f.balance())
	}
	wantCode(t, f.db.MarkSent(f.ctx, "wa_backend:00000000000000000000", wagate.Try{}), wagate.ENOTFOUND)
	wantCode(t, f.db.MarkFailed(f.ctx, "wa_backend:00000000000000000000", wagate.Try{}), wagate.ENOTFOUND)
}

func TestMarkFailedRefundsOnce(t *testing.T) {
	f := newFixture(t, 10)
	a := f.request("text and file", 2)
	id := f.accept(a).Message.ID
	if f.balance() != 8 {
		t.Fatalf("balance = %d", f.balance())
	}
	mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
	try := wagate.Try{At: f.clock.Now(), Result: wagate.TryResultFailed, Error: "media rejected"}
	mustNoErr(t, f.db.MarkFailed(f.ctx, id, try))
	if f.balance() != 10 {
		t.Fatalf("balance after fail = %d, want 10", f.balance())
	}
	mustNoErr(t, f.db.MarkFailed(f.ctx, id, wagate.Try{At: f.clock.Now(), Error: "again"}))
	if f.balance() != 10 {
		t.Fatalf("balance after second fail = %d, want 10: refunded twice", f.balance())
	}
	m := f.message(id)
	if m.Status != wagate.StatusFailed || m.Error != "media rejected" || len(m.Tries) != 1 {
		t.Fatalf("failed = %+v", m)
	}
	// A refunded message does not become sent for free.
	wantCode(t, f.db.MarkSent(f.ctx, id, wagate.Try{At: f.clock.Now()}), wagate.ECONFLICT)
	wantCode(t, f.db.MarkSending(f.ctx, id, f.clock.Now()), wagate.ECONFLICT)
}

func TestMarkFailedWhileQueued(t *testing.T) {
	f := newFixture(t, 10)
	first := f.send("download fails")
	second := f.send("next")
	mustNoErr(t, f.db.MarkFailed(f.ctx, first, wagate.Try{At: f.clock.Now(), Result: wagate.TryResultFailed, Error: "file_url returned a web page, not a direct download link"}))
	if f.balance() != 9 {
		t.Fatalf("balance = %d, want 9", f.balance())
	}
	if got := f.head(f.ref()); got != second {
		t.Fatalf("head = %s, want %s", got, second)
	}
}

func TestDeleteAccountFailsQueued(t *testing.T) {
	f := newFixture(t, 10)
	inFlight := f.send("one")
	queued := []string{f.send("two"), f.send("three")}
	mustNoErr(t, f.db.MarkSending(f.ctx, inFlight, f.clock.Now()))
	if f.balance() != 7 {
		t.Fatalf("balance = %d", f.balance())
	}

	mustNoErr(t, f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now()))
	for _, id := range queued {
		if m := f.message(id); m.Status != wagate.StatusFailed || m.Error != ErrorAccountDeleted || len(m.Tries) != 1 || m.Tries[0].Result != wagate.TryResultFailed {
			t.Fatalf("queued message after delete = %+v", m)
		}
	}
	if f.balance() != 9 {
		t.Fatalf("balance = %d, want 9 (two refunds)", f.balance())
	}
	if m := f.message(inFlight); m.Status != wagate.StatusSending {
		t.Fatalf("in-flight message = %s, want sending (left to the sender)", m.Status)
	}
	_, err := f.db.Account(f.ctx, f.ref())
	wantCode(t, err, wagate.ENOTFOUND)
	refs, err := f.db.QueuedAccounts(f.ctx)
	mustNoErr(t, err)
	if len(refs) != 0 {
		t.Fatalf("QueuedAccounts = %v", refs)
	}
	if f.head(f.ref()) != "" {
		t.Fatal("a deleted account has a head")
	}
	// The sender finishes the in-flight send.
	mustNoErr(t, f.db.MarkSent(f.ctx, inFlight, wagate.Try{At: f.clock.Now(), Result: wagate.TryResultSent}))
	wantCode(t, f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now()), wagate.ENOTFOUND)

	// Its chats stay; sending to one names the missing account.
	a := f.request("after", 1)
	a.Message.ChatID = 1
	_, err = f.db.Accept(f.ctx, a)
	wantCode(t, err, wagate.EINVALID)
}

func TestRecoverSending(t *testing.T) {
	f := newFixture(t, 10)
	ids := []string{f.send("a"), f.send("b"), f.send("c")}
	mustNoErr(t, f.db.MarkSending(f.ctx, ids[0], f.clock.Now()))
	mustNoErr(t, f.db.MarkSending(f.ctx, ids[1], f.clock.Now()))
	at := f.clock.Now().Add(time.Minute)

	n, err := f.db.RecoverSending(f.ctx, at)
	mustNoErr(t, err)
	if n != 2 {
		t.Fatalf("recovered %d, want 2", n)
	}
	for _, id := range ids[:2] {
		m := f.message(id)
		if m.Status != wagate.StatusFailed || m.Error != ErrorInterrupted || len(m.Tries) != 1 || !m.Tries[0].At.Equal(at) {
			t.Fatalf("recovered message = %+v", m)
		}
	}
	if f.balance() != 9 {
		t.Fatalf("balance = %d, want 9", f.balance())
	}
	if got := f.head(f.ref()); got != ids[2] {
		t.Fatalf("head = %s, want the untouched queued message", got)
	}
	n, err = f.db.RecoverSending(f.ctx, at)
	mustNoErr(t, err)
	if n != 0 {
		t.Fatalf("second recovery = %d, want 0", n)
	}
}

func TestQueueSurvivesReopen(t *testing.T) {
	f := newFixture(t, 10)
	ids := []string{f.send("1"), f.send("2"), f.send("3"), f.send("4")}
	mustNoErr(t, f.db.MarkSending(f.ctx, ids[0], f.clock.Now()))
	mustNoErr(t, f.db.Close())

	db := openTest(t, f.path, f.clock)
	f.db = db
	n, err := db.RecoverSending(f.ctx, f.clock.Now())
	mustNoErr(t, err)
	if n != 1 {
		t.Fatalf("recovered %d, want 1", n)
	}
	refs, err := db.QueuedAccounts(f.ctx)
	mustNoErr(t, err)
	if len(refs) != 1 || refs[0] != f.ref() {
		t.Fatalf("QueuedAccounts = %v", refs)
	}
	var got []string
	for id := f.head(f.ref()); id != ""; id = f.head(f.ref()) {
		got = append(got, id)
		mustNoErr(t, db.MarkSending(f.ctx, id, f.clock.Now()))
		mustNoErr(t, db.MarkSent(f.ctx, id, wagate.Try{At: f.clock.Now()}))
	}
	if !slices.Equal(got, ids[1:]) {
		t.Fatalf("order after reopen = %v, want %v", got, ids[1:])
	}
	if f.balance() != 7 {
		t.Fatalf("balance = %d, want 7", f.balance())
	}
}

func TestHeadSkipsAndCleansStaleEntries(t *testing.T) {
	f := newFixture(t, 10)
	sent := f.send("sent")
	live := f.send("live")
	mustNoErr(t, f.db.MarkSending(f.ctx, sent, f.clock.Now()))
	mustNoErr(t, f.db.MarkSent(f.ctx, sent, wagate.Try{At: f.clock.Now()}))
	// Put a stale entry for the sent message in front of the queue, behind
	// the store's back.
	err := f.db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQueues).Bucket(join(f.ws.ID, f.phone)).Put(u64(0), []byte(sent))
	})
	mustNoErr(t, err)
	if got := f.head(f.ref()); got != live {
		t.Fatalf("head = %s, want %s", got, live)
	}
	err = f.db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketQueues).Bucket(join(f.ws.ID, f.phone)).Get(u64(0)) != nil {
			t.Error("the stale entry is still there")
		}
		return nil
	})
	mustNoErr(t, err)
}
