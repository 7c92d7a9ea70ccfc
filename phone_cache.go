package wagate

import (
	"errors"
	"hash/maphash"
	"sync"
)

// The NormalizePhone cache.
//
// libphonenumber takes ~10 µs and ~80 allocations per number, about a
// quarter of wagate's CPU per inbound request, and the inputs repeat: the
// whatsapp_account_phone of a workspace is the same on every request, and
// recipients recur. The cache keeps the answer (E.164 result or error) per
// (raw input, check mode). It is bounded: each shard is cleared when it is
// full, so a flood of distinct numbers costs at most phoneCacheSize entries
// and never evicts more than one shard's worth at a time. Answers are pure
// functions of the key, so a cached answer is the one NormalizePhone would
// compute.

const (
	// phoneCacheSize bounds the entries over all shards.
	phoneCacheSize = 10_000
	// phoneCacheShards spreads the locks, so concurrent requests rarely
	// wait on each other.
	phoneCacheShards = 16
	// phoneCacheMaxInput is the longest raw input cached: a longer one is
	// not a phone number people send, and it would make an entry (which
	// holds the input and an error quoting it) large.
	phoneCacheMaxInput = 64
)

// phoneCache is the process-wide cache NormalizePhone uses.
var phoneCache = newPhoneResultCache()

type phoneKey struct {
	raw   string
	check PhoneCheck
}

// phoneEntry is a cached answer. An error is kept as its code and message,
// and result returns a fresh *Error each time, so no caller can change
// another's error.
type phoneEntry struct {
	e164 string
	code string // "" when the number is valid
	msg  string
}

func (e phoneEntry) result() (string, error) {
	if e.code != "" {
		return "", &Error{Code: e.code, Message: e.msg}
	}
	return e.e164, nil
}

type phoneShard struct {
	mu sync.RWMutex
	m  map[phoneKey]phoneEntry
}

type phoneResultCache struct {
	seed   maphash.Seed
	shards [phoneCacheShards]phoneShard
}

func newPhoneResultCache() *phoneResultCache {
	c := &phoneResultCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[phoneKey]phoneEntry)
	}
	return c
}

func (c *phoneResultCache) shard(raw string) *phoneShard {
	return &c.shards[maphash.String(c.seed, raw)%phoneCacheShards]
}

// get returns the cached answer for (raw, check).
func (c *phoneResultCache) get(raw string, check PhoneCheck) (phoneEntry, bool) {
	if len(raw) > phoneCacheMaxInput {
		return phoneEntry{}, false
	}
	s := c.shard(raw)
	s.mu.RLock()
	e, ok := s.m[phoneKey{raw, check}]
	s.mu.RUnlock()
	return e, ok
}

// put remembers an answer. Only *Error answers are cached (NormalizePhone
// returns no other kind); anything else is left to be recomputed.
func (c *phoneResultCache) put(raw string, check PhoneCheck, e164 string, err error) {
	if len(raw) > phoneCacheMaxInput {
		return
	}
	e := phoneEntry{e164: e164}
	if err != nil {
		var we *Error
		if !errors.As(err, &we) || we.Code == "" {
			return
		}
		e = phoneEntry{code: we.Code, msg: we.Message}
	}
	s := c.shard(raw)
	s.mu.Lock()
	if len(s.m) >= phoneCacheSize/phoneCacheShards {
		clear(s.m)
	}
	s.m[phoneKey{raw, check}] = e
	s.mu.Unlock()
}

// reset empties the cache (tests).
func (c *phoneResultCache) reset() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}
