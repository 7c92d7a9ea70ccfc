//go:build !nowhatsapp

package whatsapp

import (
	"sync"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate"
)

// recipientCache remembers WhatsApp's answer to "is this number on
// WhatsApp" per account, for ttl: asking before every message would cost a
// query per send, and asking often about many numbers is what WhatsApp
// watches for.
type recipientCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[recipientKey]recipientEntry
}

type recipientKey struct {
	acct   wagate.AccountRef
	digits string
}

type recipientEntry struct {
	on  bool
	jid types.JID
	at  time.Time
}

// recipientSweepAt is the cache size at which expired entries are dropped.
const recipientSweepAt = 50_000

func newRecipientCache(ttl time.Duration) *recipientCache {
	return &recipientCache{ttl: ttl, m: map[recipientKey]recipientEntry{}}
}

func (c *recipientCache) get(acct wagate.AccountRef, digits string, now time.Time) (recipientEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[recipientKey{acct, digits}]
	if !ok || now.Sub(e.at) >= c.ttl {
		return recipientEntry{}, false
	}
	return e, true
}

func (c *recipientCache) put(acct wagate.AccountRef, digits string, e recipientEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= recipientSweepAt {
		for k, v := range c.m {
			if e.at.Sub(v.at) >= c.ttl {
				delete(c.m, k)
			}
		}
	}
	c.m[recipientKey{acct, digits}] = e
}
