package sender

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wagate/wagate"
)

// sharedConfirming is a confirmingTransport that says whether its answers
// hold across replicas, and counts the Confirm calls.
type sharedConfirming struct {
	confirmingTransport
	shared bool

	cmu    sync.Mutex
	asked  []string
	askedT []time.Time
}

var _ SharedConfirmer = (*sharedConfirming)(nil)

func (c *sharedConfirming) ConfirmsAcrossReplicas() bool { return c.shared }

func (c *sharedConfirming) Confirm(ctx context.Context, acct *wagate.Account, m *wagate.Message) (Delivery, string, error) {
	c.cmu.Lock()
	c.asked = append(c.asked, m.ID)
	c.askedT = append(c.askedT, time.Now())
	c.cmu.Unlock()
	return c.confirmingTransport.Confirm(ctx, acct, m)
}

func (c *sharedConfirming) askedCount() int {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	return len(c.asked)
}

// TestTakeoverAsksASharedConfirmer: the account's previous holder died
// with three messages in sending, long enough ago that none of its sends
// can be under way. The transport's Confirmer answers across replicas: the
// delivered one becomes sent with the transport's provider id, the one
// not delivered goes back to its place and is sent once, the unknown one
// fails and is refunded; RecoverAccount is never called.
func TestTakeoverAsksASharedConfirmer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newLeasingQueue()
		mine := q.addAccount("ws1", "+15105550001", "", true)
		delivered, notDelivered, unknown := q.add(mine, "went out"), q.add(mine, "never handed over"), q.add(mine, "nobody knows")
		for _, id := range []string{delivered, notDelivered, unknown} {
			q.setSending(id)
		}
		next := q.add(mine, "queued behind them")
		q.hold(mine, time.Now().Add(-DefaultSendTimeout-time.Second), time.Second)

		tr := &sharedConfirming{shared: true, confirmingTransport: confirmingTransport{
			fakeTransport: fakeTransport{called: make(chan string, 4)},
			answers:       map[string]Delivery{delivered: Delivered, notDelivered: NotDelivered},
		}}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		first, second := <-tr.called, <-tr.called
		stop()

		if first != notDelivered || second != next {
			t.Errorf("sent %s then %s, want the requeued %s at its place, then %s", first, second, notDelivered, next)
		}
		if n := len(tr.records("")); n != 2 {
			t.Errorf("%d sends, want 2: the delivered and the unknown one are never sent again", n)
		}
		if st := q.status(delivered); st != wagate.StatusSent || q.refunded(delivered) != 0 {
			t.Errorf("the delivered message: %s, refunded %d; want sent, not refunded", st, q.refunded(delivered))
		}
		q.mu.Lock()
		tries := q.sentTries[delivered]
		q.mu.Unlock()
		if len(tries) != 1 || tries[0].ProviderID != "fake:"+delivered || tries[0].Class != wagate.TryClassInterrupted || tries[0].Error != confirmedSentAtTakeover {
			t.Errorf("the delivered message's try: %+v; want the transport's provider id, class interrupted, the takeover's text", tries)
		}
		if st := q.status(notDelivered); st != wagate.StatusSent || q.refunded(notDelivered) != 0 {
			t.Errorf("the message not delivered: %s, refunded %d; want sent (once, here), not refunded", st, q.refunded(notDelivered))
		}
		if r := q.retried(notDelivered); len(r) != 1 || r[0].try.Error != confirmedNotSentAtTakeover {
			t.Errorf("the message not delivered was retried %+v; want once, with the takeover's text", r)
		}
		if st := q.status(unknown); st != wagate.StatusFailed || q.refunded(unknown) != 1 {
			t.Errorf("the unknown message: %s, refunded %d; want failed and refunded once", st, q.refunded(unknown))
		}
		q.lmu.Lock()
		defer q.lmu.Unlock()
		if len(q.recovered) != 0 || len(q.settled) != 1 {
			t.Errorf("RecoverAccount %d times, SettleAccount %d times; want the one settlement", len(q.recovered), len(q.settled))
		}
	})
}

// TestTakeoverWaitsOutAYoungNotDelivered: the previous holder marked the
// message only 10 s ago and may be cut off rather than dead, its transport
// call still able to hand the message over. Its NotDelivered is taken,
// and the message sent, only once that send's SendTimeout has passed.
func TestTakeoverWaitsOutAYoungNotDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newLeasingQueue()
		mine := q.addAccount("ws1", "+15105550001", "", true)
		id := q.add(mine, "marked 10 s ago by a replica that stopped renewing")
		q.setSending(id)
		marked := time.Now().Add(-10 * time.Second)
		q.hold(mine, marked, time.Second)

		tr := &sharedConfirming{shared: true, confirmingTransport: confirmingTransport{
			fakeTransport: fakeTransport{called: make(chan string, 4)},
			answers:       map[string]Delivery{id: NotDelivered},
		}}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		<-tr.called
		stop()

		if at := tr.records("")[0].at; at.Before(marked.Add(DefaultSendTimeout)) {
			t.Errorf("sent %v after the old mark, want >= the %v SendTimeout: the old holder's send could still have gone out", at.Sub(marked), DefaultSendTimeout)
		}
		if tr.askedCount() < 2 {
			t.Errorf("Confirm asked %d times; want once per lease round until the wait is over", tr.askedCount())
		}
		if st := q.status(id); st != wagate.StatusSent || q.refunded(id) != 0 {
			t.Errorf("message: %s, refunded %d; want sent once, not refunded", st, q.refunded(id))
		}
	})
}

// TestTakeoverDoesNotAskAConfirmerOfItsOwnProcess: a Confirmer that reads
// only what its own process wrote (ConfirmsAcrossReplicas false) cannot
// answer for another replica's send: it is not asked, and the message
// fails and is refunded.
func TestTakeoverDoesNotAskAConfirmerOfItsOwnProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newLeasingQueue()
		mine := q.addAccount("ws1", "+15105550001", "", true)
		id := q.add(mine, "left in sending")
		q.setSending(id)
		next := q.add(mine, "next")
		q.hold(mine, time.Now().Add(-time.Hour), time.Second)

		tr := &sharedConfirming{shared: false, confirmingTransport: confirmingTransport{
			fakeTransport: fakeTransport{called: make(chan string, 4)},
			answers:       map[string]Delivery{id: NotDelivered},
		}}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		if got := <-tr.called; got != next {
			t.Errorf("sent %s, want %s", got, next)
		}
		stop()
		if n := tr.askedCount(); n != 0 {
			t.Errorf("Confirm asked %d times, want never", n)
		}
		if st := q.status(id); st != wagate.StatusFailed || q.refunded(id) != 1 {
			t.Errorf("message: %s, refunded %d; want failed and refunded", st, q.refunded(id))
		}
	})
}
