package sender

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wagate/wagate"
)

// sessionTransport is a fake transport with a session per account, as the
// WhatsApp Web transport has: an account sends only while connected, and
// the transport wakes it when it connects. Send of a disconnected account
// answers Unavailable.
type sessionTransport struct {
	fakeTransport

	smu         sync.Mutex
	up          map[string]bool   // phone → connected
	wakes       map[string]func() // phone → the wake function of its session
	started     []string          // phones, in StartAccount order
	stopped     []wagate.AccountRef
	unavailable int // Sends answered Unavailable
}

func newSessionTransport() *sessionTransport {
	return &sessionTransport{up: map[string]bool{}, wakes: map[string]func(){}}
}

var _ SessionHolder = (*sessionTransport)(nil)

func (t *sessionTransport) StartAccount(ctx context.Context, acct *wagate.Account, wake func()) error {
	t.smu.Lock()
	t.started = append(t.started, acct.Phone)
	t.wakes[acct.Phone] = wake
	up := t.up[acct.Phone]
	t.smu.Unlock()
	if up {
		wake() // connected at once: allowed from within StartAccount
	}
	return nil
}

func (t *sessionTransport) StopAccount(ref wagate.AccountRef) {
	t.smu.Lock()
	defer t.smu.Unlock()
	t.stopped = append(t.stopped, ref)
	delete(t.wakes, ref.Phone)
}

func (t *sessionTransport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (Result, error) {
	t.smu.Lock()
	up := t.up[acct.Phone]
	if !up {
		t.unavailable++
	}
	t.smu.Unlock()
	if !up {
		return Result{}, Unavailable(fmt.Errorf("fake session: account %s is disconnected; waiting for it to reconnect", acct.Phone))
	}
	return t.fakeTransport.Send(ctx, acct, m, file)
}

// connect marks the account connected and wakes it, as a session does when
// its connection comes up.
func (t *sessionTransport) connect(phone string) {
	t.smu.Lock()
	t.up[phone] = true
	wake := t.wakes[phone]
	t.smu.Unlock()
	if wake != nil {
		wake()
	}
}

// disconnect marks the account disconnected without telling the sender: it
// learns so from Send.
func (t *sessionTransport) disconnect(phone string) {
	t.smu.Lock()
	defer t.smu.Unlock()
	t.up[phone] = false
}

func (t *sessionTransport) counts() (started, stopped, unavailable int) {
	t.smu.Lock()
	defer t.smu.Unlock()
	return len(t.started), len(t.stopped), t.unavailable
}

func (t *sessionTransport) stops() []wagate.AccountRef {
	t.smu.Lock()
	defer t.smu.Unlock()
	return slices.Clone(t.stopped)
}

// checkWaiting fails unless the message is queued and has used no retry.
func checkWaiting(t *testing.T, q *fakeQueue, id string) {
	t.Helper()
	m := q.message(id)
	if m.Status != wagate.StatusQueued {
		t.Fatalf("message %s is %s, want queued", id, m.Status)
	}
	if n := retriesOf(&m); n != 0 {
		t.Fatalf("message %s used %d retries waiting for its account, want 0 (tries %+v)", id, n, m.Tries)
	}
}

// TestStartedSessionWaitsForWake: the sender starts the session of an
// account with queued messages at Run and sends nothing through it (no try,
// no retry) until the transport reports it ready; then the message goes at
// once.
func TestStartedSessionWaitsForWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		id := q.add(ref, "hello")
		tr := newSessionTransport()
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()

		time.Sleep(time.Minute) // well within the backstop
		synctest.Wait()
		if started, _, unavailable := tr.counts(); started != 1 || unavailable != 0 {
			t.Fatalf("StartAccount ×%d, Unavailable sends ×%d; want 1 and 0: a starting session is not sent through", started, unavailable)
		}
		if n := len(tr.records("")); n != 0 {
			t.Fatalf("%d sends before the session was ready, want 0", n)
		}
		checkWaiting(t, q, id)
		if tries := q.message(id).Tries; len(tries) != 0 {
			t.Fatalf("tries %+v, want none: nothing was attempted", tries)
		}

		tr.connect(ref.Phone)
		synctest.Wait()
		if st := q.status(id); st != wagate.StatusSent {
			t.Fatalf("after the wake the message is %s, want sent", st)
		}
		if started, _, _ := tr.counts(); started != 1 {
			t.Errorf("StartAccount ×%d, want 1", started)
		}
	})
}

