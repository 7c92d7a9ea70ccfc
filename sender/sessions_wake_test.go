package sender

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wagate/wagate"
)

// reconnectingTransport is a sessionTransport whose session comes back
// while a Send is answering Unavailable: the wake arrives before the
// sender has read the answer.
type reconnectingTransport struct {
	*sessionTransport
}

func (t reconnectingTransport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (Result, error) {
	t.smu.Lock()
	up := t.up[acct.Phone]
	t.smu.Unlock()
	if up {
		return t.sessionTransport.Send(ctx, acct, m, file)
	}
	t.smu.Lock()
	t.unavailable++
	t.smu.Unlock()
	t.connect(acct.Phone) // the connection is back, and says so, before this answer
	return Result{}, Unavailable(fmt.Errorf("fake session: account %s is disconnected", acct.Phone))
}

// TestWakeDuringUnavailableSendIsKept: a wake that comes while a Send is
// answering Unavailable is newer than that answer; the account does not
// wait for the backstop (UnavailableWait) with its session up, and the
// message goes at the next round, with no retry used.
func TestWakeDuringUnavailableSendIsKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		first := q.add(ref, "one")
		st := newSessionTransport()
		st.up[ref.Phone] = true
		tr := reconnectingTransport{st}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		synctest.Wait()
		if got := q.status(first); got != wagate.StatusSent {
			t.Fatalf("first message is %s, want sent", got)
		}

		st.disconnect(ref.Phone)
		time.Sleep(time.Minute)
		id := q.add(ref, "hello")
		s.Wake(ref)
		time.Sleep(2 * hi)
		synctest.Wait()
		if _, _, unavailable := st.counts(); unavailable != 1 {
			t.Fatalf("Unavailable sends ×%d, want 1", unavailable)
		}
		if got := q.status(id); got != wagate.StatusSent {
			t.Fatalf("message is %s %v after the wake that came during its Unavailable send, want sent well before the backstop (%v)", got, 2*hi, DefaultUnavailableWait)
		}
		if m := q.message(id); retriesOf(&m) != 0 {
			t.Errorf("the message used a retry")
		}
	})
}
