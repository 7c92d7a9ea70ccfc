package store

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

func TestAcceptChargesQueuesAndCreatesChat(t *testing.T) {
	f := newFixture(t, 10)

	a := f.request("hello", 1)
	res := f.accept(a)
	if res.Replayed || res.Balance != 9 {
		t.Fatalf("result = %+v", res)
	}
	m := res.Message
	if m.ID != a.Message.ID || m.Status != wagate.StatusQueued || m.WorkspaceID != f.ws.ID || m.ChatID != 1 || m.Credits != 1 {
		t.Fatalf("message = %+v", m)
	}
	if a.Attempt.Code != "" || a.Attempt.MessageID != m.ID || a.Attempt.Credits != 1 {
		t.Fatalf("caller's attempt not filled: %+v", a.Attempt)
	}
	chat, err := f.db.FindChat(f.ctx, f.ws.ID, 1)
	mustNoErr(t, err)
	if chat.JID != testJID || chat.Name != "Customer" || chat.Group || chat.AccountPhone != testPhone {
		t.Fatalf("created chat = %+v", chat)
	}

	// The same JID reuses the chat; text and file cost 2.
	b := f.request("with a file", 2)
	b.Message.FileURL, b.Message.FileName = "https://example.com/logo.png", "logo.png"
	b.ChatName = "ignored: the chat exists"
	res = f.accept(b)
	if res.Message.ChatID != 1 || res.Balance != 7 || res.Message.FileName != "logo.png" {
		t.Fatalf("second = %+v balance %d", res.Message, res.Balance)
	}
	if f.balance() != 7 {
		t.Fatalf("balance = %d, want 7", f.balance())
	}

	// A group JID makes a group chat.
	g := f.request("to the group", 1)
	g.Message.JID = testGroup
	g.ChatName = "Team"
	res = f.accept(g)
	chat, err = f.db.FindChat(f.ctx, f.ws.ID, res.Message.ChatID)
	mustNoErr(t, err)
	if res.Message.ChatID != 2 || !chat.Group || chat.Name != "Team" {
		t.Fatalf("group chat = %+v", chat)
	}

	// By chat id: the chat decides account and JID.
	c := f.request("by id", 1)
	c.Message.ChatID, c.Message.JID, c.Message.AccountPhone = 2, "", ""
	res = f.accept(c)
	if res.Message.JID != testGroup || res.Message.AccountPhone != testPhone || res.Message.ChatID != 2 {
		t.Fatalf("by chat id = %+v", res.Message)
	}

	if got := f.head(f.ref()); got != a.Message.ID {
		t.Fatalf("queue head = %s, want the first message %s", got, a.Message.ID)
	}
	atts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 0)
	mustNoErr(t, err)
	if len(atts) != 4 || atts[0].MessageID != c.Message.ID || atts[3].MessageID != a.Message.ID || atts[3].Credits != 1 || atts[2].Credits != 2 {
		t.Fatalf("attempts = %+v", atts)
	}
	if atts[3].SendStatus != wagate.StatusQueued || atts[3].Body != "hello" || atts[3].RequestID != a.Attempt.RequestID {
		t.Fatalf("attempt = %+v", atts[3])
	}
}

func TestAcceptInsufficientCredits(t *testing.T) {
	f := newFixture(t, 1)
	a := f.request("text and file", 2)
	a.Message.JID = testJID2
	_, acceptErr := f.db.Accept(f.ctx, a)
	err := acceptErr
	wantCode(t, err, wagate.ECREDITS)
	if !errors.Is(err, quota.ErrInsufficientCredits) {
		t.Fatalf("error %v does not wrap quota.ErrInsufficientCredits", err)
	}
	if !strings.Contains(wagate.ErrorMessage(err), "needs 2 credits") || !strings.Contains(wagate.ErrorMessage(err), "1 left") {
		t.Fatalf("message = %q", wagate.ErrorMessage(err))
	}
	if f.balance() != 1 {
		t.Fatalf("balance = %d, want 1", f.balance())
	}
	if got := f.head(f.ref()); got != "" {
		t.Fatalf("queue has %s", got)
	}
	_, err = f.db.FindMessage(f.ctx, f.ws.ID, a.Message.ID)
	wantCode(t, err, wagate.ENOTFOUND)
	chats, err := f.db.ListChats(f.ctx, f.ws.ID, "")
	mustNoErr(t, err)
	if len(chats) != 0 {
		t.Fatalf("a refused request created a chat: %+v", chats)
	}
	atts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 0)
	mustNoErr(t, err)
	if len(atts) != 1 || atts[0].Code != wagate.ECREDITS || atts[0].MessageID != "" || atts[0].Credits != 0 || atts[0].Message != wagate.ErrorMessage(acceptErr) {
		t.Fatalf("attempts = %+v", atts)
	}
	if a.Attempt.Code != wagate.ECREDITS {
		t.Fatalf("caller's attempt code = %q", a.Attempt.Code)
	}
}