// TestUnavailableAccountStaysQueuedUntilReady: when the transport answers
// Unavailable, the message goes back to the queue with no retry used, the
// account sends nothing more (a new message only queues) until the
// transport reports it ready, and then both messages go out.
func TestUnavailableAccountStaysQueuedUntilReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		first := q.add(ref, "one")
		tr := newSessionTransport()
		tr.up[ref.Phone] = true
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		synctest.Wait()
		if st := q.status(first); st != wagate.StatusSent {
			t.Fatalf("first message is %s, want sent", st)
		}

		tr.disconnect(ref.Phone)
		time.Sleep(time.Minute)
		second := q.add(ref, "two")
		s.Wake(ref)
		synctest.Wait()
		if _, _, unavailable := tr.counts(); unavailable != 1 {
			t.Fatalf("Unavailable sends ×%d, want 1", unavailable)
		}
		checkWaiting(t, q, second)
		if r := q.retried(second); len(r) != 1 || r[0].try.Class != wagate.TryClassDeferred {
			t.Fatalf("retries recorded %+v, want one deferred try", r)
		}

		// A new message and its Wake do not end the wait.
		third := q.add(ref, "three")
		s.Wake(ref)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if _, _, unavailable := tr.counts(); unavailable != 1 {
			t.Fatalf("Unavailable sends ×%d after a Wake, want still 1: the account waits for its session", unavailable)
		}
		checkWaiting(t, q, second)
		checkWaiting(t, q, third)

		tr.connect(ref.Phone)
		time.Sleep(2 * hi) // two paced sends
		synctest.Wait()
		for _, id := range []string{second, third} {
			if st := q.status(id); st != wagate.StatusSent {
				t.Errorf("message %s is %s after the wake, want sent", id, st)
			}
			if m := q.message(id); retriesOf(&m) != 0 {
				t.Errorf("message %s used a retry", id)
			}
		}
		if _, _, unavailable := tr.counts(); unavailable != 1 {
			t.Errorf("Unavailable sends ×%d, want 1", unavailable)
		}
		if v := value(t, s.m.sends.WithLabelValues(resultUnavailable)); v != 1 {
			t.Errorf(`wagate_sender_sends_total{result="unavailable"} = %v, want 1`, v)
		}
	})
}

// TestUnavailableBackstop: a transport that never wakes the account costs a
// delay, not a stuck queue: after UnavailableWait the sender tries again,
// and each try still uses no retry.
func TestUnavailableBackstop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		id := q.add(ref, "hello")
		tr := newSessionTransport()
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()

		time.Sleep(DefaultUnavailableWait + time.Second) // the start's wait ends: one try
		synctest.Wait()
		if _, _, unavailable := tr.counts(); unavailable != 1 {
			t.Fatalf("Unavailable sends ×%d after one backstop, want 1", unavailable)
		}
		time.Sleep(DefaultUnavailableWait) // and the next
		synctest.Wait()
		if _, _, unavailable := tr.counts(); unavailable != 2 {
			t.Fatalf("Unavailable sends ×%d after two backstops, want 2", unavailable)
		}
		checkWaiting(t, q, id)

		tr.smu.Lock()
		tr.up[ref.Phone] = true // up again, but the transport forgets to wake
		tr.smu.Unlock()
		time.Sleep(DefaultUnavailableWait)
		synctest.Wait()
		if st := q.status(id); st != wagate.StatusSent {
			t.Fatalf("message is %s after the backstop found the account up, want sent", st)
		}
	})
}

