package sender

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wagate/wagate"
)

// leasingQueue is a fakeQueue shared with other replicas: the test decides
// which accounts this replica holds (held), and which it lost meanwhile
// (lost: its fenced writes are refused, as the store's fence does).
type leasingQueue struct {
	*fakeQueue

	lmu       sync.Mutex
	held      map[wagate.AccountRef]wagate.AccountLease
	lost      map[wagate.AccountRef]bool
	leases    int // Lease calls
	recovered []wagate.AccountRef
	settled   []wagate.AccountRef // SettleAccount calls
	paces     []paceRec
	released  int
	leasedAt  []time.Time               // when each Lease call came
	slowTake  time.Duration             // how long each RecoverAccount takes
	wake      func([]wagate.AccountRef) // Listen's callback, once it listens
	listening chan struct{}             // closed when Listen is called
}

// paceRec is one MarkSendingPaced call.
type paceRec struct {
	id    string
	start time.Time
	gap   time.Duration
}

func newLeasingQueue() *leasingQueue {
	return &leasingQueue{fakeQueue: newFakeQueue(), held: map[wagate.AccountRef]wagate.AccountLease{},
		lost: map[wagate.AccountRef]bool{}, listening: make(chan struct{})}
}

var _ Leaser = (*leasingQueue)(nil)

func (q *leasingQueue) hold(ref wagate.AccountRef, last time.Time, gap time.Duration) {
	q.lmu.Lock()
	defer q.lmu.Unlock()
	q.held[ref] = wagate.AccountLease{Account: ref, Epoch: 1, LastSendAt: last, Gap: gap}
	delete(q.lost, ref)
}

func (q *leasingQueue) lose(ref wagate.AccountRef) {
	q.lmu.Lock()
	defer q.lmu.Unlock()
	delete(q.held, ref)
	q.lost[ref] = true
}

func (q *leasingQueue) Lease(ctx context.Context) ([]wagate.AccountLease, error) {
	q.lmu.Lock()
	q.leases++
	q.leasedAt = append(q.leasedAt, time.Now())
	var out []wagate.AccountLease
	for _, l := range q.held {
		out = append(out, l)
	}
	q.lmu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range out {
		a := q.accounts[out[i].Account]
		out[i].Ready = a != nil && a.Active && len(q.queues[out[i].Account]) > 0
		for _, m := range q.msgs {
			out[i].Sending = out[i].Sending || (m.Status == wagate.StatusSending && m.Account() == out[i].Account)
		}
	}
	return out, nil
}

func (q *leasingQueue) fenced(ref wagate.AccountRef) error {
	q.lmu.Lock()
	defer q.lmu.Unlock()
	if _, ok := q.held[ref]; !ok || q.lost[ref] {
		return fmt.Errorf("%w: %w", wagate.Errorf(wagate.ECONFLICT, "lease of %s lost", ref.Phone), wagate.ErrLeaseLost)
	}
	return nil
}

func (q *leasingQueue) RecoverAccount(ctx context.Context, ref wagate.AccountRef, at time.Time) (int, error) {
	if err := q.fenced(ref); err != nil {
		return 0, err
	}
	q.lmu.Lock()
	q.recovered = append(q.recovered, ref)
	slow := q.slowTake
	q.lmu.Unlock()
	time.Sleep(slow)
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for id, m := range q.msgs {
		if m.Status == wagate.StatusSending && m.Account() == ref {
			m.Status, m.Error = wagate.StatusFailed, "interrupted"
			q.refunds[id] += int(m.Credits)
			n++
		}
	}
	return n, nil
}

func (q *leasingQueue) SendingOf(ctx context.Context, ref wagate.AccountRef) ([]*wagate.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*wagate.Message
	for _, m := range q.msgs {
		if m.Status == wagate.StatusSending && m.Account() == ref {
			c := *m
			out = append(out, &c)
		}
	}
	return out, nil
}