// TestAcceptPrunesExpiredIdempotencyKeys: each accept deletes at most
// wagate.IdempotencyPruneMax expired records with their index entries,
// the ones written at or before wagate.IdempotencyCutoff, and keeps a
// record still within the window (store/postgres has the same test).
func TestAcceptPrunesExpiredIdempotencyKeys(t *testing.T) {
	f := newFixture(t, 100)
	old := wagate.IdempotencyPruneMax + 2
	for i := range old {
		a := f.request("x", 1)
		a.IdempotencyKey = strings.Repeat("k", i+1)
		f.accept(a)
	}
	f.clock.Advance(time.Nanosecond)
	young := f.request("x", 1)
	young.IdempotencyKey = "young"
	f.accept(young)
	f.clock.Advance(IdempotencyWindow - time.Nanosecond) // the old ones are exactly at the cutoff
	left := func(want int, after string) {
		t.Helper()
		err := f.db.bolt.View(func(tx *bolt.Tx) error {
			if n := tx.Bucket(bucketIdempotency).Stats().KeyN; n != want {
				t.Errorf("%d idempotency records left after %s, want %d", n, after, want)
			}
			if n := tx.Bucket(bucketIdemByTime).Stats().KeyN; n != want {
				t.Errorf("%d idempotency index entries left after %s, want %d", n, after, want)
			}
			return nil
		})
		mustNoErr(t, err)
	}
	f.send("no key") // any accept prunes a few expired keys
	left(3, "one accept")
	f.send("no key")
	left(1, "two accepts")
}

