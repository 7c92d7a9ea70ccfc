package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// Two replicas sending one account through the real queue: the fence in
// MarkSending, MarkSent, Retry and MarkFailed (SPEC §12).

func TestReplicasOnlyOneMarkSendingWins(t *testing.T) {
	r := newReplicas(t)
	ref := r.account("+14155550001", 0)
	m := r.accept(r.a, ref)
	m2 := r.accept(r.a, ref)
	ctx := context.Background()

	// Both claim and both try to take the same message at once.
	var wg sync.WaitGroup
	for _, db := range []*DB{r.a, r.b} {
		wg.Go(func() { r.lease(db) })
	}
	wg.Wait()
	errs := make([]error, 2)
	for i, db := range []*DB{r.a, r.b} {
		wg.Go(func() { errs[i] = db.MarkSending(ctx, m.ID, r.clock.Now()) })
	}
	wg.Wait()
	winner, loser := -1, -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("both replicas marked %s sending", m.ID)
			}
			winner = i
		} else {
			loser = i
		}
	}
	if winner < 0 {
		t.Fatalf("no replica marked it: %v", errs)
	}
	dbs := []*DB{r.a, r.b}
	// The replica without the lease cannot take the next message either,
	// nor finish the one the holder is sending.
	wantLost(t, "the non-holder's MarkSending", dbs[loser].MarkSending(ctx, m2.ID, r.clock.Now()))
	wantLost(t, "the non-holder's MarkSent", dbs[loser].MarkSent(ctx, m.ID, wagate.Try{At: r.clock.Now()}))
	if err := dbs[winner].MarkSent(ctx, m.ID, wagate.Try{At: r.clock.Now(), ProviderID: "p1"}); err != nil {
		t.Errorf("the holder's MarkSent: %v", err)
	}
	if got, _ := r.a.FindMessage(ctx, "ws", m.ID); got.Status != wagate.StatusSent {
		t.Errorf("status %s, want sent", got.Status)
	}
}

func TestReplicasTakeoverFencesTheStaleOwner(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	ref := r.account("+14155550001", 0)
	m1, m2, m3 := r.accept(r.a, ref), r.accept(r.a, ref), r.accept(r.a, ref)
	r.lease(r.a)
	start := r.clock.Now()
	if err := r.a.MarkSendingPaced(ctx, m1.ID, start, start, 90*time.Second); err != nil {
		t.Fatalf("a's MarkSendingPaced: %v", err)
	}
	before, _ := r.a.FindWorkspace(ctx, "ws")

	// a stops renewing while m1 is at its transport; its lease expires
	// and b takes over, with the pace a wrote.
	r.clock.advance(testTTL)
	l, ok := r.lease(r.b)[ref]
	if !ok || l.Epoch != 2 {
		t.Fatalf("b's takeover: held %v epoch %d, want epoch 2", ok, l.Epoch)
	}
	if !l.LastSendAt.Equal(start) || l.Gap != 90*time.Second {
		t.Errorf("the pace b takes over: %v %v, want %v 1m30s", l.LastSendAt, l.Gap, start)
	}
	// The stale owner comes back before b recovered m1: none of its
	// writes lands.
	wantLost(t, "a's MarkSent of m1", r.a.MarkSent(ctx, m1.ID, wagate.Try{At: r.clock.Now(), ProviderID: "late"}))
	wantLost(t, "a's Retry of m1", r.a.Retry(ctx, m1.ID, wagate.Try{At: r.clock.Now(), Error: "x"}, time.Time{}))
	if n, err := r.b.RecoverAccount(ctx, ref, r.clock.Now()); n != 1 || err != nil {
		t.Fatalf("b's recovery: %d, %v; want m1 failed as interrupted", n, err)
	}
	wantLost(t, "a's MarkSending of m2", r.a.MarkSending(ctx, m2.ID, r.clock.Now()))
	if err := r.b.MarkSending(ctx, m2.ID, r.clock.Now()); err != nil {
		t.Fatalf("b's MarkSending: %v", err)
	}
	wantLost(t, "a's Retry of m2 (b is sending it)", r.a.Retry(ctx, m2.ID, wagate.Try{At: r.clock.Now(), Error: "x"}, time.Time{}))
	wantLost(t, "a's MarkFailed of m2 (b is sending it)", r.a.MarkFailed(ctx, m2.ID, wagate.Try{At: r.clock.Now(), Error: "x"}))
	if err := r.b.MarkSent(ctx, m2.ID, wagate.Try{At: r.clock.Now(), ProviderID: "p2"}); err != nil {
		t.Errorf("b's MarkSent: %v", err)
	}

	got1, _ := r.a.FindMessage(ctx, "ws", m1.ID)
	got2, _ := r.a.FindMessage(ctx, "ws", m2.ID)
	got3, _ := r.a.FindMessage(ctx, "ws", m3.ID)
	if got1.Status != wagate.StatusFailed || got1.Error != ErrorInterrupted || got2.Status != wagate.StatusSent || got3.Status != wagate.StatusQueued {
		t.Errorf("m1 %s (%q), m2 %s, m3 %s; want failed as interrupted, sent, queued", got1.Status, got1.Error, got2.Status, got3.Status)
	}
	after, _ := r.a.FindWorkspace(ctx, "ws")
	if after.Credits != before.Credits+1 {
		t.Errorf("balance %d, want %d: m1 refunded once", after.Credits, before.Credits+1)
	}
}

