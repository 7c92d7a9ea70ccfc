package sender

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wagate/wagate"
)

// The retry tests run the worker on synctest's fake clock through the whole
// schedule (42 minutes of fake time take milliseconds).

// withinJitter reports whether d is the nominal delay ± 20 %.
func withinJitter(d, nominal time.Duration) bool {
	j := nominal / 5
	return d >= nominal-j && d <= nominal+j
}

// checkMinGaps asserts that consecutive sends of one account are at least
// the shortest gap apart: the pace holds for retries too (idle time may
// make a gap longer, never shorter).
func checkMinGaps(t *testing.T, recs []sendRec) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if g := recs[i].at.Sub(recs[i-1].at); g < lo {
			t.Errorf("%s: send %d (%s) came %v after the previous one, want at least %v", recs[i].account, i, recs[i].id, g, lo)
		}
	}
}

// sendsOf returns the send records of one message.
func sendsOf(recs []sendRec, id string) []sendRec {
	var out []sendRec
	for _, r := range recs {
		if r.id == id {
			out = append(out, r)
		}
	}
	return out
}

func TestRetryScheduleKeepsOrderAndPace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const x, y, z = "1111@s.whatsapp.net", "2222@s.whatsapp.net", "3333@s.whatsapp.net"
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		a := q.addTo(ref, x, "fails 3 times")
		b := q.addTo(ref, y, "to another recipient")
		c := q.addTo(ref, x, "behind a, same recipient")
		d := q.addTo(ref, z, "to a third recipient")
		tr := &fakeTransport{
			called: make(chan string, 10),
			errSeq: map[string][]error{a: {errTimeout, errTimeout, errTimeout}},
		}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		// a (fails), b, d, a (fails), a (fails), a (sent), c.
		waitCalled(t, tr.called, 7)
		stop()

		recs := tr.records("")
		got := ids(recs)
		want := []string{a, b, d, a, a, a, c}
		if !slices.Equal(got, want) {
			t.Fatalf("send order = %v, want %v: b and d flow while a waits, c waits for a (same recipient)", got, want)
		}
		checkMinGaps(t, recs)

		// Each retry is due 5 s, 30 s, 2 min (± 20 %) after the failed try,
		// and goes at its due time or at the account's next turn, whichever
		// is later.
		rs := q.retried(a)
		if len(rs) != 3 {
			t.Fatalf("Retry called %d times for a, want 3", len(rs))
		}
		aSends := sendsOf(recs, a)
		for i, nominal := range defaultRetryDelays[:3] {
			r := rs[i]
			if !r.try.At.Equal(aSends[i].at) {
				t.Errorf("retry %d: try at %v, want the failed send's time %v", i+1, r.try.At, aSends[i].at)
			}
			if d := r.due.Sub(r.try.At); !withinJitter(d, nominal) {
				t.Errorf("retry %d due %v after the failure, want %v ± 20%%", i+1, d, nominal)
			}
			if r.try.Result != wagate.TryResultRetry || r.try.Class != wagate.TryClassTransient || r.try.Error != errTimeout.Error() {
				t.Errorf("retry %d: try = %+v, want result retry, class transient, error %q", i+1, r.try, errTimeout)
			}
			next := aSends[i+1].at
			if next.Before(r.due) || next.Sub(r.due) > hi {
				t.Errorf("retry %d went %v after its due time, want at it or within one gap (%v)", i+1, next.Sub(r.due), hi)
			}
		}
		m := q.message(a)
		if m.Status != wagate.StatusSent || m.Error != "" || len(m.Tries) != 4 || m.Tries[3].Result != wagate.TryResultSent || m.Tries[3].ProviderID != "fake:"+a {
			t.Errorf("a after its retries = %+v, want sent with 3 retry tries and a sent try", m)
		}
		for _, id := range []string{b, c, d} {
			if st := q.status(id); st != wagate.StatusSent {
				t.Errorf("%s is %s, want sent", id, st)
			}
		}
		for result, want := range map[string]float64{resultSent: 4, resultRetry: 3, resultFailedTransient: 0} {
			if got := value(t, s.m.sends.WithLabelValues(result)); got != want {
				t.Errorf("sends_total{result=%s} = %v, want %v", result, got, want)
			}
		}
	})
}

func TestRetriesGiveUpAndRefundOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		doomed := q.addTo(ref, "1111@s.whatsapp.net", "never goes")
		other := q.addTo(ref, "2222@s.whatsapp.net", "goes")
		tr := &fakeTransport{called: make(chan string, 10), errs: map[string]error{doomed: errTimeout}}
		s, _ := newTestSender(t, q, tr)
		t0 := time.Now()
		stop := startRun(t, s)
		waitCalled(t, tr.called, 7) // 6 tries of doomed, 1 of other
		synctest.Wait()
		stop()

		if n := len(sendsOf(tr.records(""), doomed)); n != 6 {
			t.Fatalf("doomed reached the transport %d times, want 6 (1 try + 5 retries)", n)
		}
		rs := q.retried(doomed)
		if len(rs) != 5 {
			t.Fatalf("Retry called %d times, want 5", len(rs))
		}
		for i, r := range rs {
			if d := r.due.Sub(r.try.At); !withinJitter(d, defaultRetryDelays[i]) {
				t.Errorf("retry %d due %v after the failure, want %v ± 20%%", i+1, d, defaultRetryDelays[i])
			}
		}
		failed := q.failed(doomed)
		if len(failed) != 1 {
			t.Fatalf("MarkFailed called %d times, want 1", len(failed))
		}
		if f := failed[0]; f.Class != wagate.TryClassTransient || !strings.HasPrefix(f.Error, errTimeout.Error()) || !strings.Contains(f.Error, "gave up after 6 tries") {
			t.Errorf("final try = %+v, want class transient and an error that says it gave up after 6 tries", f)
		}
		if st, n := q.status(doomed), q.refunded(doomed); st != wagate.StatusFailed || n != 1 {
			t.Errorf("doomed is %s with %d credits refunded, want failed, refunded once", st, n)
		}
		if st := q.status(other); st != wagate.StatusSent {
			t.Errorf("the other message is %s, want sent (it does not wait for a retrying one)", st)
		}
		if elapsed := time.Since(t0); elapsed < 35*time.Minute || elapsed > 55*time.Minute {
			t.Errorf("the schedule took %v, want about 42 min", elapsed)
		}
		for result, want := range map[string]float64{resultSent: 1, resultRetry: 5, resultFailedTransient: 1} {
			if got := value(t, s.m.sends.WithLabelValues(result)); got != want {
				t.Errorf("sends_total{result=%s} = %v, want %v", result, got, want)
			}
		}
	})
}

func TestRateLimitWaitsTheGivenDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		id := q.add(ref, "too fast")
		tr := &fakeTransport{
			called: make(chan string, 2),
			errSeq: map[string][]error{id: {fmt.Errorf("cloud: %w", RetryAfter(fmt.Errorf("131056: pair rate limit hit"), 10*time.Minute))}},
		}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 2)
		stop()

		rs := q.retried(id)
		if len(rs) != 1 || rs[0].due.Sub(rs[0].try.At) != 10*time.Minute || rs[0].try.Class != wagate.TryClassRateLimited {
			t.Fatalf("retries = %+v, want one rate_limited, due exactly 10 min later (longer than the 5 s backoff)", rs)
		}
		if got := sendsOf(tr.records(""), id); got[1].at.Sub(got[0].at) != 10*time.Minute {
			t.Errorf("second try %v after the first, want 10 min", got[1].at.Sub(got[0].at))
		}
	})
}

func TestRestartContinuesRetrySchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		id := q.add(ref, "retried twice before the restart")
		t0 := time.Now()
		due := t0.Add(time.Minute)
		q.setRetry(id, []wagate.Try{
			{At: t0.Add(-time.Minute), Result: wagate.TryResultRetry, Class: wagate.TryClassTransient, Error: "503"},
			{At: t0.Add(-30 * time.Second), Result: wagate.TryResultRetry, Class: wagate.TryClassTransient, Error: "503"},
		}, due)
		tr := &fakeTransport{called: make(chan string, 2), errSeq: map[string][]error{id: {errTimeout}}}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 2)
		stop()

		recs := tr.records("")
		if !recs[0].at.Equal(due) {
			t.Errorf("first try after the restart at +%v, want at its due time +%v", recs[0].at.Sub(t0), due.Sub(t0))
		}
		rs := q.retried(id)
		if len(rs) != 1 || !withinJitter(rs[0].due.Sub(rs[0].try.At), defaultRetryDelays[2]) {
			t.Fatalf("retries after the restart = %+v, want one due 2 min ± 20%% later (the third of the schedule)", rs)
		}
		if st := q.status(id); st != wagate.StatusSent {
			t.Errorf("message is %s, want sent", st)
		}
	})
}

func TestRetryWaitsForAWakeOrItsDueTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		a := q.addTo(ref, "1111@s.whatsapp.net", "fails once")
		tr := &fakeTransport{called: make(chan string, 3), errSeq: map[string][]error{a: {errTimeout}}}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, 1)
		// While a waits for its retry, the worker sleeps (no busy loop: the
		// fake clock would not move) and a new message still goes at its
		// turn.
		time.Sleep(time.Second)
		synctest.Wait()
		nexts := q.countCalls("Next")
		b := q.addTo(ref, "2222@s.whatsapp.net", "arrives meanwhile")
		s.Wake(ref)
		if got := waitCalled(t, tr.called, 1); got[0] != b {
			t.Fatalf("sent %v, want the new message %s", got, b)
		}
		if got := waitCalled(t, tr.called, 1); got[0] != a {
			t.Fatalf("sent %v, want the retry of %s", got, a)
		}
		if n := q.countCalls("Next") - nexts; n > 6 {
			t.Errorf("Next called %d times for two sends: the worker polls", n)
		}
	})
}

// TestDeferredSendKeepsTheTurn: a send the transport defers (sender.Defer)
// takes no turn of the account, uses no retry, and comes back after its
// delay; the next message to someone else goes at once.
func TestDeferredSendKeepsTheTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		bob := q.addTo(ref, "14155550001@s.whatsapp.net", "to bob, too soon")
		ann := q.addTo(ref, "14155550002@s.whatsapp.net", "to ann")
		tr := &fakeTransport{
			called: make(chan string, 3),
			errSeq: map[string][]error{bob: {Defer(errors.New("bob's turn has not come"), 4*time.Second)}},
		}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 3)
		stop()

		recs := tr.records("")
		if len(recs) != 3 || recs[0].id != bob || recs[1].id != ann || recs[2].id != bob {
			t.Fatalf("sends = %+v, want bob (deferred), ann, bob", recs)
		}
		if gap := recs[1].at.Sub(recs[0].at); gap != 0 {
			t.Errorf("ann went %v after bob's deferred send; want at once: the deferral took no turn", gap)
		}
		if wait := recs[2].at.Sub(recs[0].at); wait < 4*time.Second {
			t.Errorf("bob came back after %v, want at least the 4 s asked", wait)
		}
		rs := q.retried(bob)
		if len(rs) != 1 || rs[0].try.Class != wagate.TryClassDeferred || rs[0].due.Sub(rs[0].try.At) != 4*time.Second {
			t.Errorf("bob's retries = %+v, want one deferred try due 4 s later", rs)
		}
		if q.status(bob) != wagate.StatusSent || q.status(ann) != wagate.StatusSent || q.refunded(bob) != 0 {
			t.Errorf("bob %s, ann %s, bob refunded %d; want both sent, none refunded", q.status(bob), q.status(ann), q.refunded(bob))
		}
	})
}
