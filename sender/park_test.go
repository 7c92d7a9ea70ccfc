package sender

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"
)

// An account waiting for its turn holds a timer, not a goroutine, and
// still sends exactly at the drawn gaps.
func TestWaitingAccountsHoldNoGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const accounts, perAccount = 50, 3
		q := newFakeQueue()
		tr := &fakeTransport{called: make(chan string, accounts*perAccount)}
		for i := range accounts {
			ref := q.addAccount(fmt.Sprint("ws", i), fmt.Sprintf("+1510556%04d", i), "", true)
			for j := range perAccount {
				q.add(ref, fmt.Sprint("message ", j))
			}
		}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, accounts) // every account's first send
		synctest.Wait()

		if got := value(t, s.m.workers); got != 0 {
			t.Errorf("active_workers = %v while %d accounts wait for their turn, want 0", got, accounts)
		}
		s.mu.Lock()
		parkedN := 0
		for _, a := range s.accounts {
			if a.parked != nil && a.working {
				parkedN++
			}
		}
		s.mu.Unlock()
		if parkedN != accounts {
			t.Errorf("%d accounts parked, want %d", parkedN, accounts)
		}

		waitCalled(t, tr.called, accounts*(perAccount-1))
		for i := range accounts {
			recs := tr.records(fmt.Sprintf("+1510556%04d", i))
			if len(recs) != perAccount {
				t.Fatalf("account %d sent %d, want %d", i, len(recs), perAccount)
			}
			for j := 1; j < perAccount; j++ {
				g := recs[j].at.Sub(recs[j-1].at)
				if g < testInterval-testJitter || g > testInterval+testJitter {
					t.Errorf("account %d gap %d = %v, outside the window", i, j, g)
				}
			}
		}
	})
}

// The gaps of one account after parks are exactly the drawn ones, and the
// sender's own gap metrics see every one of them (the flag that the send
// waited for its turn survives the park).
func TestParkedSendsKeepTheDrawnGaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 5
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		for i := range n {
			q.add(ref, fmt.Sprint("message ", i))
		}
		tr := &fakeTransport{called: make(chan string, n)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, n)
		stop()
		recs := tr.records("")
		replay := rand.New(rand.NewPCG(testSeed1, testSeed2))
		for i := 1; i < n; i++ {
			if g, d := recs[i].at.Sub(recs[i-1].at), drawGap(replay, testInterval, testJitter); g != d {
				t.Errorf("gap %d = %v, want the drawn %v", i, g, d)
			}
		}
		if sum, count := histSum(t, s.m.gapError); count != n-1 || sum != 0 {
			t.Errorf("gap_error_seconds: sum %v over %d sends, want 0 over %d", sum, count, n-1)
		}
	})
}

// Stopping the sender does not wait for parked accounts' turns: their
// timers are cancelled, Run returns at once, and nothing is sent after.
func TestStopDoesNotWaitForParkedTurns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		q.add(ref, "first")
		second := q.add(ref, "second")
		tr := &fakeTransport{called: make(chan string, 2)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 1)
		synctest.Wait()

		t0 := time.Now()
		stop()
		if d := time.Since(t0); d != 0 {
			t.Errorf("Run took %v to stop, want no wait for the parked turn", d)
		}
		s.mu.Lock()
		for _, a := range s.accounts {
			if a.parked != nil || a.working {
				t.Errorf("account %v still parked (%v) or working (%v) after Run returned", a.ref, a.parked != nil, a.working)
			}
		}
		s.mu.Unlock()
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(tr.records("")) != 1 {
			t.Errorf("sends after stop: %v", tr.records(""))
		}
		if st := q.status(second); st != "queued" {
			t.Errorf("the parked message is %s after the stop, want queued", st)
		}
	})
}

// A timer that fires after a Wake already resumed the account (and the new
// worker parked again) must not start a second worker: each account has at
// most one, and its sends stay paced.
func TestALateTimerDoesNotStartASecondWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		a := q.addTo(ref, "1111@s.whatsapp.net", "fails once")
		tr := &fakeTransport{called: make(chan string, 4), errSeq: map[string][]error{a: {errTimeout}}}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, 1) // a fails; its retry is not due: parked, a Wake resumes
		for i := range 20 {
			q.addTo(ref, fmt.Sprintf("%d@s.whatsapp.net", 2000+i), "wakes")
			s.Wake(ref)
			synctest.Wait()
			if w := value(t, s.m.workers); w > 1 {
				t.Fatalf("%v workers for one account", w)
			}
		}
		waitCalled(t, tr.called, 3)
		recs := tr.records("")
		for i := 1; i < len(recs); i++ {
			if g := recs[i].at.Sub(recs[i-1].at); g < testInterval-testJitter {
				t.Errorf("gap %d = %v, below the window: two workers sent", i, g)
			}
		}
	})
}

// A turn that moved later while the account was parked (the restart
// herd's spread is set after a Wake may have started the account) is
// waited for in the queue: the message is not marked sending at the old
// wake-up and left there until the new turn.
func TestAResumedWorkerWaitsForATurnThatMoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		q.add(ref, "first")
		second := q.add(ref, "second")
		tr := &fakeTransport{called: make(chan string, 2)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, 1)
		synctest.Wait() // parked until the second message's turn

		s.mu.Lock()
		a := s.accounts[ref]
		oldTurn := a.lastStart.Add(a.gap)
		newTurn := oldTurn.Add(1500 * time.Millisecond)
		a.notBefore = newTurn
		s.mu.Unlock()

		time.Sleep(time.Until(oldTurn) + time.Millisecond)
		synctest.Wait()
		if st := q.status(second); st != "queued" {
			t.Errorf("at the old turn the message is %s, want still queued until the new one", st)
		}
		waitCalled(t, tr.called, 1)
		if at := tr.records("")[1].at; at.Before(newTurn) {
			t.Errorf("sent at %v, before the new turn %v", at, newTurn)
		}
	})
}

// A parked account keeps the downloads of its next files for the worker to
// come; when the sender stops instead, they are dropped and their bytes
// given back to the budget.
func TestStopFreesAParkedAccountsFiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		q.addFile(ref, "first", "https://files.example/1.png")
		q.addFile(ref, "second", "https://files.example/2.png")
		tr := &fakeTransport{called: make(chan string, 2)}
		f := &fakeFetcher{size: 1000}
		s := newFileSender(t, q, tr, f, nil)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 1)
		synctest.Wait() // parked until the second's turn, its file fetched ahead

		s.mu.Lock()
		parkedNow := s.accounts[ref] != nil && s.accounts[ref].parked != nil
		s.mu.Unlock()
		if !parkedNow {
			t.Fatal("the account is not parked while it waits for its turn")
		}
		if held := value(t, s.m.fileBytes); held != 1000 {
			t.Fatalf("file_bytes_held = %v while parked, want the 1000 bytes of the next file", held)
		}
		stop()
		if held := value(t, s.m.fileBytes); held != 0 {
			t.Errorf("file_bytes_held = %v after stop, want 0: the parked account's download was not dropped", held)
		}
	})
}
