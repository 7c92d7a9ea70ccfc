package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/wagate/wagate"
)

// listen starts db.Listen and returns the wake-ups it reports, once it
// listens (its first wake-up, nil, says so).
func listen(t *testing.T, db *DB) <-chan []wagate.AccountRef {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan []wagate.AccountRef, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = db.Listen(ctx, func(refs []wagate.AccountRef) { wakes <- refs })
	}()
	t.Cleanup(func() { cancel(); <-done })
	if first := <-wakes; first != nil {
		t.Fatalf("Listen's first wake-up: %v, want nil (any account)", first)
	}
	return wakes
}

func phones(refs []wagate.AccountRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Phone)
	}
	slices.Sort(out)
	return out
}

func TestNotifyOncePerCommittedBatch(t *testing.T) {
	r := newReplicas(t)
	r.account("+14155552671", 0)
	w := &batchWorld{t: t, db: r.b, now: r.clock.Now()}
	w.workspace("ws2", 0) // no credits: its accept is refused
	wakes := listen(t, r.a)

	// Replica b commits a batch of four accepts for two accounts and one
	// refused accept: replica a hears ONE wake-up naming the two accounts.
	batch := []*acceptJob{w.job("ws", 1), w.job("ws", 1), w.job("ws2", 1), w.job("ws", 1)}
	other := w.job("ws", 1)
	other.a.Message.AccountPhone = "+14155550002"
	if err := r.b.CreateAccount(context.Background(), &wagate.Account{WorkspaceID: "ws", Phone: "+14155550002", Transport: wagate.TransportDryrun, Active: true}); err != nil {
		t.Fatal(err)
	}
	batch = append(batch, other)
	r.b.commitBatch(batch)
	if got := phones(<-wakes); !slices.Equal(got, []string{"+14155550002", "+14155552671"}) {
		t.Errorf("the batch's wake-up names %v, want both accounts once", got)
	}

	// A refused accept alone commits its attempt but queues nothing: no
	// wake-up. The next wake-up is the accept after it.
	r.b.commitBatch([]*acceptJob{w.job("ws2", 1)})
	ok := w.job("ws", 1)
	r.b.commitBatch([]*acceptJob{ok})
	if got := <-wakes; len(got) != 1 || got[0] != (wagate.AccountRef{WorkspaceID: "ws", Phone: ok.a.Message.AccountPhone}) {
		t.Errorf("after a refused accept and a good one: %v, want only the good one's account", got)
	}

	// A batch whose commit fails notifies nobody; each of its requests
	// runs again alone and notifies with its own commit.
	failed := false
	r.b.failCommit = func(op string) error {
		if failed {
			return nil
		}
		failed = true
		return errors.New("injected: the batch's commit fails")
	}
	x, y := w.job("ws", 1), w.job("ws", 1)
	r.b.commitBatch([]*acceptJob{x, y})
	for i := range 2 {
		if got := <-wakes; len(got) != 1 || got[0] != (wagate.AccountRef{WorkspaceID: "ws", Phone: x.a.Message.AccountPhone}) {
			t.Errorf("wake-up %d after the failed batch: %v, want one per request run alone", i, got)
		}
	}
	if x.err != nil || y.err != nil {
		t.Fatalf("the requests run alone: %v, %v", x.err, y.err)
	}
	// Nothing else was sent: the next wake-up is the next commit's.
	last := w.job("ws2", 0)
	r.b.commitBatch([]*acceptJob{last})
	if got := <-wakes; len(got) != 1 || got[0].WorkspaceID != "ws2" {
		t.Errorf("an extra wake-up %v", got)
	}
}

