package wagate

import "time"

// WaitingCount is the rule of WaitingReporter's counts, one copy for every
// backend: a backend reads the queued messages of a workspace and tells
// each one here, and the count says why it waits, as Next sees it. A
// scheduled message waits for its send_at (WaitingScheduled). A placed
// one, told in its account's queue order, waits
//
//   - behind an earlier message to its recipient that waits (WaitingBehind),
//     when its own time has come: one recipient never gets its messages out
//     of order;
//   - for the careful-sending rule that holds it, by its waiting reason
//     (WaitingDailyLimit, WaitingQuietHours);
//   - for its own retry, while NextTryAt is ahead (WaitingRetry);
//
// and otherwise for nothing but its turn, which is counted in no reason.
// A message whose retry or hold is ahead blocks the later ones to its
// recipient.
type WaitingCount struct {
	now     time.Time
	counts  map[string]map[string]int
	phone   string          // the account whose queue is being told
	blocked map[string]bool // its recipients with a waiting message
}

// NewWaitingCount starts a count of the messages as they wait at now.
func NewWaitingCount(now time.Time) *WaitingCount {
	return &WaitingCount{now: now, counts: map[string]map[string]int{}}
}

// Scheduled counts n scheduled messages of the account phone: they are
// not in its queue yet, so they block no one.
func (c *WaitingCount) Scheduled(phone string, n int) {
	if n > 0 {
		c.add(phone, WaitingScheduled, n)
	}
}

// Placed counts one message in the queue of the account phone, to jid,
// held for reason ("" when no rule holds it) until nextTryAt (zero when
// no retry or hold is set). The messages of an account come one after
// another, in queue order; the next account starts afresh.
func (c *WaitingCount) Placed(phone, jid, reason string, nextTryAt time.Time) {
	if phone != c.phone || c.blocked == nil {
		c.phone, c.blocked = phone, map[string]bool{}
	}
	waits := nextTryAt.After(c.now)
	switch {
	case c.blocked[jid] && !waits:
		c.add(phone, WaitingBehind, 1)
	case reason != "":
		c.blocked[jid] = c.blocked[jid] || waits
		c.add(phone, reason, 1)
	case waits:
		c.blocked[jid] = true
		c.add(phone, WaitingRetry, 1)
	}
}

// Counts returns the counts by account phone, then by reason; an account
// with no waiting message is absent.
func (c *WaitingCount) Counts() map[string]map[string]int { return c.counts }

func (c *WaitingCount) add(phone, reason string, n int) {
	if c.counts[phone] == nil {
		c.counts[phone] = map[string]int{}
	}
	c.counts[phone][reason] += n
}
