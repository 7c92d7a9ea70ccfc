package sender

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wagate/wagate"
)

// The careful-sending rules on synctest's fake clock, which starts at
// 2000-01-01 00:00 UTC: 01:00 in Berlin, 19:00 the day before in New York.

const (
	berlinJID = "4915112345678@s.whatsapp.net"
	nyJID     = "12125550100@s.whatsapp.net"
)

func setRules(q *fakeQueue, ref wagate.AccountRef, r wagate.SendRules) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.accounts[ref].Rules = r
}

func personJID(i int) string { return fmt.Sprintf("4915112345%03d@s.whatsapp.net", i) }

// TestDailyLimitHolds: 5 messages with daily_limit 3: 3 go at the pace, 2
// wait (queued, no try spent) with reason daily_limit and next_try_at when
// the first send leaves the 24 h window; each goes once a send has left it.
func TestDailyLimitHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		setRules(q, ref, wagate.SendRules{DailyLimit: 3})
		var ids []string
		for i := range 5 {
			ids = append(ids, q.addTo(ref, personJID(i), fmt.Sprint("message ", i)))
		}
		tr := &fakeTransport{called: make(chan string, 5)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, 3)
		time.Sleep(hi)  // the next turn comes: the sender asks the rules
		synctest.Wait() // and holds the other two, and parks
		recs := tr.records("")
		for _, id := range ids[3:] {
			m := q.message(id)
			if m.Status != wagate.StatusQueued || m.WaitingReason != wagate.WaitingDailyLimit || !m.NextTryAt.Equal(recs[0].at.Add(24*time.Hour)) || len(m.Tries) != 0 {
				t.Fatalf("message over the limit: status %s, reason %q, next_try_at %s (want %s), %d tries",
					m.Status, m.WaitingReason, m.NextTryAt, recs[0].at.Add(24*time.Hour), len(m.Tries))
			}
		}
		if got := waitCalled(t, tr.called, 1)[0]; got != ids[3] {
			t.Fatalf("after 24 h sent %s, want %s", got, ids[3])
		}
		recs = tr.records("")
		if d := recs[3].at.Sub(recs[0].at); d < 24*time.Hour || d > 24*time.Hour+time.Second {
			t.Fatalf("4th send %v after the first, want 24 h", d)
		}
		// The 5th goes once the 2nd send has left the window too (and not
		// before its turn).
		waitCalled(t, tr.called, 1)
		recs = tr.records("")
		if d := recs[4].at.Sub(recs[1].at); d < 24*time.Hour {
			t.Fatalf("5th send %v after the 2nd: a 4th send in 24 h", d)
		}
		if g := recs[4].at.Sub(recs[3].at); g < lo || g > hi {
			t.Fatalf("5th send %v after the 4th, want the pace", g)
		}
		if n := len(q.retried(ids[3])); n != 0 {
			t.Fatalf("%d retries spent by a held message", n)
		}
	})
}

// TestWarmupDayByDay: start 2, growth 2, limit 10: 2 sends on the first
// day, 4 on the second, 8 on the third.
func TestWarmupDayByDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		setRules(q, ref, wagate.SendRules{DailyLimit: 10, Warmup: wagate.Warmup{Start: 2, Growth: 2}})
		const n = 14
		for i := range n {
			q.addTo(ref, personJID(i), "x")
		}
		tr := &fakeTransport{called: make(chan string, n)}
		s, _ := newTestSender(t, q, tr)
		start := time.Now()
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, n)
		perDay := make([]int, 3)
		for _, r := range tr.records("") {
			d := int(r.at.Sub(start) / (24 * time.Hour))
			if d >= len(perDay) {
				t.Fatalf("a send on day %d", d)
			}
			perDay[d]++
		}
		if perDay[0] != 2 || perDay[1] != 4 || perDay[2] != 8 {
			t.Fatalf("sends per day = %v, want [2 4 8]", perDay)
		}
	})
}