func TestNotifyPayload(t *testing.T) {
	refs := []wagate.AccountRef{{WorkspaceID: "ws_1", Phone: "+1"}, {WorkspaceID: "ws_2", Phone: "+2"}, {WorkspaceID: "ws_1", Phone: "+1"}}
	if got := decodeRefs(encodeRefs(refs)); !slices.Equal(got, refs[:2]) {
		t.Errorf("round trip: %v, want %v", got, refs[:2])
	}
	// Too many accounts for one payload: "" (any account), never a cut list.
	var many []wagate.AccountRef
	for i := range 1000 {
		many = append(many, wagate.AccountRef{WorkspaceID: fmt.Sprintf("ws_%04d", i), Phone: "+14155550000"})
	}
	if p := encodeRefs(many); p != "" {
		t.Errorf("%d accounts: payload of %d bytes, want \"\" (any account)", len(many), len(p))
	}
	if p := encodeRefs(many[:100]); len(decodeRefs(p)) != 100 {
		t.Errorf("100 accounts fit in one payload")
	}
	if decodeRefs("") != nil {
		t.Errorf("an empty payload must mean any account (nil)")
	}
}

func TestNotifyAccountActivatedOrRulesChanged(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	ref := r.account("+14155550001", 1)
	if _, err := r.b.SetAccountActive(ctx, ref, false); err != nil {
		t.Fatal(err)
	}
	wakes := listen(t, r.a)
	// Paused: nothing to wake. Activated on replica b: the holder, on a,
	// hears of it at once (its queued messages may go again).
	if _, err := r.b.SetAccountActive(ctx, ref, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.b.SetAccountActive(ctx, ref, true); err != nil {
		t.Fatal(err)
	}
	if got := <-wakes; len(got) != 1 || got[0] != ref {
		t.Errorf("after the activation: %v, want the account (and no wake-up for the pause)", got)
	}
	// New rules may release holds: the holder hears of them too.
	if _, err := r.b.UpdateAccount(ctx, ref, func(a *wagate.Account) error { a.Rules.DailyLimit = 5; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := <-wakes; len(got) != 1 || got[0] != ref {
		t.Errorf("after new rules: %v, want the account", got)
	}
}

func TestNotifyOncePerBatchRequest(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	one := r.account("+14155550001", 0)
	two := r.account("+14155550002", 0)
	wakes := listen(t, r.a)
	item := func(ref wagate.AccountRef) *wagate.Accept {
		id, err := testIDs.Next(r.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return &wagate.Accept{WorkspaceID: "ws", Attempt: &wagate.Attempt{},
			Message: &wagate.Message{ID: id, AccountPhone: ref.Phone, JID: "14155550100@s.whatsapp.net", Text: "hi", Credits: 1}}
	}
	// POST …/batch on replica b: one transaction, one wake-up for both
	// accounts; the item the gateway refused queues nothing.
	b := &wagate.AcceptBatch{WorkspaceID: "ws", Items: []*wagate.Accept{item(one), item(two), item(one), {Attempt: &wagate.Attempt{}}},
		Refused: []error{nil, nil, nil, wagate.Errorf(wagate.EINVALID, "text: empty")}}
	if _, err := r.b.AcceptBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := phones(<-wakes); !slices.Equal(got, []string{one.Phone, two.Phone}) {
		t.Errorf("the batch request's wake-up names %v, want both accounts once", got)
	}
	// Nothing more was sent for it: the next wake-up is the next accept's.
	r.accept(r.b, two)
	if got := <-wakes; len(got) != 1 || got[0] != two {
		t.Errorf("the next wake-up: %v, want only the next accept's account", got)
	}
}

func TestNotifyRelease(t *testing.T) {
	r := newReplicas(t)
	ref := r.account("+14155550001", 1)
	r.lease(r.a)
	wakes := listen(t, r.b)
	// a's clean stop tells the others to claim at once: any account.
	if err := r.a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := <-wakes; got != nil {
		t.Errorf("after the release: %v, want nil (any account)", got)
	}
	// Releasing nothing tells nobody: the next wake-up is the next accept's.
	if err := r.a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.accept(r.b, ref)
	if got := <-wakes; len(got) != 1 || got[0] != ref {
		t.Errorf("the next wake-up: %v, want the accept's account", got)
	}
}
