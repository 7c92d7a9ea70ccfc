package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wagate/wagate"
)

// The committer queues (commit.go), driven deterministically: a commit is
// held in the FailCommit hook while the test queues what it needs, and the
// queued hook says when a request is in its queue.

// holdFirstCommit is a fault hook that, once armed, holds the first
// commit of accepts until release is closed, after closing held.
type holdFirstCommit struct {
	armed         atomic.Bool
	once          sync.Once
	held, release chan struct{}
}

func newHoldFirstCommit() *holdFirstCommit {
	return &holdFirstCommit{held: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdFirstCommit) fault(op string) error {
	if op != "accept" || !h.armed.Load() {
		return nil
	}
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.held)
		<-h.release
	}
	return nil
}

// A hot workspace's accepts all go to one committer, and what arrives
// while it commits is its next batch: the accepts queued during a commit
// are committed together in one transaction.
func TestHotWorkspaceBatchIsWhatArrivedDuringTheCommitBefore(t *testing.T) {
	hold := newHoldFirstCommit()
	w := newBatchWorld(t, hold.fault)
	w.workspace("ws_a", 100)
	var queued sync.WaitGroup
	w.db.queued = func(*acceptJob) { queued.Done() }
	hold.armed.Store(true)
	before := w.db.CommitStats()

	accept := func(errs chan<- error) {
		_, err := w.db.Accept(context.Background(), w.job("ws_a", 1).a)
		errs <- err
	}
	errs := make(chan error, 6)
	queued.Add(1)
	go accept(errs)
	<-hold.held // the first accept's commit is under way, and held
	const more = 5
	queued.Add(more)
	for range more {
		go accept(errs)
	}
	queued.Wait() // all five wait in the committer's queue
	close(hold.release)
	for range 1 + more {
		if err := <-errs; err != nil {
			t.Errorf("Accept: %v", err)
		}
	}
	got := w.db.CommitStats().Minus(before)
	if got.Commits != 2 || got.Functions != 1+more {
		t.Errorf("%d transactions carrying %d accepts, want 2 carrying %d: the first alone, then the %d that waited in one batch",
			got.Commits, got.Functions, 1+more, more)
	}
	if b := w.balance("ws_a"); b != 100-1-more {
		t.Errorf("balance %d, want %d", b, 100-1-more)
	}
}

// Two workspaces whose ids hash to different committers commit
// independently: while one's commit is held, the other's accept commits
// (with one shared committer this test would never end).
func TestWorkspacesOnSeparateCommittersCommitIndependently(t *testing.T) {
	hold := newHoldFirstCommit()
	w := newBatchWorld(t, hold.fault)
	a, b := "", ""
	for i := 0; b == ""; i++ {
		id := fmt.Sprintf("ws_%d", i)
		switch {
		case a == "":
			a = id
		case w.db.queueOf(id) != w.db.queueOf(a):
			b = id
		}
	}
	w.workspace(a, 10)
	w.workspace(b, 10)
	hold.armed.Store(true)

	heldErr := make(chan error, 1)
	go func() {
		_, err := w.db.Accept(context.Background(), w.job(a, 1).a)
		heldErr <- err
	}()
	<-hold.held
	res, err := w.db.Accept(context.Background(), w.job(b, 2).a)
	if err != nil || res.Balance != 8 {
		t.Fatalf("Accept on %s while %s's commit is held: %v, %+v; want it committed with balance 8", b, a, err, res)
	}
	close(hold.release)
	if err := <-heldErr; err != nil {
		t.Errorf("the held Accept on %s: %v", a, err)
	}
	if got := w.balance(a); got != 9 {
		t.Errorf("%s: balance %d, want 9", a, got)
	}
	if got := w.balance(b); got != 8 {
		t.Errorf("%s: balance %d, want 8", b, got)
	}
}

// A caller that gives up before a committer took its request gets
// EUNAVAILABLE, and the request is not committed.
func TestAcceptCancelledWhileQueuedIsNotCommitted(t *testing.T) {
	hold := newHoldFirstCommit()
	w := newBatchWorld(t, hold.fault)
	w.workspace("ws_a", 10)
	queued := make(chan *acceptJob, 2)
	w.db.queued = func(j *acceptJob) { queued <- j }
	hold.armed.Store(true)
	first := make(chan error, 1)
	go func() {
		_, err := w.db.Accept(context.Background(), w.job("ws_a", 1).a)
		first <- err
	}()
	<-queued
	<-hold.held
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := w.db.Accept(ctx, w.job("ws_a", 2).a)
		second <- err
	}()
	<-queued
	cancel()
	if err := <-second; wagate.ErrorCode(err) != wagate.EUNAVAILABLE {
		t.Errorf("the cancelled Accept: %v, want EUNAVAILABLE", err)
	}
	close(hold.release)
	if err := <-first; err != nil {
		t.Errorf("the first Accept: %v", err)
	}
	if b := w.balance("ws_a"); b != 9 {
		t.Errorf("balance %d, want 9: only the first accept charged", b)
	}
}