// TestQuietHoursHoldOneRecipient: at 01:00 in Berlin and 19:00 in New
// York, quiet hours 21:00-08:00 hold the Berlin recipient's messages (the
// second behind the first) while New York's go at once; Berlin's go at
// 08:00 there.
func TestQuietHoursHoldOneRecipient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		quiet := wagate.QuietHours{Set: true, From: 21 * 60, To: 8 * 60}
		setRules(q, ref, wagate.SendRules{QuietHours: quiet})
		b1 := q.addTo(ref, berlinJID, "b1")
		n1 := q.addTo(ref, nyJID, "n1")
		b2 := q.addTo(ref, berlinJID, "b2")
		n2 := q.addTo(ref, nyJID, "n2")
		tr := &fakeTransport{called: make(chan string, 4)}
		s, _ := newTestSender(t, q, tr)
		start := time.Now()
		stop := startRun(t, s)
		defer stop()
		if got := waitCalled(t, tr.called, 2); got[0] != n1 || got[1] != n2 {
			t.Fatalf("first sends = %v, want New York's [%s %s]", got, n1, n2)
		}
		time.Sleep(hi)
		synctest.Wait()
		morning := time.Date(2000, 1, 1, 7, 0, 0, 0, time.UTC) // 08:00 in Berlin
		if m := q.message(b1); m.WaitingReason != wagate.WaitingQuietHours || !m.NextTryAt.Equal(morning) {
			t.Fatalf("Berlin's message: reason %q, next_try_at %s; want quiet_hours until %s (start %s)", m.WaitingReason, m.NextTryAt, morning, start)
		}
		if got := waitCalled(t, tr.called, 2); got[0] != b1 || got[1] != b2 {
			t.Fatalf("later sends = %v, want Berlin's in order [%s %s]", got, b1, b2)
		}
		if at := tr.records("")[2].at; at.Before(morning) || at.After(morning.Add(time.Second)) {
			t.Fatalf("Berlin's first message sent at %s, want 08:00 Berlin (%s)", at, morning)
		}
	})
}

// TestSendAtOrderAndRestart: scheduled messages never hold back due ones,
// go in due order at their time, and a restart of the sender keeps them.
func TestSendAtOrderAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		start := time.Now()
		hour := q.addMessage(ref, wagate.Message{JID: defaultJID, Text: "in an hour", SendAt: start.Add(time.Hour)})
		now := q.addTo(ref, defaultJID, "now, to the same recipient")
		half := q.addMessage(ref, wagate.Message{JID: nyJID, Text: "in half an hour", SendAt: start.Add(30 * time.Minute)})
		tr := &fakeTransport{called: make(chan string, 3)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		if got := waitCalled(t, tr.called, 1)[0]; got != now {
			t.Fatalf("first send %s, want the due message %s", got, now)
		}
		stop()

		s2, _ := newTestSender(t, q, tr) // a restart
		stop = startRun(t, s2)
		defer stop()
		if got := waitCalled(t, tr.called, 2); got[0] != half || got[1] != hour {
			t.Fatalf("scheduled sends = %v, want [%s %s]", got, half, hour)
		}
		recs := tr.records("")
		for i, want := range []time.Duration{30 * time.Minute, time.Hour} {
			if d := recs[i+1].at.Sub(start); d != want {
				t.Errorf("scheduled send %d at +%v, want +%v", i, d, want)
			}
		}
	})
}

// TestAccountPace: an account's send_interval and send_jitter replace the
// server's pace.
func TestAccountPace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		setRules(q, ref, wagate.SendRules{SendInterval: 10 * time.Second})
		for i := range 3 {
			q.add(ref, fmt.Sprint(i))
		}
		tr := &fakeTransport{called: make(chan string, 3)}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		defer stop()
		waitCalled(t, tr.called, 3)
		recs := tr.records("")
		for i := 1; i < len(recs); i++ {
			if g := recs[i].at.Sub(recs[i-1].at); g != 10*time.Second {
				t.Errorf("gap %d = %v, want the account's 10s", i, g)
			}
		}
	})
}