// recordingTransport records when each message's send started.
type recordingTransport struct {
	mu    sync.Mutex
	sends map[string]time.Time
	sent  chan string
}

func (tr *recordingTransport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (sender.Result, error) {
	tr.mu.Lock()
	tr.sends[m.ID] = time.Now()
	tr.mu.Unlock()
	tr.sent <- m.ID
	return sender.Result{ProviderID: "rec:" + m.ID}, nil
}

// TestReplicasGapAfterTakeoverIsNeverShorter runs the real sender on
// replica b after a released the account: b's first send waits out the gap
// a drew, though b's own interval is far shorter. The sender runs on the
// real clock; the assertion is a lower bound, so it cannot be flaky.
func TestReplicasGapAfterTakeoverIsNeverShorter(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	ref := r.account("+14155550001", 0)
	m1, m2 := r.accept(r.a, ref), r.accept(r.a, ref)
	r.lease(r.a)
	const drawn = 700 * time.Millisecond
	start := time.Now()
	if err := r.a.MarkSendingPaced(ctx, m1.ID, start, start, drawn); err != nil {
		t.Fatal(err)
	}
	if err := r.a.MarkSent(ctx, m1.ID, wagate.Try{At: start, ProviderID: "p1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.a.Release(ctx); err != nil { // a's clean stop
		t.Fatal(err)
	}

	tr := &recordingTransport{sends: map[string]time.Time{}, sent: make(chan string, 4)}
	s := sender.New(r.b, map[string]sender.Transport{wagate.TransportDryrun: tr},
		sender.Config{Interval: time.Millisecond, Jitter: -1, Logger: zaptest.NewLogger(t)})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	if got := <-tr.sent; got != m2.ID {
		t.Errorf("b sent %s, want %s", got, m2.ID)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	gap := tr.sends[m2.ID].Sub(start)
	tr.mu.Unlock()
	if gap < drawn {
		t.Errorf("b's first send came %v after a's, want >= the %v a drew", gap, drawn)
	}
	if got, _ := r.b.FindMessage(ctx, "ws", m2.ID); got.Status != wagate.StatusSent {
		t.Errorf("m2 is %s, want sent", got.Status)
	}
	// b released at its stop: a takes the account back at once.
	r.accept(r.b, ref)
	if l, ok := r.lease(r.a)[ref]; !ok || l.Epoch != 3 {
		t.Errorf("a after b's stop: held %v epoch %d, want epoch 3", ok, l.Epoch)
	}
}
