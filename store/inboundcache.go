package store

import (
	"sync"
	"sync/atomic"

	"github.com/wagate/wagate"
)

// The inbound cache.
//
// Every request to an inbound URL starts with FindWorkspaceByInboundToken.
// Without a cache that is a read transaction that JSON-decodes the
// workspace and every one of its account records, on each request, for data
// that changes only when an operator or owner acts. So the store keeps the
// answer in memory, keyed by the token's hash.
//
// Invalidation is by one generation counter for the whole store: every
// write through db.update (which every write to a workspace record, its
// inbound token, its credits grant or its accounts uses) bumps it after the
// commit, and an entry only counts while its generation is the current
// one. A reader reads the generation BEFORE its read transaction and stores
// its answer only if the generation has not moved since: a transaction that
// started before a commit may have read the old state, and it must not be
// stored as current. A commit's bump happens before the write returns to
// its caller, so once RegenerateWebhook (or any other admin write) has
// returned, no request sees the old answer.
//
// The writes that do not bump are the hot path's group commits (Accept,
// attempts, the sender's marks, deliveries). Of the cached workspace they
// change only the balance, through charges and refunds, so a cached
// Workspace.Credits may be behind. That is harmless: the gateway decides
// nothing on it, and Accept charges from the record in its own commit,
// where it also re-checks the token (in constant time), the enabled flag and
// the account. A stale entry therefore can never accept a message for a
// regenerated or disabled URL or an inactive account; at worst it gives a
// 400 a moment later than a fresh read would.

// inboundCacheMax bounds the cache. A store has one inbound token per
// workspace, so the bound is only reached by an instance with more
// workspaces than that; the cache is then cleared and refilled.
const inboundCacheMax = 10_000

// inboundCache maps an inbound token's SHA-256 hash to the workspace it
// found, tagged with the generation it was read at.
type inboundCache struct {
	gen atomic.Uint64

	mu      sync.RWMutex
	entries map[[32]byte]inboundEntry
}

// inboundEntry is one cached answer. ws is never handed out: readers get a
// copy, so no caller can change what the next request sees.
type inboundEntry struct {
	gen uint64
	ws  *wagate.Workspace
}

// generation returns the current generation, to be read before the read
// transaction whose answer may be stored with put.
func (c *inboundCache) generation() uint64 { return c.gen.Load() }

// invalidate makes every entry stale. It is called after a commit, never
// before: a reader that slipped in between would store the old state under
// the new generation.
func (c *inboundCache) invalidate() { c.gen.Add(1) }

// get returns a copy of the entry of hash if it is current.
func (c *inboundCache) get(hash [32]byte) *wagate.Workspace {
	c.mu.RLock()
	e, ok := c.entries[hash]
	c.mu.RUnlock()
	if !ok || e.gen != c.gen.Load() {
		return nil
	}
	return e.ws.Clone()
}

// put stores a copy of ws as the answer for hash, read at generation gen,
// unless a write has committed since gen was read.
func (c *inboundCache) put(hash [32]byte, gen uint64, ws *wagate.Workspace) {
	cp := ws.Clone()
	c.mu.Lock()
	defer c.mu.Unlock()
	// A bump before this check keeps the answer out; a bump after it makes
	// the entry stale at once.
	if c.gen.Load() != gen {
		return
	}
	if c.entries == nil || len(c.entries) >= inboundCacheMax {
		c.entries = make(map[[32]byte]inboundEntry)
	}
	c.entries[hash] = inboundEntry{gen: gen, ws: cp}
}
