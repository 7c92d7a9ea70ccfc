package sender

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wagate/wagate"
)

// This file downloads attachments ahead of their turn. While an account
// waits out its gap, its worker starts the downloads of the messages that go
// next, so a slow file host delays nothing but a download nobody waits for.
// Memory and the file hosts are protected by caps:
//
//   - a download reserves MaxFileBytes when it starts and keeps only the
//     real size once done; the bytes of all accounts stay under FileBytes;
//   - one account holds at most FileBytesPerAccount of files downloaded in
//     advance (the file of the message being sent comes on top);
//   - at most FetchConcurrency downloads run at once, all accounts together,
//     and at most FetchConcurrencyPerWorkspace of one workspace (slots.go).
//
// A prefetch that does not fit now (bytes or a download slot) is not
// started: the file is downloaded at the message's turn instead (just in
// time), waiting for a slot, then for room. Before it waits, the worker
// gives back the files it prefetched, so that no account holds bytes while
// it waits for bytes and the waits cannot close a circle. The slot comes
// before the bytes so that downloads queued behind their workspace's slots
// hold no bytes: a workspace with a slow file host cannot fill the byte
// budget of all workspaces with downloads that have not even started.
// Files live only in memory: a restart downloads them again.

// fileEntry is one download, started ahead of its message's turn or at it.
// The worker that started it owns it; the download goroutine fills att or
// err and at, then closes done.
type fileEntry struct {
	done   chan struct{}
	cancel context.CancelFunc

	att *wagate.Attachment // the file, when the download succeeded
	err error              // why it failed, else
	at  time.Time          // when the download ended: the time of a failed try

	// Guarded by fileBudget.mu.
	held     int64 // bytes counted for this entry in the budget
	released bool  // given back: the entry takes no more bytes
}

// fileBudget caps the bytes of files held in memory, all accounts together.
type fileBudget struct {
	mu      sync.Mutex
	used    int64
	limit   int64
	changed chan struct{} // closed and replaced whenever bytes are given back
	gauge   prometheus.Gauge
}

func newFileBudget(limit int64, gauge prometheus.Gauge) *fileBudget {
	return &fileBudget{limit: limit, changed: make(chan struct{}), gauge: gauge}
}

// tryTake counts n more bytes for e if they fit under the limit now.
func (b *fileBudget) tryTake(e *fileEntry, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.takeLocked(e, n)
}

func (b *fileBudget) takeLocked(e *fileEntry, n int64) bool {
	if e.released || b.used+n > b.limit {
		return false
	}
	b.used += n
	e.held += n
	b.gauge.Set(float64(b.used))
	return true
}

