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

// Spreading the accounts between replicas (replicas.go): the live
// replicas share the busy accounts, each claiming up to its share and
// releasing its surplus at a safe point. The replicas share the test's
// clock, so which replica is live is the test's to decide.

func TestSpreadPlan(t *testing.T) {
	for _, c := range []struct {
		busy, live, mine, least int
		claim, release          int
	}{
		{busy: 10, live: 1, mine: 0, least: 0, claim: 10},
		{busy: 10, live: 2, mine: 0, least: 0, claim: 5},
		{busy: 10, live: 2, mine: 10, least: 0, release: 5}, // over share+slack: down to the share
		{busy: 10, live: 2, mine: 6, least: 4, release: 1},  // the other is short of its floor
		{busy: 10, live: 2, mine: 5, least: 5},              // balanced
		{busy: 11, live: 2, mine: 6, least: 5},              // within the slack, nobody short
		{busy: 10, live: 3, mine: 5, least: 0, release: 2},  // a newcomer starves: down to the floor
		{busy: 10, live: 3, mine: 4, least: 2},              // 4/4/2 is within the slack
		{busy: 10, live: 3, mine: 3, least: 3, claim: 1},    // below the share: claim
		{busy: 3, live: 2, mine: 3, least: 0, release: 2},   // a small count is still shared
		{busy: 0, live: 2}, // nothing to do
		{busy: 10, live: 0, mine: 0, least: 0, claim: 10},        // never divides by zero
		{busy: 100, live: 4, mine: 26, least: 24, release: 1},    // one short of its floor
		{busy: 100, live: 4, mine: 27, least: 25, release: 2},    // over share+slack
		{busy: 100, live: 4, mine: 20, least: 20, claim: 5},      // claim up to the share
		{busy: 7, live: 2, mine: 2, least: 2, claim: 2},          // ceil(7/2) = 4
		{busy: 1, live: 2, mine: 1, least: 0},                    // one account: one holder
		{busy: 2, live: 2, mine: 2, least: 0, release: 1},        // two: one each
		{busy: 12, live: 3, mine: 0, least: 0, claim: 4},         // a newcomer claims its share
		{busy: 12, live: 3, mine: 6, least: 0, release: 2},       // over share+slack
		{busy: 12, live: 3, mine: 5, least: 0, release: 1},       // within the slack, but a replica starves
		{busy: 12, live: 3, mine: 5, least: 4},                   // within the slack
		{busy: 12, live: 3, mine: 5, least: 3, release: 1},       // 5/4/3: down to 4
		{busy: 50, live: 1, mine: 50, least: 50},                 // alone: everything
		{busy: 51, live: 1, mine: 50, least: 50, claim: 1},       // alone: everything
		{busy: 10, live: 2, mine: 7, least: 3, release: 2},       // over share+slack: down to the share
		{busy: 10, live: 5, mine: 0, least: 0, claim: 2},         // five replicas
		{busy: 10, live: 5, mine: 3, least: 0, release: 1},       // a starving one
		{busy: 10, live: 5, mine: 3, least: 2},                   // within the slack
		{busy: 10, live: 5, mine: 4, least: 1, release: 2},       // over share+slack
		{busy: 1000, live: 3, mine: 335, least: 333},             // within the slack
		{busy: 1000, live: 3, mine: 336, least: 332, release: 2}, // over share+slack
	} {
		got := plan(c.busy, c.live, c.mine, c.least)
		if got.claim != c.claim || got.release != c.release {
			t.Errorf("plan(busy %d, live %d, mine %d, least %d): claim %d release %d, want claim %d release %d",
				c.busy, c.live, c.mine, c.least, got.claim, got.release, c.claim, c.release)
		}
	}
}

// register makes dbs live replicas, as their first lease round would,
// without claiming.
func (r *replicas) register(dbs ...*DB) {
	r.t.Helper()
	for _, db := range dbs {
		if err := db.register(context.Background(), db.pool, r.clock.Now(), r.clock.Now().Add(testTTL)); err != nil {
			r.t.Fatal(err)
		}
	}
}

// rounds makes each of dbs lease n times in turn and returns what each
// held after its last round.
func (r *replicas) rounds(n int, dbs ...*DB) []map[wagate.AccountRef]wagate.AccountLease {
	r.t.Helper()
	held := make([]map[wagate.AccountRef]wagate.AccountLease, len(dbs))
	for range n {
		for i, db := range dbs {
			held[i] = r.lease(db)
		}
	}
	return held
}

// wantOneHolder checks that each of refs is held by exactly one of dbs, as
// the fence sees it: only the holder may start a send.
func (r *replicas) wantOneHolder(refs []wagate.AccountRef, dbs ...*DB) {
	r.t.Helper()
	r.wantHolders(refs, 1, dbs...)
}