// TestSessionStoppedWhenAccountDeletedOrPaused: AccountChanged stops the
// session of a deleted or paused account, starts it again when the account
// is activated, and Run stops the sessions left when it returns.
func TestSessionStoppedWhenAccountDeletedOrPaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		gone := q.addAccount("ws1", "+15105566777", "", true)
		paused := q.addAccount("ws1", "+15105566778", "", true)
		q.add(gone, "hello")
		q.add(paused, "hello")
		tr := newSessionTransport()
		tr.up[gone.Phone], tr.up[paused.Phone] = true, true
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		synctest.Wait()
		if started, stopped, _ := tr.counts(); started != 2 || stopped != 0 {
			t.Fatalf("StartAccount ×%d, StopAccount ×%d; want 2 and 0", started, stopped)
		}

		q.mu.Lock()
		delete(q.accounts, gone)
		q.mu.Unlock()
		s.AccountChanged(gone)
		synctest.Wait()
		if got := tr.stops(); !slices.Equal(got, []wagate.AccountRef{gone}) {
			t.Fatalf("StopAccount calls %v, want the deleted account %v", got, gone)
		}

		q.setActive(paused, false)
		s.AccountChanged(paused)
		synctest.Wait()
		if got := tr.stops(); !slices.Equal(got, []wagate.AccountRef{gone, paused}) {
			t.Fatalf("StopAccount calls %v, want the paused account too", got)
		}

		q.setActive(paused, true)
		s.AccountChanged(paused)
		synctest.Wait()
		if started, _, _ := tr.counts(); started != 3 {
			t.Fatalf("StartAccount ×%d after the activation, want 3", started)
		}

		stop()
		if got := tr.stops(); !slices.Equal(got, []wagate.AccountRef{gone, paused, paused}) {
			t.Errorf("StopAccount calls %v after Run returned, want the active account's session stopped too", got)
		}
	})
}

// TestWorkerStopsSessionOfPausedAccount: without AccountChanged, the
// account's worker stops the session when it finds the account paused.
func TestWorkerStopsSessionOfPausedAccount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		q.add(ref, "one")
		tr := newSessionTransport()
		tr.up[ref.Phone] = true
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		synctest.Wait()

		q.setActive(ref, false)
		id := q.add(ref, "two")
		s.Wake(ref)
		time.Sleep(hi)
		synctest.Wait()
		if got := tr.stops(); !slices.Equal(got, []wagate.AccountRef{ref}) {
			t.Fatalf("StopAccount calls %v, want the paused account", got)
		}
		checkWaiting(t, q, id)
	})
}

// listingQueue is a fakeQueue that can list every account (AccountLister).
type listingQueue struct{ *fakeQueue }

func (q listingQueue) AllAccounts(ctx context.Context) ([]*wagate.Account, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*wagate.Account
	for _, a := range q.accounts {
		c := *a
		out = append(out, &c)
	}
	return out, nil
}

// TestRunStartsIdleSessions: with a Queue that lists every account, Run
// starts the sessions of the active accounts that have nothing queued, so a
// linked phone is connected before its first message; not of the paused
// ones.
func TestRunStartsIdleSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		q.addAccount("ws1", "+15105566777", "", true)
		q.addAccount("ws1", "+15105566778", "", false)
		tr := newSessionTransport()
		s, _ := newTestSender(t, listingQueue{q}, tr)
		stop := startRun(t, s)
		synctest.Wait()
		tr.smu.Lock()
		started := slices.Clone(tr.started)
		tr.smu.Unlock()
		if !slices.Equal(started, []string{"+15105566777"}) {
			t.Errorf("StartAccount for %v, want the active account only", started)
		}
		stop()
	})
}

// TestUnavailableIsNotARetry: the error vocabulary files Unavailable as a
// deferred try that uses up no retry, however often it comes, and sees
// through wrapping.
func TestUnavailableIsNotARetry(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", Unavailable(errors.New("disconnected")))
	if !IsUnavailable(err) || IsUnavailable(errors.New("x")) || IsDeferred(err) || IsPermanent(err) {
		t.Fatal("IsUnavailable does not see through wrapping, or the marks mix")
	}
	if Unavailable(nil) != nil {
		t.Error("Unavailable(nil) is not nil")
	}
	if c := errorClass(err); c != wagate.TryClassDeferred {
		t.Errorf("class = %q, want %q", c, wagate.TryClassDeferred)
	}
	for _, retries := range []int{0, len(defaultRetryDelays) + 1} {
		if d, ok := retryDelay(nil, defaultRetryDelays, retries, err); !ok || d != 0 {
			t.Errorf("retries %d: retryDelay = %v, %v; want 0, true", retries, d, ok)
		}
	}
}