func TestAcceptRefusals(t *testing.T) {
	f := newFixture(t, 10)
	f.createAccount(f.ws.ID, testPhone2, false)
	chat := &wagate.Chat{WorkspaceID: f.ws.ID, AccountPhone: testPhone2, JID: testJID, Name: "Bob"}
	mustNoErr(t, f.db.CreateChat(f.ctx, chat))

	tests := []struct {
		name   string
		change func(a *wagate.Accept)
		code   string
		say    string
	}{
		{"inactive account", func(a *wagate.Accept) { a.Message.AccountPhone = testPhone2 }, wagate.EINVALID, testPhone2},
		{"unknown account", func(a *wagate.Accept) { a.Message.AccountPhone = "+10000000000" }, wagate.EINVALID, "+10000000000"},
		{"chat of an inactive account", func(a *wagate.Accept) { a.Message.ChatID = chat.ID }, wagate.EINVALID, testPhone2},
		{"unknown chat id", func(a *wagate.Accept) { a.Message.ChatID = 77234 }, wagate.EINVALID, "chat_id 77234 is not a chat of this workspace"},
		{"no account", func(a *wagate.Accept) { a.Message.AccountPhone = "" }, wagate.EINVALID, "whatsapp_account_phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.request("hi", 1)
			tt.change(a)
			_, err := f.db.Accept(f.ctx, a)
			wantCode(t, err, tt.code)
			if !strings.Contains(wagate.ErrorMessage(err), tt.say) {
				t.Fatalf("message %q does not say %q", wagate.ErrorMessage(err), tt.say)
			}
			atts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 1)
			mustNoErr(t, err)
			if len(atts) != 1 || atts[0].Code != tt.code || atts[0].RequestID != a.Attempt.RequestID {
				t.Fatalf("attempt = %+v", atts)
			}
		})
	}
	if f.balance() != 10 {
		t.Fatalf("balance = %d, want 10", f.balance())
	}

	// An unknown workspace has no attempt log: ENOTFOUND, nothing written.
	a := f.request("hi", 1)
	a.WorkspaceID = "ws_missing"
	_, err := f.db.Accept(f.ctx, a)
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestAcceptConcurrent(t *testing.T) {
	const callers, credits = 50, 30
	f := newFixture(t, credits)
	reqs := make([]*wagate.Accept, callers)
	for i := range reqs {
		reqs[i] = f.request("concurrent", 1)
	}
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.db.Accept(f.ctx, reqs[i])
		}()
	}
	wg.Wait()

	accepted := 0
	for _, err := range errs {
		switch wagate.ErrorCode(err) {
		case "":
			accepted++
		case wagate.ECREDITS:
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if accepted != credits {
		t.Fatalf("accepted %d, want %d", accepted, credits)
	}
	if f.balance() != 0 {
		t.Fatalf("balance = %d, want 0", f.balance())
	}
	msgs, err := f.db.ListMessages(f.ctx, f.ws.ID, wagate.StatusQueued, 1000)
	mustNoErr(t, err)
	if len(msgs) != credits {
		t.Fatalf("%d queued messages, want %d", len(msgs), credits)
	}
	chats, err := f.db.ListChats(f.ctx, f.ws.ID, "")
	mustNoErr(t, err)
	if len(chats) != 1 {
		t.Fatalf("%d chats for one JID, want 1", len(chats))
	}
	atts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 0)
	mustNoErr(t, err)
	if len(atts) != callers {
		t.Fatalf("%d attempts, want %d", len(atts), callers)
	}
	checkConsistent(t, f.db)
}

func TestAcceptConcurrentSameKey(t *testing.T) {
	f := newFixture(t, 10)
	const callers = 10
	results := make([]*wagate.AcceptResult, callers)
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		a := f.request("same", 1)
		a.IdempotencyKey = "k"
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.db.Accept(f.ctx, a)
			if err != nil {
				t.Errorf("Accept: %v", err)
				return
			}
			results[i] = res
		}()
	}
	wg.Wait()
	fresh := 0
	for _, r := range results {
		if r != nil && !r.Replayed {
			fresh++
		}
	}
	if fresh != 1 || f.balance() != 9 {
		t.Fatalf("%d first answers and balance %d, want 1 and 9", fresh, f.balance())
	}
}

func TestAttemptLog(t *testing.T) {
	f := newFixture(t, 0)
	const n = wagate.AttemptLimit + 5
	for i := 0; i < n; i++ {
		err := f.db.RecordAttempt(f.ctx, f.ws.ID, &wagate.Attempt{
			At: f.clock.Now(), RequestID: reqID(i), Code: wagate.EINVALID, Message: "bad json",
		})
		mustNoErr(t, err)
	}
	atts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 0)
	mustNoErr(t, err)
	if len(atts) != wagate.AttemptLimit {
		t.Fatalf("%d attempts, want %d", len(atts), wagate.AttemptLimit)
	}
	for i, a := range atts {
		if want := reqID(n - 1 - i); a.RequestID != want {
			t.Fatalf("attempt %d = %s, want %s (newest first)", i, a.RequestID, want)
		}
	}
	err = f.db.bolt.View(func(tx *bolt.Tx) error {
		if kn := tx.Bucket(bucketAttempts).Bucket([]byte(f.ws.ID)).Stats().KeyN; kn != wagate.AttemptLimit {
			t.Errorf("bucket holds %d attempts, want %d", kn, wagate.AttemptLimit)
		}
		return nil
	})
	mustNoErr(t, err)
	some, err := f.db.ListAttempts(f.ctx, f.ws.ID, 3)
	mustNoErr(t, err)
	if len(some) != 3 || some[0].RequestID != reqID(n-1) {
		t.Fatalf("limit 3 = %+v", some)
	}
	wantCode(t, f.db.RecordAttempt(f.ctx, "ws_missing", &wagate.Attempt{}), wagate.ENOTFOUND)
	_, err = f.db.ListAttempts(f.ctx, "ws_missing", 0)
	wantCode(t, err, wagate.ENOTFOUND)
}

