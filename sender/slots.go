package sender

import (
	"context"
	"sync"
)

// fetchSlots caps the downloads running at once: total in all, perWS for
// one workspace. Without the second cap a workspace whose file_url points
// at a slow host fills every slot with downloads that hang until their
// timeout, and the files of every other workspace wait behind them (SPEC §2
// fairness). A slot is taken for both caps at once or not at all, so a
// download that waits for its workspace's slot holds none of the total.
type fetchSlots struct {
	total, perWS int

	mu      sync.Mutex
	used    int
	byWS    map[string]int // running downloads per workspace id; no zero entries
	changed chan struct{}  // closed and replaced whenever a slot is given back
}

func newFetchSlots(total, perWS int) *fetchSlots {
	return &fetchSlots{total: total, perWS: perWS, byWS: make(map[string]int), changed: make(chan struct{})}
}

// tryTake takes a slot of ws if one is free now.
func (f *fetchSlots) tryTake(ws string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.takeLocked(ws)
}

func (f *fetchSlots) takeLocked(ws string) bool {
	if f.used >= f.total || f.byWS[ws] >= f.perWS {
		return false
	}
	f.used++
	f.byWS[ws]++
	return true
}

// take waits until a slot of ws is free and takes it, or until ctx ends.
func (f *fetchSlots) take(ctx context.Context, ws string) error {
	for {
		f.mu.Lock()
		if f.takeLocked(ws) {
			f.mu.Unlock()
			return nil
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// give gives back a slot of ws.
func (f *fetchSlots) give(ws string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used--
	if f.byWS[ws]--; f.byWS[ws] <= 0 {
		delete(f.byWS, ws) // the map holds the workspaces downloading now, no more
	}
	close(f.changed)
	f.changed = make(chan struct{})
}