// SettleAccount is the store's: answers first (through the fake's
// MarkSent and Retry), then RecoverAccount for the rest.
func (q *leasingQueue) SettleAccount(ctx context.Context, ref wagate.AccountRef, at time.Time, answers map[string]wagate.Try) (map[string]wagate.MessageStatus, error) {
	if err := q.fenced(ref); err != nil {
		return nil, err
	}
	q.lmu.Lock()
	q.settled = append(q.settled, ref)
	q.lmu.Unlock()
	out := map[string]wagate.MessageStatus{}
	for id, try := range answers {
		var err error
		if try.Result == wagate.TryResultSent {
			err = q.fakeQueue.MarkSent(ctx, id, try)
		} else {
			err = q.fakeQueue.Retry(ctx, id, try, try.At)
		}
		if err != nil {
			return nil, err
		}
		out[id] = q.status(id)
	}
	q.mu.Lock()
	for id, m := range q.msgs {
		if m.Status == wagate.StatusSending && m.Account() == ref {
			m.Status, m.Error = wagate.StatusFailed, "interrupted"
			q.refunds[id] += int(m.Credits)
			out[id] = wagate.StatusFailed
		}
	}
	q.mu.Unlock()
	return out, nil
}

func (q *leasingQueue) MarkSendingPaced(ctx context.Context, id string, at, start time.Time, gap time.Duration) error {
	q.mu.Lock()
	ref := q.msgs[id].Account()
	q.mu.Unlock()
	if err := q.fenced(ref); err != nil {
		return err
	}
	q.lmu.Lock()
	q.paces = append(q.paces, paceRec{id: id, start: start, gap: gap})
	q.lmu.Unlock()
	return q.fakeQueue.MarkSending(ctx, id, at)
}

func (q *leasingQueue) MarkSending(ctx context.Context, id string, at time.Time) error {
	panic("a sender with a Leaser must mark through MarkSendingPaced")
}

func (q *leasingQueue) RecoverSending(ctx context.Context, at time.Time) (int, error) {
	panic("a sender with a Leaser must never recover every account at start")
}

func (q *leasingQueue) Release(ctx context.Context) error {
	q.lmu.Lock()
	defer q.lmu.Unlock()
	q.released++
	return nil
}

func (q *leasingQueue) Listen(ctx context.Context, wake func([]wagate.AccountRef)) error {
	q.lmu.Lock()
	q.wake = wake
	close(q.listening)
	q.lmu.Unlock()
	wake(nil)
	<-ctx.Done()
	return nil
}

// notify is another replica's NOTIFY, heard by this one.
func (q *leasingQueue) notify(refs ...wagate.AccountRef) {
	<-q.listening
	q.lmu.Lock()
	wake := q.wake
	q.lmu.Unlock()
	wake(refs)
}

func TestLeaserSendsOnlyHeldAccountsAndRecoversEachAtTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newLeasingQueue()
		mine := q.addAccount("ws1", "+15105550001", "", true)
		theirs := q.addAccount("ws1", "+15105550002", "", true)
		interrupted := q.add(mine, "left in sending by the replica that died")
		q.setSending(interrupted)
		queued := q.add(mine, "queued")
		live := q.add(theirs, "being sent right now by the other replica")
		q.setSending(live)
		other := q.add(theirs, "the other replica's")
		q.hold(mine, time.Time{}, 0)

		tr := &fakeTransport{called: make(chan string, 4)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		if got := <-tr.called; got != queued {
			t.Fatalf("sent %s first, want %s", got, queued)
		}
		s.Wake(theirs) // accepted here, but another replica holds it
		synctest.Wait()
		time.Sleep(time.Minute)
		stop()

		if st := q.status(interrupted); st != wagate.StatusFailed || q.refunded(interrupted) != 1 {
			t.Errorf("the held account's interrupted message: %s, refunded %d; want failed and refunded once", st, q.refunded(interrupted))
		}
		if st := q.status(live); st != wagate.StatusSending || q.refunded(live) != 0 {
			t.Errorf("the other replica's live send: %s, refunded %d; want left sending", st, q.refunded(live))
		}
		if st := q.status(other); st != wagate.StatusQueued {
			t.Errorf("the other replica's queued message: %s, want queued (not sent here)", st)
		}
		if n := len(tr.records("+15105550002")); n != 0 {
			t.Errorf("%d sends of an account this replica does not hold", n)
		}
		if n := q.countCalls("QueuedAccounts"); n != 0 {
			t.Errorf("QueuedAccounts called %d times; the leases say what to send", n)
		}
		q.lmu.Lock()
		defer q.lmu.Unlock()
		if len(q.recovered) != 1 || q.recovered[0] != mine {
			t.Errorf("recovered %v, want only the account taken over, once", q.recovered)
		}
		if q.released != 1 {
			t.Errorf("Release called %d times at the stop, want 1", q.released)
		}
	})
}

func TestLeaserHearsOtherReplicasAndPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newLeasingQueue()
		mine := q.addAccount("ws1", "+15105550001", "", true)
		later := q.addAccount("ws1", "+15105550003", "", true)
		q.hold(mine, time.Time{}, 0)
		tr := &fakeTransport{called: make(chan string, 4)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		synctest.Wait()
		if !s.Running() {
			t.Fatalf("not running after the first lease round")
		}

		// Another replica accepts for an account held here: its NOTIFY
		// starts the send at once.
		t0 := time.Now()
		id := q.add(mine, "accepted by the other replica")
		q.notify(mine)
		if got := <-tr.called; got != id || !time.Now().Equal(t0) {
			t.Errorf("sent %s at +%v, want %s at once", got, time.Since(t0), id)
		}

		// A NOTIFY of an account nobody held yet asks for a lease round at
		// once, not at the next poll.
		rounds := func() int { q.lmu.Lock(); defer q.lmu.Unlock(); return q.leases }
		before := rounds()
		id2 := q.add(later, "for an account nobody held")
		q.hold(later, time.Time{}, 0)
		q.notify(later)
		if got := <-tr.called; got != id2 || time.Since(t0) > leasePokeGap {
			t.Errorf("sent %s at +%v, want %s within %v", got, time.Since(t0), id2, leasePokeGap)
		}
		if rounds() != before+1 {
			t.Errorf("%d lease rounds for one wake-up, want 1", rounds()-before)
		}

		// A wake-up that got lost: the poll finds the held account's work
		// within one LeaseEvery.
		synctest.Wait()
		t1 := time.Now()
		id3 := q.add(mine, "its NOTIFY was lost")
		if got := <-tr.called; got != id3 || time.Since(t1) > DefaultLeaseEvery {
			t.Errorf("sent %s after %v, want %s within %v", got, time.Since(t1), id3, DefaultLeaseEvery)
		}
		// Neither account had a message in sending: nothing to recover, no
		// write at the takeover.
		q.lmu.Lock()
		if len(q.recovered) != 0 {
			t.Errorf("recovered %v, want none", q.recovered)
		}
		q.lmu.Unlock()
	})
}

func TestLeaserLostLeaseStopsTheAccount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newLeasingQueue()
		mine := q.addAccount("ws1", "+15105550001", "", true)
		first := q.add(mine, "one")
		second := q.add(mine, "two")
		q.hold(mine, time.Time{}, 0)
		tr := &fakeTransport{called: make(chan string, 4)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		if got := <-tr.called; got != first {
			t.Fatalf("sent %s, want %s", got, first)
		}
		// Another replica took the account over while this one waited for
		// its turn: the fenced MarkSending is refused, nothing goes out,
		// and the account is left to the new holder.
		q.lose(mine)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(tr.records("")); n != 1 {
			t.Errorf("%d sends, want 1: the second after the lease was lost", n)
		}
		if st := q.status(second); st != wagate.StatusQueued {
			t.Errorf("the message after the loss: %s, want queued for the new holder", st)
		}
		s.mu.Lock()
		owned, remembered := s.owned[mine], s.accounts[mine] != nil
		s.mu.Unlock()
		if owned || remembered {
			t.Errorf("after the loss: owned %v, remembered %v; want the account forgotten", owned, remembered)
		}
		if n := q.countCalls("MarkSending"); n != 1 {
			t.Errorf("MarkSending went through %d times, want 1", n)
		}
		stop()
	})
}

