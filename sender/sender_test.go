package sender

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wagate/wagate"
)

// The tests below run the real worker loop on synctest's fake clock: time
// moves only when every goroutine of the bubble is blocked, so the instants
// a send starts are exact, and a test that waits for a send that never comes
// fails as a deadlock instead of hanging.

const (
	testInterval = 2 * time.Second
	testJitter   = 500 * time.Millisecond
	lo           = testInterval - testJitter
	hi           = testInterval + testJitter
	testSeed1    = 1
	testSeed2    = 2
)

func newTestSender(t *testing.T, q Queue, tr Transport) (*Sender, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s := New(q, map[string]Transport{"fake": tr}, Config{
		Interval:   testInterval,
		Jitter:     testJitter,
		Rand:       rand.New(rand.NewPCG(testSeed1, testSeed2)),
		Logger:     zaptest.NewLogger(t),
		Registerer: reg,
	})
	return s, reg
}

// startRun runs s.Run in the bubble; stop cancels it and waits for it.
func startRun(t *testing.T, s *Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	}
}

// waitCalled reads n message ids from called, as their sends start.
func waitCalled(t *testing.T, called <-chan string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = <-called
	}
	return ids
}

// value reads a counter or a gauge.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func histCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// checkGaps asserts that consecutive sends are a gap in [lo, hi] apart.
func checkGaps(t *testing.T, recs []sendRec) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if g := recs[i].at.Sub(recs[i-1].at); g < lo || g > hi {
			t.Errorf("%s: gap before send %d = %v, want in [%v, %v]", recs[i].account, i, g, lo, hi)
		}
	}
}

func ids(recs []sendRec) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.id
	}
	return out
}

func TestPacingOneAccount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 20
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		var want []string
		for i := range n {
			want = append(want, q.add(ref, fmt.Sprint("message ", i)))
		}
		tr := &fakeTransport{called: make(chan string, n)}
		s, _ := newTestSender(t, q, tr)
		t0 := time.Now()
		stop := startRun(t, s)
		waitCalled(t, tr.called, n)
		stop()

		recs := tr.records("")
		if got := ids(recs); !slices.Equal(got, want) {
			t.Fatalf("send order = %v, want FIFO %v", got, want)
		}
		if !recs[0].at.Equal(t0) {
			t.Errorf("first send at +%v, want at once", recs[0].at.Sub(t0))
		}
		checkGaps(t, recs)
		// On the fake clock the gaps are exactly the drawn ones: replay the
		// seeded generator.
		replay := rand.New(rand.NewPCG(testSeed1, testSeed2))
		for i := 1; i < n; i++ {
			if g, d := recs[i].at.Sub(recs[i-1].at), drawGap(replay, testInterval, testJitter); g != d {
				t.Errorf("gap %d = %v, want the drawn %v", i, g, d)
			}
		}
		for _, id := range want {
			if st := q.status(id); st != wagate.StatusSent {
				t.Errorf("%s is %s, want sent", id, st)
			}
		}
		if got := value(t, s.m.sends.WithLabelValues(resultSent)); got != n {
			t.Errorf("sends_total{result=sent} = %v, want %d", got, n)
		}
		if got := histCount(t, s.m.gapDrawn); got != n {
			t.Errorf("gap_drawn_seconds count = %d, want %d", got, n)
		}
		if got := histCount(t, s.m.gapActual); got != n-1 {
			t.Errorf("gap_actual_seconds count = %d, want %d (the first send did not wait)", got, n-1)
		}
		if got := histCount(t, s.m.sendDuration); got != n {
			t.Errorf("send_duration_seconds count = %d, want %d", got, n)
		}
	})
}

func TestAccountsSendInParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10
		q := newFakeQueue()
		a := q.addAccount("ws1", "+15105566777", "", true)
		b := q.addAccount("ws2", "+14155552671", "", true)
		want := map[string][]string{}
		for i := range n {
			want[a.Phone] = append(want[a.Phone], q.add(a, fmt.Sprint("a", i)))
			want[b.Phone] = append(want[b.Phone], q.add(b, fmt.Sprint("b", i)))
		}
		tr := &fakeTransport{called: make(chan string, 2*n)}
		s, _ := newTestSender(t, q, tr)
		t0 := time.Now()
		stop := startRun(t, s)
		waitCalled(t, tr.called, 2*n)
		elapsed := time.Since(t0)
		stop()

		for _, ref := range []wagate.AccountRef{a, b} {
			recs := tr.records(ref.Phone)
			if got := ids(recs); !slices.Equal(got, want[ref.Phone]) {
				t.Errorf("%s: order = %v, want FIFO %v", ref.Phone, got, want[ref.Phone])
			}
			if !recs[0].at.Equal(t0) {
				t.Errorf("%s: first send at +%v, want at once", ref.Phone, recs[0].at.Sub(t0))
			}
			checkGaps(t, recs)
		}
		// In parallel, 2n messages take as long as n of one account; one
		// after the other they would take at least 2(n-1) gaps.
		if elapsed > (n-1)*hi || elapsed < (n-1)*lo {
			t.Errorf("2 accounts × %d messages took %v, want in [%v, %v]", n, elapsed, (n-1)*lo, (n-1)*hi)
		}
	})
}

func TestThousandAccounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const accounts, each = 1000, 2
		q := newFakeQueue()
		for i := range accounts {
			ref := q.addAccount("ws", fmt.Sprintf("+1510555%04d", i), "", true)
			for j := range each {
				q.add(ref, fmt.Sprint(j))
			}
		}
		tr := &fakeTransport{called: make(chan string, accounts*each)}
		s, _ := newTestSender(t, q, tr)
		t0 := time.Now()
		stop := startRun(t, s)
		waitCalled(t, tr.called, accounts*each)
		// In parallel: one gap after the last first send, which the
		// restart herd's spread puts at most herdDelay after the start.
		// One after the other they would take 1,999 gaps.
		if elapsed, limit := time.Since(t0), herdDelay(accounts-1, accounts, testInterval)+hi; elapsed > limit {
			t.Errorf("%d accounts × %d messages took %v, want at most the herd spread and one gap (%v)", accounts, each, elapsed, limit)
		}
		stop()
		for i := range accounts {
			checkGaps(t, tr.records(fmt.Sprintf("+1510555%04d", i)))
		}
	})
}

func TestWakeAfterIdleKeepsGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		q.add(ref, "first")
		tr := &fakeTransport{called: make(chan string, 3)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, 1)
		first := tr.records("")[0].at
		replay := rand.New(rand.NewPCG(testSeed1, testSeed2))
		gap := drawGap(replay, testInterval, testJitter)

		// The queue is empty; a message arrives a quarter second later.
		time.Sleep(250 * time.Millisecond)
		synctest.Wait()
		if got := value(t, s.m.workers); got != 1 {
			t.Errorf("active_workers = %v while the gap runs, want 1 (waiting it out)", got)
		}
		q.add(ref, "second")
		s.Wake(ref)
		waitCalled(t, tr.called, 1)
		if g := tr.records("")[1].at.Sub(first); g != gap {
			t.Errorf("woken send came %v after the previous one, want the drawn gap %v", g, gap)
		}

		// Long after the gap the worker is gone and the account forgotten.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := value(t, s.m.workers); got != 0 {
			t.Errorf("active_workers = %v after idle time, want 0", got)
		}
		s.mu.Lock()
		remembered := len(s.accounts)
		s.mu.Unlock()
		if remembered != 0 {
			t.Errorf("%d accounts remembered after idle time, want 0", remembered)
		}
		// The next message goes at once.
		q.add(ref, "third")
		now := time.Now()
		s.Wake(ref)
		waitCalled(t, tr.called, 1)
		if at := tr.records("")[2].at; !at.Equal(now) {
			t.Errorf("send after idle time came after %v, want at once", at.Sub(now))
		}
	})
}

func TestPermanentErrorFailsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		ok1 := q.add(ref, "ok")
		permanent := q.add(ref, "bad recipient")
		ok2 := q.add(ref, "ok again")
		tr := &fakeTransport{
			called: make(chan string, 3),
			errs: map[string]error{
				permanent: fmt.Errorf("cloud: %w", Permanent(errors.New("recipient is not on WhatsApp"))),
			},
		}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 3)
		stop()

		tries := q.failed(permanent)
		if len(tries) != 1 {
			t.Fatalf("MarkFailed called %d times, want 1", len(tries))
		}
		want := wagate.Try{At: tries[0].At, Result: wagate.TryResultFailed, Class: wagate.TryClassPermanent, Error: "cloud: recipient is not on WhatsApp"}
		if tries[0] != want {
			t.Errorf("try = %+v, want %+v", tries[0], want)
		}
		if st := q.status(permanent); st != wagate.StatusFailed || q.refunded(permanent) != 1 {
			t.Errorf("permanent failure is %s with %d credits refunded, want failed and 1", st, q.refunded(permanent))
		}
		if n := len(q.retried(permanent)); n != 0 {
			t.Errorf("a permanent error was retried %d times", n)
		}
		for _, id := range []string{ok1, ok2} {
			if st := q.status(id); st != wagate.StatusSent {
				t.Errorf("%s is %s, want sent", id, st)
			}
		}
		if got := q.countCalls("MarkSent"); got != 2 {
			t.Errorf("MarkSent called %d times, want 2", got)
		}
		// A failed send reached the transport: the next one still waits.
		checkGaps(t, tr.records(""))
		for result, want := range map[string]float64{resultSent: 2, resultRetry: 0, resultFailedTransient: 0, resultFailedPermanent: 1, resultFailedAccount: 0} {
			if got := value(t, s.m.sends.WithLabelValues(result)); got != want {
				t.Errorf("sends_total{result=%s} = %v, want %v", result, got, want)
			}
		}
	})
}

func TestShutdownFinishesSendInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		first := q.add(ref, "in flight")
		second := q.add(ref, "still queued")
		tr := &fakeTransport{called: make(chan string, 2), block: make(chan struct{})}
		s, _ := newTestSender(t, q, tr)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		waitCalled(t, tr.called, 1)
		if !s.Running() {
			t.Error("Running() = false while sending")
		}

		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) with a send in progress", err)
		default:
		}
		if s.Running() {
			t.Error("Running() = true after the context was cancelled")
		}
		if err := tr.records("")[0].ctx.Err(); err != nil {
			t.Errorf("the transport's context is done (%v) by shutdown; it must finish the send", err)
		}

		close(tr.block)
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if st := q.status(first); st != wagate.StatusSent {
			t.Errorf("the send in progress ended %s, want sent", st)
		}
		if st := q.status(second); st != wagate.StatusQueued {
			t.Errorf("the next message is %s, want queued for the next start", st)
		}
		if n := len(tr.records("")); n != 1 {
			t.Errorf("%d sends, want 1", n)
		}
	})
}

func TestRunRecoversFirstAndWakeBeforeRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		q.recoverErrs = 2
		ref := q.addAccount("ws1", "+15105566777", "", true)
		id := q.add(ref, "accepted before Run")
		tr := &fakeTransport{called: make(chan string, 1)}
		s, _ := newTestSender(t, q, tr)
		s.Wake(ref) // before Run: a no-op that must neither block nor send
		synctest.Wait()
		if n := len(tr.records("")); n != 0 {
			t.Fatalf("%d sends before Run", n)
		}

		stop := startRun(t, s)
		defer stop()
		synctest.Wait()
		if s.Running() {
			t.Error("Running() = true before RecoverSending succeeded")
		}
		if got := waitCalled(t, tr.called, 1); got[0] != id {
			t.Errorf("sent %v, want %s", got, id)
		}
		if !s.Running() {
			t.Error("Running() = false after recovery")
		}
		q.mu.Lock()
		calls := slices.Clone(q.calls)
		q.mu.Unlock()
		// RecoverSending fails twice, then succeeds; nothing else happens first.
		if !slices.Equal(calls[:4], []string{"RecoverSending", "RecoverSending", "RecoverSending", "QueuedAccounts"}) {
			t.Errorf("first calls = %v, want RecoverSending (3 times, 2 failing) before anything else", calls[:4])
		}
		if err := s.Run(context.Background()); err == nil {
			t.Error("a second Run returned nil, want an error")
		}
	})
}

func TestInactiveAccountKeepsItsMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", false)
		m1, m2 := q.add(ref, "one"), q.add(ref, "two")
		tr := &fakeTransport{called: make(chan string, 2)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()

		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(tr.records("")); n != 0 {
			t.Fatalf("%d sends from an inactive account", n)
		}
		for _, id := range []string{m1, m2} {
			if st := q.status(id); st != wagate.StatusQueued {
				t.Errorf("%s is %s, want queued while the account is inactive", id, st)
			}
		}
		if got := value(t, s.m.workers); got != 0 {
			t.Errorf("active_workers = %v for an inactive account, want 0", got)
		}

		q.setActive(ref, true)
		s.Wake(ref)
		if got := waitCalled(t, tr.called, 2); !slices.Equal(got, []string{m1, m2}) {
			t.Errorf("after activation sent %v, want %v", got, []string{m1, m2})
		}
		checkGaps(t, tr.records(""))
	})
}

func TestMessagesThatCannotReachATransportFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		deleted := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+15105566777"} // no account stored
		d1 := q.add(deleted, "to nowhere")
		pigeon := q.addAccount("ws1", "+14155552671", "pigeon", true)
		p1 := q.add(pigeon, "by air")
		tr := &fakeTransport{}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		time.Sleep(time.Minute)
		synctest.Wait()
		stop()

		for id, want := range map[string]string{
			d1: "account +15105566777 was deleted",
			p1: `account +14155552671 uses transport "pigeon", which this server does not have`,
		} {
			tries := q.failed(id)
			if len(tries) != 1 || tries[0].Error != want || tries[0].Class != wagate.TryClassPermanent {
				t.Errorf("%s: failed tries = %+v, want one permanent with error %q", id, tries, want)
			}
			if q.refunded(id) != 1 {
				t.Errorf("%s: refunded %d credits, want 1", id, q.refunded(id))
			}
		}
		if n := q.countCalls("MarkSending"); n != 0 {
			t.Errorf("MarkSending called %d times for messages that never reach a transport", n)
		}
		if n := len(tr.records("")); n != 0 {
			t.Errorf("%d sends reached a transport, want 0", n)
		}
		if got := value(t, s.m.sends.WithLabelValues(resultFailedAccount)); got != 2 {
			t.Errorf("sends_total{result=failed_account} = %v, want 2", got)
		}
	})
}

func TestStorageErrorsBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		q.add(ref, "patience")
		q.headErrs = 5
		tr := &fakeTransport{called: make(chan string, 1)}
		s, _ := newTestSender(t, q, tr)
		t0 := time.Now()
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, 1)

		// Five failures wait 0.5 + 1 + 2 + 4 + 8 s: doubling, not spinning.
		if got, want := time.Since(t0), 15500*time.Millisecond; got != want {
			t.Errorf("sent after %v, want %v of backoff", got, want)
		}
		synctest.Wait()
		if got := q.countCalls("Next"); got != 7 {
			t.Errorf("Next called %d times, want 7 (5 failures, the message, the empty queue)", got)
		}
	})
}

func TestStoringTheOutcomeRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		m1, m2 := q.add(ref, "one"), q.add(ref, "two")
		q.sentErrs = 2
		tr := &fakeTransport{called: make(chan string, 2)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 2)
		stop()
		// The first outcome is stored on the third try; the message was
		// sent once, and the pace of the next one is kept.
		if got := q.countCalls("MarkSent"); got != 4 {
			t.Errorf("MarkSent called %d times, want 4 (3 for the first message, 1 for the second)", got)
		}
		for _, id := range []string{m1, m2} {
			if st := q.status(id); st != wagate.StatusSent {
				t.Errorf("%s is %s, want sent", id, st)
			}
		}
		if n := len(tr.records("")); n != 2 {
			t.Errorf("%d sends, want 2: a failing store must not cause a second send", n)
		}
		checkGaps(t, tr.records(""))
	})
}

func TestWakeNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		q.add(ref, "stuck")
		tr := &fakeTransport{called: make(chan string, 1), block: make(chan struct{})}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 1)
		// The worker is inside Send; Wakes pile up on a full note.
		for range 1000 {
			s.Wake(ref)
		}
		close(tr.block)
		stop()
		s.Wake(ref) // after Run returned: a no-op
		synctest.Wait()
	})
}

func TestPermanent(t *testing.T) {
	base := errors.New("recipient is not on WhatsApp")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", base, false},
		{"marked", Permanent(base), true},
		{"marked then wrapped", fmt.Errorf("cloudapi: %w", Permanent(base)), true},
		{"context deadline", context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("%s: IsPermanent = %v, want %v", tt.name, got, tt.want)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	p := Permanent(base)
	if !errors.Is(p, base) || p.Error() != base.Error() {
		t.Errorf("Permanent hides its error: Is = %v, text %q", errors.Is(p, base), p.Error())
	}
}

func TestConfigNormalize(t *testing.T) {
	tests := []struct {
		name                 string
		in                   Config
		interval, jitter, to time.Duration
	}{
		{"zero takes defaults", Config{}, DefaultInterval, DefaultJitter, DefaultSendTimeout},
		{"set", Config{Interval: time.Second, Jitter: 100 * time.Millisecond, SendTimeout: time.Minute}, time.Second, 100 * time.Millisecond, time.Minute},
		{"negative jitter is none", Config{Interval: time.Second, Jitter: -1}, time.Second, 0, DefaultSendTimeout},
		{"negative interval is none", Config{Interval: -1, Jitter: -1}, 0, 0, DefaultSendTimeout},
		{"jitter capped at interval", Config{Interval: time.Second, Jitter: 3 * time.Second}, time.Second, time.Second, DefaultSendTimeout},
	}
	for _, tt := range tests {
		c := tt.in.normalize()
		if c.Interval != tt.interval || c.Jitter != tt.jitter || c.SendTimeout != tt.to || c.Logger == nil {
			t.Errorf("%s: normalize = %v ± %v, timeout %v, logger %v; want %v ± %v, timeout %v",
				tt.name, c.Interval, c.Jitter, c.SendTimeout, c.Logger, tt.interval, tt.jitter, tt.to)
		}
	}
}

func TestNewWithoutRandLogsSeed(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	New(newFakeQueue(), nil, Config{Logger: zap.New(core)})
	entries := logs.FilterMessage("random gaps seeded").All()
	if len(entries) != 1 {
		t.Fatalf("seed logged %d times, want once", len(entries))
	}
	if _, ok := entries[0].ContextMap()["seed"]; !ok {
		t.Errorf("log line %v has no seed", entries[0].ContextMap())
	}
}

// A busy account whose next message is planned does not read its queue
// again for every message accepted during the gap: the new messages queue
// behind the planned one, and the queue is read once more at the turn.
func TestWakesDuringTheGapDoNotReadTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		first := q.add(ref, "first")
		second := q.add(ref, "second")
		tr := &fakeTransport{called: make(chan string, 10)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, 1) // first is sent; second waits its turn
		synctest.Wait()
		before := q.countCalls("Next")

		var later []string
		for i := range 200 {
			later = append(later, q.add(ref, fmt.Sprintf("accepted during the gap %d", i)))
			s.Wake(ref)
			synctest.Wait()
		}
		if n := q.countCalls("Next") - before; n != 0 {
			t.Errorf("200 accepts during the gap read the queue %d times, want 0", n)
		}

		// The turn comes: second goes, then the first accepted later, in
		// order.
		if got := waitCalled(t, tr.called, 2); got[0] != second || got[1] != later[0] {
			t.Errorf("after the gap sent %v, want %s then %s", got, second, later[0])
		}
		if recs := tr.records(""); len(recs) != 3 || recs[0].id != first {
			t.Errorf("sends %v, want %s first", recs, first)
		}
	})
}