// wantHolders checks that each of refs is held by at least least and at
// most one of dbs.
func (r *replicas) wantHolders(refs []wagate.AccountRef, least int, dbs ...*DB) {
	r.t.Helper()
	for _, ref := range refs {
		var holders []string
		for _, db := range dbs {
			if r.fence(db, ref, true) == nil {
				holders = append(holders, db.Replica())
			}
		}
		if len(holders) > 1 || len(holders) < least {
			r.t.Errorf("%s may be sent by %v, want one replica (or none, between a release and a claim: %v)", ref.Phone, holders, least == 0)
		}
	}
}

func (r *replicas) busyAccounts(n int) []wagate.AccountRef {
	r.t.Helper()
	refs := make([]wagate.AccountRef, n)
	for i := range refs {
		refs[i] = r.account(fmt.Sprintf("+141555501%02d", i), 1)
	}
	return refs
}

func wantHolding(t *testing.T, what string, held []map[wagate.AccountRef]wagate.AccountLease, lo, hi []int) {
	t.Helper()
	for i, h := range held {
		if len(h) < lo[i] || len(h) > hi[i] {
			t.Errorf("%s: replica %d holds %d accounts, want %d to %d", what, i, len(h), lo[i], hi[i])
		}
	}
}

func TestSpreadTwoThenThreeThenTwo(t *testing.T) {
	r := newReplicas(t)
	refs := r.busyAccounts(10)

	// a alone takes every account.
	if got := r.lease(r.a); len(got) != 10 {
		t.Fatalf("a alone holds %d, want all 10", len(got))
	}
	// b joins: a releases its surplus, b claims it; then nothing moves.
	held := r.rounds(3, r.b, r.a)
	wantHolding(t, "two replicas", held, []int{5, 5}, []int{5, 5})
	r.wantOneHolder(refs, r.a, r.b)
	epochs := map[wagate.AccountRef]int64{}
	for _, h := range held {
		for ref, l := range h {
			epochs[ref] = l.Epoch
		}
	}
	for _, h := range r.rounds(2, r.b, r.a) {
		for ref, l := range h {
			if l.Epoch != epochs[ref] {
				t.Errorf("%s moved (epoch %d, was %d) once the replicas were balanced", ref.Phone, l.Epoch, epochs[ref])
			}
		}
	}

	// A third replica joins and takes its share.
	c := r.open("c")
	held = r.rounds(3, c, r.a, r.b)
	wantHolding(t, "three replicas", held, []int{3, 3, 3}, []int{4, 4, 4})
	if n := len(held[0]) + len(held[1]) + len(held[2]); n != 10 {
		t.Errorf("three replicas hold %d accounts, want 10", n)
	}
	r.wantOneHolder(refs, r.a, r.b, c)

	// c dies (it stops leasing): once its leases and its row expire, a
	// and b, renewing meanwhile, take all of its accounts.
	for range 2 {
		r.clock.advance(testTTL / 2)
		r.rounds(1, r.a, r.b)
	}
	held = r.rounds(2, r.a, r.b)
	wantHolding(t, "after c died", held, []int{5, 5}, []int{5, 5})
	r.wantOneHolder(refs, r.a, r.b, c)
}

func TestSpreadStartTogether(t *testing.T) {
	r := newReplicas(t)
	refs := r.busyAccounts(10)
	// Both claim at once, again and again: the split ends within the
	// slack, and no account has two holders at any point.
	for range 4 {
		var wg sync.WaitGroup
		for _, db := range []*DB{r.a, r.b} {
			wg.Go(func() { r.lease(db) })
		}
		wg.Wait()
		r.wantHolders(refs, 0, r.a, r.b)
	}
	held := r.rounds(2, r.a, r.b)
	wantHolding(t, "two replicas started together", held, []int{4, 4}, []int{6, 6})
	if n := len(held[0]) + len(held[1]); n != 10 {
		t.Errorf("they hold %d accounts, want 10", n)
	}
	r.wantOneHolder(refs, r.a, r.b)
}

func TestSpreadCleanStopHandsAllOver(t *testing.T) {
	r := newReplicas(t)
	refs := r.busyAccounts(6)
	r.rounds(3, r.a, r.b)
	if err := r.b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// b's row went with its release: a's share is every account at once,
	// with no wait for an expiry.
	if got := r.lease(r.a); len(got) != 6 {
		t.Errorf("a after b's clean stop holds %d, want all 6", len(got))
	}
	r.wantOneHolder(refs, r.a, r.b)
}