func TestLeaserGapAcrossTakeoverIsNeverShorter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newLeasingQueue()
		mine := q.addAccount("ws1", "+15105550001", "", true)
		a := q.add(mine, "one")
		b := q.add(mine, "two")
		// The previous holder started a send 1 s ago and drew a gap of 7 s
		// (a careful account's own interval), longer than this sender's.
		prev := time.Now().Add(-time.Second)
		q.hold(mine, prev, 7*time.Second)
		tr := &fakeTransport{called: make(chan string, 4)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 2)
		stop()

		recs := tr.records("")
		if got := recs[0].at.Sub(prev); got < 7*time.Second {
			t.Errorf("the first send after the takeover came %v after the previous holder's, want >= the 7s it drew", got)
		}
		// What MarkSending wrote for the next holder is what this sender
		// waited itself: the start of each send and the gap drawn after it.
		q.lmu.Lock()
		defer q.lmu.Unlock()
		if len(q.paces) != 2 || q.paces[0].id != a || q.paces[1].id != b {
			t.Fatalf("paces %v, want one per send", q.paces)
		}
		if !q.paces[0].start.Equal(recs[0].at) {
			t.Errorf("written start %v, send started %v", q.paces[0].start, recs[0].at)
		}
		if got := recs[1].at.Sub(q.paces[0].start); got < q.paces[0].gap || q.paces[0].gap < lo || q.paces[0].gap > hi {
			t.Errorf("written gap %v, next send %v later; want a drawn gap in [%v, %v], waited out", q.paces[0].gap, got, lo, hi)
		}
	})
}

func TestLeaserGapAfterADeathMidSendRunsFromTheTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newLeasingQueue()
		mine := q.addAccount("ws1", "+15105550001", "", true)
		interrupted := q.add(mine, "its replica died while sending it")
		q.setSending(interrupted)
		q.add(mine, "next")
		// The dead holder marked its send 40 s ago with a gap of 7 s; its
		// transport may have been called any time until its lease ran out.
		q.hold(mine, time.Now().Add(-40*time.Second), 7*time.Second)
		tr := &fakeTransport{called: make(chan string, 4)}
		s, _ := newTestSender(t, q, tr)
		t0 := time.Now()
		stop := startRun(t, s)
		<-tr.called
		stop()
		if got := tr.records("")[0].at.Sub(t0); got < 7*time.Second {
			t.Errorf("the first send came %v after the takeover, want >= the 7s gap: the old send may have just gone out", got)
		}
	})
}

// A replica taking over many accounts whose recoveries outlast a lease
// round still renews in time: past one LeaseEvery the rest of the
// takeovers wait for the next round, which renews first. Every account is
// recovered once and sent; before, one round recovered them all in turn,
// and its leases lapsed meanwhile (seen in make bench's replicas run).
func TestLeaserTakeoversDoNotHoldUpRenewals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newLeasingQueue()
		const accounts = 12
		for i := range accounts {
			ref := q.addAccount("ws1", fmt.Sprintf("+1510555%04d", i), "", true)
			q.setSending(q.add(ref, "left in sending by the replica that died"))
			q.add(ref, "queued")
			q.hold(ref, time.Time{}, 0)
		}
		q.slowTake = DefaultLeaseEvery / 2

		tr := &fakeTransport{called: make(chan string, accounts)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		sent := waitCalled(t, tr.called, accounts)
		time.Sleep(3 * DefaultLeaseEvery) // the renewals after the takeovers too
		stop()

		if len(sent) != accounts {
			t.Fatalf("sent %d messages, want %d", len(sent), accounts)
		}
		q.lmu.Lock()
		defer q.lmu.Unlock()
		if len(q.recovered) != accounts {
			t.Errorf("%d recoveries, want one for each of the %d accounts", len(q.recovered), accounts)
		}
		// A round may start a takeover up to LeaseEvery after its renewal,
		// and the takeover takes slowTake; the next round comes a poke gap
		// later at most.
		bound := DefaultLeaseEvery + q.slowTake + leasePokeGap
		for i := 1; i < len(q.leasedAt); i++ {
			if d := q.leasedAt[i].Sub(q.leasedAt[i-1]); d > bound {
				t.Errorf("renewal %d came %v after the one before; the leases must be renewed within %v", i, d, bound)
			}
		}
	})
}
