package sender

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wagate/wagate"
)

// A message its owner cancels after the sender planned it (its file was
// downloading for its turn) is never sent: MarkSending refuses it, and the
// sender drops it and its file quietly, at once, and goes on with the next
// message at the next message's own time, with no storage backoff.
func TestCancelledWhilePlannedIsDroppedQuietly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const slow = 700 * time.Millisecond
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		cancelled := q.addFile(ref, "with a file", "https://files.example/a.png")
		next := q.add(ref, "next")
		tr := &fakeTransport{called: make(chan string, 10)}
		f := &fakeFetcher{delay: slow, size: 1000}
		f.onFetch = func(string) { q.cancel(cancelled) } // the DELETE lands mid-download
		core, logs := observer.New(zap.DebugLevel)
		s := newFileSender(t, q, tr, f, func(c *Config) {
			c.Logger = zap.New(core)
			c.Registerer = prometheus.NewRegistry()
		})
		t0 := time.Now()
		stop := startRun(t, s)
		defer stop()

		if got := waitCalled(t, tr.called, 1); got[0] != next {
			t.Fatalf("sent %s, want only %s: a cancelled message went out", got[0], next)
		}
		// The download was the only wait: no backoff after the refusal.
		if d := tr.records("")[0].at.Sub(t0); d != slow {
			t.Errorf("next message sent %v after start, want %v (the download, then at once)", d, slow)
		}
		synctest.Wait()
		if held := value(t, s.m.fileBytes); held != 0 {
			t.Errorf("file_bytes_held = %v, want 0: the cancelled message's file was kept", held)
		}
		if m := q.message(cancelled); m.Status != wagate.StatusFailed || m.Error != wagate.ErrorCancelled || q.refunded(cancelled) != 1 {
			t.Errorf("cancelled message: %s %q, refunded %d; want failed, cancelled, refunded once", m.Status, m.Error, q.refunded(cancelled))
		}
		if n := len(q.failed(cancelled)) + len(q.retried(cancelled)); n != 0 {
			t.Errorf("the sender wrote %d outcomes for a message it never tried", n)
		}
		if w := logs.FilterLevelExact(zap.WarnLevel).Len() + logs.FilterLevelExact(zap.ErrorLevel).Len(); w != 0 {
			t.Errorf("%d warnings or errors logged for a cancel: %v", w, logs.All())
		}
	})
}

// A message cancelled while its account's worker is parked for the turn,
// its file downloaded ahead, is not sent either, and its file is let go:
// the worker reads the queue again at the turn.
func TestCancelledWhileParkedIsNotSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		first := q.add(ref, "first")
		cancelled := q.addFile(ref, "with a file", "https://files.example/b.png")
		last := q.add(ref, "last")
		tr := &fakeTransport{called: make(chan string, 10)}
		f := &fakeFetcher{delay: 100 * time.Millisecond, size: 1000}
		s := newFileSender(t, q, tr, f, nil)
		stop := startRun(t, s)
		defer stop()
		if got := waitCalled(t, tr.called, 1); got[0] != first {
			t.Fatalf("first send %s, want %s", got[0], first)
		}
		synctest.Wait() // parked for the gap, the file downloading ahead
		if held := value(t, s.m.fileBytes); held == 0 {
			t.Fatal("file_bytes_held during the gap = 0, want the prefetch's bytes")
		}
		q.cancel(cancelled)
		if got := waitCalled(t, tr.called, 1); got[0] != last {
			t.Fatalf("after the gap sent %s, want %s: the cancelled message went out", got[0], last)
		}
		synctest.Wait()
		if held := value(t, s.m.fileBytes); held != 0 {
			t.Errorf("file_bytes_held = %v, want 0", held)
		}
	})
}
