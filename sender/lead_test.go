package sender

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// A store whose commits take a varying time must not shift the sends: the
// storage work of a paced send starts lead before its turn, and the
// transport is called at the turn itself, so every gap is the drawn one.
func TestSlowCommitsDoNotShiftGaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		for i := range n {
			q.add(ref, fmt.Sprint("message ", i))
		}
		// 40 ms and 0 in turn: before lead, each gap was off by ±40 ms.
		for i := range n {
			q.markDelays = append(q.markDelays, time.Duration(40*((i+1)%2))*time.Millisecond)
		}
		tr := &fakeTransport{called: make(chan string, n)}
		s, _ := newTestSender(t, q, tr)
		t0 := time.Now()
		stop := startRun(t, s)
		waitCalled(t, tr.called, n)
		stop()

		recs := tr.records("")
		if got := recs[0].at.Sub(t0); got != 40*time.Millisecond {
			t.Errorf("first send at +%v, want +40ms: it goes once its commit is done", got)
		}
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

// A commit slower than lead makes that send late, and the gap before it
// longer than drawn; the next gap is measured from that late start, so it
// is the drawn one: a slow send never brings the next one closer.
func TestLateSendKeepsTheNextGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		const spike = 600 * time.Millisecond // beyond maxLead
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		for i := range n {
			q.add(ref, fmt.Sprint("message ", i))
		}
		q.markDelays = []time.Duration{0, 0, spike, 0}
		tr := &fakeTransport{called: make(chan string, n)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, n)
		stop()

		recs := tr.records("")
		replay := rand.New(rand.NewPCG(testSeed1, testSeed2))
		want := []time.Duration{0, 0, spike, 0} // lateness of each gap
		for i := 1; i < n; i++ {
			d := drawGap(replay, testInterval, testJitter)
			if g := recs[i].at.Sub(recs[i-1].at); g != d+want[i] {
				t.Errorf("gap %d = %v, want the drawn %v + %v", i, g, d, want[i])
			}
		}
		if sum, count := histSum(t, s.m.gapError); count != n-1 || sum != spike.Seconds() {
			t.Errorf("gap_error_seconds: sum %v over %d sends, want %v over %d", sum, count, spike.Seconds(), n-1)
		}
	})
}

// Accounts resumed together at start beyond the first herdBurst are spread
// over at most one interval, each at its herdDelay, and their later gaps
// are the drawn ones.
func TestRestartHerdIsSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const accounts = herdBurst + 500
		q := newFakeQueue()
		var phones []string
		for i := range accounts {
			p := fmt.Sprintf("+1510555%04d", i)
			phones = append(phones, p)
			ref := q.addAccount("ws", p, "", true)
			q.add(ref, "a")
			q.add(ref, "b")
		}
		tr := &fakeTransport{called: make(chan string, 2*accounts)}
		s, _ := newTestSender(t, q, tr)
		t0 := time.Now()
		stop := startRun(t, s)
		waitCalled(t, tr.called, 2*accounts)
		stop()

		var firsts []time.Duration
		for _, p := range phones {
			recs := tr.records(p)
			firsts = append(firsts, recs[0].at.Sub(t0))
			checkGaps(t, recs)
		}
		slices.Sort(firsts)
		want := make([]time.Duration, accounts)
		for i := range want {
			want[i] = herdDelay(i, accounts, testInterval)
		}
		if !slices.Equal(firsts, want) {
			t.Errorf("first sends at %v … %v, want the herd delays %v … %v", firsts[:3], firsts[accounts-3:], want[:3], want[accounts-3:])
		}
		if at := firsts[herdBurst-1]; at != 0 {
			t.Errorf("the first %d accounts' first sends came as late as +%v, want at once", herdBurst, at)
		}
		if last := firsts[accounts-1]; last <= 0 || last >= testInterval {
			t.Errorf("the herd's last first send at +%v, want within (0, %v)", last, testInterval)
		}
	})
}

// histSum reads a histogram's sum and count.
func histSum(t *testing.T, h interface{ Write(*dto.Metric) error }) (float64, uint64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleSum(), m.GetHistogram().GetSampleCount()
}