// take waits until n bytes fit, then counts them for e. It fails when ctx
// ends first or e was released meanwhile.
func (b *fileBudget) take(ctx context.Context, e *fileEntry, n int64) error {
	for {
		b.mu.Lock()
		if e.released {
			b.mu.Unlock()
			return errors.New("the download was called off")
		}
		if b.takeLocked(e, n) {
			b.mu.Unlock()
			return nil
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// shrink lowers e's bytes to n, the real size of its file.
func (b *fileBudget) shrink(e *fileEntry, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.held > n {
		b.giveLocked(e.held - n)
		e.held = n
	}
}

// release gives back all of e's bytes; e takes none after.
func (b *fileBudget) release(e *fileEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e.released = true
	if e.held > 0 {
		b.giveLocked(e.held)
		e.held = 0
	}
}

func (b *fileBudget) giveLocked(n int64) {
	b.used -= n
	b.gauge.Set(float64(b.used))
	close(b.changed)
	b.changed = make(chan struct{})
}

// heldBy sums the bytes of the entries.
func (b *fileBudget) heldBy(entries map[string]*fileEntry) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, e := range entries {
		n += e.held
	}
	return n
}

// errNoFetcher fails a message with a file when the server was built
// without a Fetcher: no retry can change that.
var errNoFetcher = Permanent(errors.New("no file fetcher configured: this wagate server cannot download file_url attachments; send the message without file_url, or ask the operator"))

// plan keeps the downloads of msgs, the messages of the account that go
// next (the first at its turn), drops the others (sent, failed, or no longer
// next), and starts the missing downloads that fit in the caps, in order.
func (s *Sender) plan(ctx context.Context, a *account, msgs []*wagate.Message) {
	if len(a.files) > 0 {
		keep := make(map[string]bool, len(msgs))
		for _, m := range msgs {
			keep[m.ID] = true
		}
		for id := range a.files {
			if !keep[id] {
				s.dropFile(a, id)
			}
		}
	}
	if s.cfg.Fetcher == nil || s.cfg.PrefetchAhead <= 0 {
		return
	}
	for i, m := range msgs {
		if i >= s.cfg.PrefetchAhead {
			return
		}
		if m.FileURL == "" || a.files[m.ID] != nil {
			continue
		}
		if s.files.heldBy(a.files)+s.cfg.MaxFileBytes > s.cfg.FileBytesPerAccount {
			return // later ones download at their turn; order first
		}
		if s.startFetch(ctx, a, m, false) == nil {
			return // the global cap is reached
		}
	}
}

// startFetch starts downloading m's file and remembers the entry. wait false
// (a prefetch) starts only if the bytes fit now and returns nil otherwise;
// wait true (just in time) lets the download wait for room.
func (s *Sender) startFetch(ctx context.Context, a *account, m *wagate.Message, wait bool) *fileEntry {
	fctx, cancel := context.WithCancel(ctx)
	e := &fileEntry{done: make(chan struct{}), cancel: cancel}
	if !wait {
		if !s.slots.tryTake(m.WorkspaceID) {
			cancel()
			return nil
		}
		if !s.files.tryTake(e, s.cfg.MaxFileBytes) {
			s.slots.give(m.WorkspaceID)
			cancel()
			return nil
		}
	}
	if a.files == nil {
		a.files = make(map[string]*fileEntry)
	}
	a.files[m.ID] = e
	s.wg.Add(1) // the worker holds a count: Run waits for the download too
	go s.fetch(fctx, e, m, wait)
	return e
}

// fetch is the download goroutine of one entry. A prefetch (wait false)
// comes with its slot and bytes taken; a download just in time takes them
// here, the slot first.
func (s *Sender) fetch(ctx context.Context, e *fileEntry, m *wagate.Message, wait bool) {
	defer s.wg.Done()
	defer close(e.done)
	defer e.cancel()
	fail := func(err error) {
		e.err, e.at = err, time.Now()
		s.files.release(e)
	}
	if wait {
		if err := s.slots.take(ctx, m.WorkspaceID); err != nil {
			fail(err)
			return
		}
		if err := s.files.take(ctx, e, s.cfg.MaxFileBytes); err != nil {
			s.slots.give(m.WorkspaceID)
			fail(err)
			return
		}
	}
	fctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	att, err := s.cfg.Fetcher.Fetch(fctx, m.FileURL, m.FileName)
	cancel()
	s.slots.give(m.WorkspaceID)
	switch {
	case err != nil:
	case att == nil:
		err = errors.New("the file fetcher returned neither a file nor an error")
	case int64(len(att.Data)) > s.cfg.MaxFileBytes:
		err = Permanent(fmt.Errorf("file_url: the file is %d bytes, more than the %d allowed", len(att.Data), s.cfg.MaxFileBytes))
	}
	if err != nil {
		s.m.fetches.WithLabelValues("error").Inc()
		fail(err)
		return
	}
	s.m.fetches.WithLabelValues("ok").Inc()
	s.files.shrink(e, int64(len(att.Data)))
	e.att, e.at = att, time.Now()
}

// attachment returns the entry holding m's file for its send: the prefetched
// one, or a download started now, waited for. (nil, nil) for a message
// without a file. A download error is returned as the try's error (the
// entry, dropped already, is returned too for its time); so is ctx's.
func (s *Sender) attachment(ctx context.Context, a *account, m *wagate.Message) (*fileEntry, error) {
	if m.FileURL == "" {
		return nil, nil
	}
	if s.cfg.Fetcher == nil {
		return &fileEntry{at: time.Now()}, errNoFetcher
	}
	e := a.files[m.ID]
	if e == nil {
		if e = s.startFetch(ctx, a, m, false); e == nil {
			// No room now. Give back what this account prefetched before
			// waiting for room: see the top of this file.
			s.dropFiles(a)
			e = s.startFetch(ctx, a, m, true)
		}
	}
	t0 := time.Now()
	select {
	case <-e.done:
	case <-ctx.Done():
		return e, ctx.Err()
	}
	s.m.fileWait.Observe(time.Since(t0).Seconds())
	if e.err != nil {
		s.dropFile(a, m.ID)
		return e, e.err
	}
	return e, nil
}

// dropFile calls off or forgets one download and gives back its bytes.
func (s *Sender) dropFile(a *account, id string) {
	e := a.files[id]
	if e == nil {
		return
	}
	delete(a.files, id)
	e.cancel()
	s.files.release(e)
}

// dropFiles drops every download of the account.
func (s *Sender) dropFiles(a *account) {
	for id := range a.files {
		s.dropFile(a, id)
	}
}
