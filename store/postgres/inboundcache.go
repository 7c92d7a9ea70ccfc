package postgres

import (
	"crypto/subtle"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate"
)

// The inbound cache: FindWorkspaceByInboundToken's answers, kept a moment.
//
// Every request to an inbound URL starts with the token's lookup: without
// a cache a read-only transaction of two statements, four round trips,
// which was 22 % of the wagate side's CPU through HTTP once the accepts
// themselves were batched (BENCHMARKS.md 1b). store/ (bbolt) caches it
// (store/inboundcache.go); here, with replicas, another replica's write
// cannot invalidate this replica's memory, so an entry also expires after
// inboundCacheTTL.
//
// What a stale entry can do, and why that is safe:
//
//   - Accept and AcceptBatch compare the token with the workspace's, and
//     check the enabled flag and the account, under the workspace's row
//     lock in their own transaction: a regenerated or disabled URL, or an
//     account switched off, can never accept a message through a stale
//     entry. At worst a request gets its refusal from the commit instead
//     of from the gateway's first check, or a re-enabled URL or a new
//     account is seen up to inboundCacheTTL late on another replica.
//   - Replay (an Idempotency-Key seen before) does not check the token:
//     on a replica other than the one that regenerated it, the old URL can
//     for up to inboundCacheTTL get the first answer of a request it made
//     itself. No message is queued and nothing is charged.
//
// On this replica a write that changes what the cache holds (the token,
// the enabled flag, accounts: every update but the hot ones, see
// keepsInbound) bumps a generation after its commit, as store/ does, so
// once it has returned no request here sees the old answer. A reader
// reads the generation before its read and stores its answer only if it
// has not moved since. Unknown tokens are never cached.

// inboundCacheTTL bounds how long another replica's change of a URL can go
// unseen here. At hundreds of requests a second to one URL, one lookup a
// second is nothing.
const inboundCacheTTL = time.Second

// inboundCacheMax bounds the cache: past it, it is cleared and refilled.
const inboundCacheMax = 10_000

type inboundCache struct {
	gen atomic.Uint64
	now func() time.Time // the TTL's clock: real time unless a test sets it

	mu      sync.RWMutex
	entries map[[32]byte]inboundEntry
}

// inboundEntry is one answer; ws is never handed out, only copies.
type inboundEntry struct {
	gen uint64
	at  time.Time
	ws  *wagate.Workspace
}

func (c *inboundCache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// generation is read before the lookup whose answer put may store.
func (c *inboundCache) generation() uint64 { return c.gen.Load() }

// invalidate makes every entry stale; called after a commit, never before.
func (c *inboundCache) invalidate() { c.gen.Add(1) }

// get returns a copy of the entry of token's hash while it is current and
// young, its token compared with token in constant time once more.
func (c *inboundCache) get(hash [32]byte, token string) *wagate.Workspace {
	c.mu.RLock()
	e, ok := c.entries[hash]
	c.mu.RUnlock()
	if !ok || e.gen != c.gen.Load() {
		return nil
	}
	if age := c.clock().Sub(e.at); age < 0 || age >= inboundCacheTTL {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(e.ws.Webhook.Token), []byte(token)) != 1 {
		return nil
	}
	return e.ws.Clone()
}

// put stores a copy of ws for hash, read at generation gen and at time
// at (taken before the read), unless a write has committed since.
func (c *inboundCache) put(hash [32]byte, gen uint64, at time.Time, ws *wagate.Workspace) {
	cp := ws.Clone()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if c.entries == nil || len(c.entries) >= inboundCacheMax {
		c.entries = make(map[[32]byte]inboundEntry)
	}
	c.entries[hash] = inboundEntry{gen: gen, at: at, ws: cp}
}

// keepsInbound are the updates that leave every cached answer as it is:
// the hot paths, which change no token, enabled flag or account (a balance
// they change is read by nobody from the cache: Accept charges from the
// row). Every other update invalidates the cache after its commit, so a
// write added later is safe by default.
var keepsInbound = map[string]bool{
	"accept": true, "accept batch": true, "replay": true, "record attempt": true,
	"mark sending": true, "mark sent": true, "retry": true, "mark failed": true, "hold": true,
	"apply delivery": true, "finish attempt": true, "record delivery": true, "retry delivery": true,
	"record token use": true, "record customer message": true, "create session": true, "delete session": true,
}
