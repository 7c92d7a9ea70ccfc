package postgres

import (
	"context"
	"fmt"
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

// sendLog records every send of two replicas' senders.
type sendLog struct {
	mu    sync.Mutex
	sends []replicaSend
	each  chan struct{}
}

type replicaSend struct {
	replica, phone, id string
}

// replicaTransport is one replica's transport, writing to the shared log.
type replicaTransport struct {
	replica string
	log     *sendLog
}

func (tr replicaTransport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (sender.Result, error) {
	tr.log.mu.Lock()
	tr.log.sends = append(tr.log.sends, replicaSend{replica: tr.replica, phone: acct.Phone, id: m.ID})
	tr.log.mu.Unlock()
	tr.log.each <- struct{}{}
	return sender.Result{ProviderID: tr.replica + ":" + m.ID}, nil
}

// countingLeaser tells the test of each lease round of a replica.
type countingLeaser struct {
	*DB
	rounds chan struct{}
}

func (c countingLeaser) Lease(ctx context.Context) ([]wagate.AccountLease, error) {
	l, err := c.DB.Lease(ctx)
	c.rounds <- struct{}{}
	return l, err
}

// TestReplicasTwoSendersHandOverAtAStop runs the real sender on both
// replicas: a holds every account, stops cleanly mid-queue, and b takes
// every account over at once: b has made its two rounds (the first, and
// the one its listener asks for when it starts) and its poll is an hour
// away, so only a's release can wake it. Every message goes out once, and each account is sent by one
// replica, then the other, never both in turn. The senders run on the real
// clock: a's pace (ten sends 200 ms apart per account) leaves it nearly two
// seconds of queue when b has made its two rounds; no assertion is on a
// time.
func TestReplicasTwoSendersHandOverAtAStop(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	const accounts, perAccount = 4, 10
	want := map[string]bool{}
	for i := range accounts {
		ref := r.account(fmt.Sprintf("+1415555000%d", i), 0)
		for range perAccount {
			want[r.accept(r.a, ref).ID] = true
		}
	}
	log := &sendLog{each: make(chan struct{}, accounts*perAccount)}
	run := func(db sender.Queue, name string) (stop func()) {
		s := sender.New(db, map[string]sender.Transport{wagate.TransportDryrun: replicaTransport{replica: name, log: log}},
			sender.Config{Interval: 200 * time.Millisecond, Jitter: -1, LeaseEvery: time.Hour, Logger: zaptest.NewLogger(t).Named(name)})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(runCtx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run (%s): %v", name, err)
			}
		}
	}
	stopA := run(r.a, "a")
	<-log.each // a holds everything now
	b := countingLeaser{DB: r.b, rounds: make(chan struct{}, 16)}
	stopB := run(b, "b")
	defer stopB()
	<-b.rounds
	<-b.rounds
	stopA()
	for len(log.each) > 0 || func() bool { log.mu.Lock(); defer log.mu.Unlock(); return len(log.sends) < len(want) }() {
		<-log.each
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	seen := map[string]int{}
	byReplica := map[string]int{}
	order := map[string][]string{} // phone -> replicas in send order
	for _, s := range log.sends {
		seen[s.id]++
		byReplica[s.replica]++
		if o := order[s.phone]; len(o) == 0 || o[len(o)-1] != s.replica {
			order[s.phone] = append(o, s.replica)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("message %s sent %d times, want once", id, seen[id])
		}
	}
	if len(log.sends) != len(want) {
		t.Errorf("%d sends, want %d", len(log.sends), len(want))
	}
	if byReplica["a"] == 0 || byReplica["b"] == 0 {
		t.Errorf("sends by replica %v: want both to have sent", byReplica)
	}
	for phone, o := range order {
		if len(o) > 2 || (len(o) == 2 && (o[0] != "a" || o[1] != "b")) {
			t.Errorf("%s sent by %v in turn, want a then b at most", phone, o)
		}
	}
	for id := range want {
		if m, _ := r.a.FindMessage(ctx, "ws", id); m.Status != wagate.StatusSent {
			t.Errorf("message %s is %s, want sent", id, m.Status)
		}
	}
}
