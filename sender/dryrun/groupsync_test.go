package dryrun

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wagate/wagate/sender"
)

// Sends that arrive while an fsync runs append their lines at once, wait,
// and are all covered by the one next fsync: no Send returns before an
// fsync that began after its line was written.
func TestGroupFsync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), FileName)
		tr := open(t, path)
		release := make(chan struct{})
		var mu sync.Mutex
		var syncs []int // lines in the file at each fsync
		tr.fsync = func(f *os.File) error {
			mu.Lock()
			syncs = append(syncs, len(readLines(t, path)))
			first := len(syncs) == 1
			mu.Unlock()
			if first {
				<-release
			}
			return f.Sync()
		}
		const others = 10
		done := make(chan int, 1+others)
		send := func(i int) {
			if _, err := tr.Send(context.Background(), acct, message(i), nil); err != nil {
				t.Errorf("send %d: %v", i, err)
			}
			done <- i
		}
		go send(0)
		synctest.Wait() // send 0 is in its fsync
		for i := 1; i <= others; i++ {
			go send(i)
		}
		synctest.Wait() // the others have written and wait for an fsync
		if n := len(done); n != 0 {
			t.Fatalf("%d sends returned while the first fsync had not ended", n)
		}
		if n := len(readLines(t, path)); n != 1+others {
			t.Errorf("%d lines in the outbox while the first fsync runs, want %d: the others append without waiting for it", n, 1+others)
		}
		close(release)
		for range 1 + others {
			<-done
		}
		mu.Lock()
		defer mu.Unlock()
		if len(syncs) != 2 || syncs[0] != 1 || syncs[1] != 1+others {
			t.Errorf("fsyncs saw %v lines, want [1 %d]: one fsync for the line before, one for all the lines written during it", syncs, 1+others)
		}
	})
}

// A failed fsync fails the sends whose lines it was to cover, permanently
// (the line is written: it may count as sent), and every later send before
// writing anything, so no line is ever reported durable after it.
func TestFailedFsyncIsSticky(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tr := open(t, path)
	tr.fsync = func(*os.File) error { return errors.New("disk on fire") }
	_, err := tr.Send(context.Background(), acct, message(1), nil)
	if !sender.IsPermanent(err) {
		t.Fatalf("send whose fsync failed: %v, want a permanent error", err)
	}
	tr.fsync = (*os.File).Sync
	_, err = tr.Send(context.Background(), acct, message(2), nil)
	if err == nil || sender.IsPermanent(err) {
		t.Fatalf("send after a failed fsync: %v, want a transient error", err)
	}
	if n := len(readLines(t, path)); n != 1 {
		t.Errorf("%d lines, want 1: nothing is written after a failed fsync", n)
	}
}

// A line is dated when Send was called, not when it got the outbox lock:
// a send that waits behind others for the lock still shows the time the
// sender handed it over, so the gaps read from the outbox are the sender's.
func TestLineTimeIsTheCallNotTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tr := open(t, path)
	called := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	var (
		clockMu sync.Mutex
		clock   = called
		read    = make(chan struct{})
		once    sync.Once
	)
	tr.now = func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		once.Do(func() { close(read) })
		return clock
	}
	tr.mu.Lock() // another send holds the outbox
	done := make(chan error, 1)
	go func() {
		_, err := tr.Send(context.Background(), acct, message(1), nil)
		done <- err
	}()
	// The send reads the clock before it waits for the lock. (A guard, not
	// a timing: a send that read it only under the lock would wait for us
	// forever.)
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		tr.mu.Unlock()
		t.Fatal("Send did not read the clock before taking the outbox lock")
	}
	clockMu.Lock()
	clock = called.Add(40 * time.Millisecond)
	clockMu.Unlock()
	tr.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1", len(lines))
	}
	at, err := time.Parse(time.RFC3339Nano, lines[0]["at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(called) {
		t.Errorf("line dated %v after the call, want the call itself (the 40 ms waited for the lock are not the send's)", at.Sub(called))
	}
}