func TestSpreadNeverReleasesMidSend(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	x := r.account("+14155550001", 0)
	y := r.account("+14155550002", 0)
	mx, my := r.accept(r.a, x), r.accept(r.a, y)
	r.accept(r.a, x)
	r.accept(r.a, y)
	r.lease(r.a)
	for _, m := range []*wagate.Message{mx, my} {
		if err := r.a.MarkSending(ctx, m.ID, r.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// b joins; a is over its share but both its accounts are mid-send:
	// neither moves.
	held := r.rounds(2, r.b, r.a)
	wantHolding(t, "both accounts mid-send", held, []int{0, 2}, []int{0, 2})
	// y's send ends: at a's next round y goes to b.
	if err := r.a.MarkSent(ctx, my.ID, wagate.Try{At: r.clock.Now(), ProviderID: "p"}); err != nil {
		t.Fatal(err)
	}
	held = r.rounds(1, r.a, r.b)
	if _, ok := held[1][y]; !ok {
		t.Errorf("b does not hold y after a's send of it ended")
	}
	if _, ok := held[0][x]; !ok {
		t.Errorf("a does not hold x, whose send is under way")
	}
	if err := r.a.MarkSent(ctx, mx.ID, wagate.Try{At: r.clock.Now(), ProviderID: "p"}); err != nil {
		t.Errorf("a's outcome of the send under way: %v", err)
	}
	r.wantOneHolder([]wagate.AccountRef{x, y}, r.a, r.b)
}

func TestSpreadReleaseKeepsThePace(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	r.account("+14155550001", 1)
	x := r.account("+14155550002", 0) // released first: the last in order
	m1 := r.accept(r.a, x)
	r.accept(r.a, x)
	r.lease(r.a)
	start := r.clock.Now()
	if err := r.a.MarkSendingPaced(ctx, m1.ID, start, start, 7*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := r.a.MarkSent(ctx, m1.ID, wagate.Try{At: start, ProviderID: "p1"}); err != nil {
		t.Fatal(err)
	}
	held := r.rounds(1, r.b, r.a, r.b)
	l, ok := held[2][x]
	if !ok {
		t.Fatalf("b does not hold x after a released its surplus (a holds %v)", held[1])
	}
	if !l.LastSendAt.Equal(start) || l.Gap != 7*time.Minute {
		t.Errorf("the pace b takes over: %v %v, want %v 7m", l.LastSendAt, l.Gap, start)
	}
	// a's stale handle cannot send x any more.
	wantLost(t, "a's send of the account it released", r.fence(r.a, x, true))
}

// TestSpreadReleaseRacesMarkSending runs a's release of its surplus
// against a's own MarkSending of the account released, many times: the
// account is either released with its message still queued, or kept with
// its message in sending; never released mid-send.
func TestSpreadReleaseRacesMarkSending(t *testing.T) {
	ctx := context.Background()
	for i := range 10 {
		r := newReplicas(t)
		r.account("+14155550001", 1)
		x := r.account("+14155550002", 0)
		m := r.accept(r.a, x)
		r.lease(r.a)
		r.lease(r.b) // live: a is over its share now
		var markErr error
		var wg sync.WaitGroup
		wg.Go(func() { markErr = r.a.MarkSending(ctx, m.ID, r.clock.Now()) })
		wg.Go(func() { r.lease(r.a) })
		wg.Wait()
		got, _ := r.a.FindMessage(ctx, "ws", m.ID)
		ownerA := r.fence(r.a, x, false) == nil
		switch {
		case markErr == nil && (got.Status != wagate.StatusSending || !ownerA):
			t.Errorf("run %d: MarkSending went through but the message is %s and a holds the lease: %v", i, got.Status, ownerA)
		case markErr != nil && got.Status != wagate.StatusQueued:
			t.Errorf("run %d: MarkSending refused (%v) but the message is %s", i, markErr, got.Status)
		}
	}
}

// TestSpreadTwoSendersBothSend runs the real sender on both replicas: a
// starts alone and takes every account, b starts, a's next rounds release
// half of them and b's claim them; both send, every message goes out once.
func TestSpreadTwoSendersBothSend(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	// Enough messages that a alone would need 3 s (pace 100 ms): its
	// lease rounds (every 250 ms at least) release well before.
	const accounts, perAccount = 6, 30
	want := map[string]bool{}
	for i := range accounts {
		ref := r.account(fmt.Sprintf("+1415555000%d", i), 0)
		for range perAccount {
			want[r.accept(r.a, ref).ID] = true
		}
	}
	log := &sendLog{each: make(chan struct{}, accounts*perAccount)}
	run := func(q sender.Queue, name string) (stop func()) {
		s := sender.New(q, map[string]sender.Transport{wagate.TransportDryrun: replicaTransport{replica: name, log: log}},
			sender.Config{Interval: 100 * time.Millisecond, Jitter: -1, LeaseEvery: 20 * time.Millisecond, Logger: zaptest.NewLogger(t).Named(name)})
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
	<-log.each // a holds every account now
	stopB := run(r.b, "b")
	for func() bool { log.mu.Lock(); defer log.mu.Unlock(); return len(log.sends) < len(want) }() {
		<-log.each
	}
	stopA()
	stopB()

	log.mu.Lock()
	defer log.mu.Unlock()
	seen := map[string]int{}
	byReplica := map[string]int{}
	for _, s := range log.sends {
		seen[s.id]++
		byReplica[s.replica]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("message %s sent %d times, want once", id, seen[id])
		}
		if m, _ := r.a.FindMessage(ctx, "ws", id); m.Status != wagate.StatusSent {
			t.Errorf("message %s is %s, want sent", id, m.Status)
		}
	}
	if byReplica["a"] == 0 || byReplica["b"] == 0 {
		t.Errorf("sends by replica %v: want both to have sent", byReplica)
	}
}