func reqID(i int) string { return "r" + string(rune('A'+i/26)) + string(rune('a'+i%26)) }

func TestAttemptBodyIsCut(t *testing.T) {
	f := newFixture(t, 0)
	// A 3-byte character straddles the limit.
	body := strings.Repeat("a", wagate.AttemptBodyLimit-1) + "€" + strings.Repeat("b", 100)
	mustNoErr(t, f.db.RecordAttempt(f.ctx, f.ws.ID, &wagate.Attempt{Body: body}))
	atts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 1)
	mustNoErr(t, err)
	if got := atts[0].Body; got != strings.Repeat("a", wagate.AttemptBodyLimit-1) {
		t.Fatalf("kept %d bytes ending %q", len(got), got[len(got)-3:])
	}
	if atts[0].At.IsZero() {
		t.Fatal("a zero At was not set to now")
	}
}

func TestListAttemptsShowsSendStatus(t *testing.T) {
	f := newFixture(t, 10)
	ok := f.send("will be sent")
	bad := f.send("will fail")
	at := f.clock.Now()
	mustNoErr(t, f.db.MarkSending(f.ctx, ok, at))
	mustNoErr(t, f.db.MarkSent(f.ctx, ok, wagate.Try{At: at, Result: wagate.TryResultSent, ProviderID: "wamid.1"}))
	mustNoErr(t, f.db.MarkSending(f.ctx, bad, at))
	mustNoErr(t, f.db.MarkFailed(f.ctx, bad, wagate.Try{At: at, Result: wagate.TryResultFailed, Error: "recipient is not on WhatsApp"}))

	atts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 0)
	mustNoErr(t, err)
	if len(atts) != 2 {
		t.Fatalf("%d attempts", len(atts))
	}
	if atts[1].MessageID != ok || atts[1].SendStatus != wagate.StatusSent || atts[1].SendError != "" {
		t.Fatalf("sent attempt = %+v", atts[1])
	}
	if atts[0].MessageID != bad || atts[0].SendStatus != wagate.StatusFailed || atts[0].SendError != "recipient is not on WhatsApp" {
		t.Fatalf("failed attempt = %+v", atts[0])
	}
}

func TestListAndFindMessages(t *testing.T) {
	f := newFixture(t, 10)
	ids := []string{f.send("one"), f.send("two"), f.send("three")}
	mustNoErr(t, f.db.MarkSending(f.ctx, ids[0], f.clock.Now()))

	all, err := f.db.ListMessages(f.ctx, f.ws.ID, "", 0)
	mustNoErr(t, err)
	if len(all) != 3 || all[0].ID != ids[2] || all[2].ID != ids[0] {
		t.Fatalf("ListMessages not newest first: %v", all)
	}
	queued, err := f.db.ListMessages(f.ctx, f.ws.ID, wagate.StatusQueued, 0)
	mustNoErr(t, err)
	if len(queued) != 2 || queued[0].ID != ids[2] || queued[1].ID != ids[1] {
		t.Fatalf("queued = %v", queued)
	}
	one, err := f.db.ListMessages(f.ctx, f.ws.ID, "", 1)
	mustNoErr(t, err)
	if len(one) != 1 || one[0].ID != ids[2] {
		t.Fatalf("limit 1 = %v", one)
	}
	_, err = f.db.ListMessages(f.ctx, f.ws.ID, "delivered", 0)
	wantCode(t, err, wagate.EINVALID)
	_, err = f.db.ListMessages(f.ctx, "ws_missing", "", 0)
	wantCode(t, err, wagate.ENOTFOUND)

	m := f.message(ids[1])
	if m.Text != "two" || m.JID != testJID || m.AccountPhone != testPhone || m.CreatedAt.IsZero() {
		t.Fatalf("FindMessage = %+v", m)
	}
	other := f.createWorkspace(0)
	_, err = f.db.FindMessage(f.ctx, other.ID, ids[1])
	wantCode(t, err, wagate.ENOTFOUND)
}
