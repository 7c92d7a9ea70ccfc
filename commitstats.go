package wagate

import "time"

// CommitStats counts a store's group commits since it was opened: how many
// commits there were, how many writes (accepts, attempts, a send's state
// changes) they carried, and how long the committers spent in them,
// running the writes and making them durable. Functions/Commits is the
// mean batch; Busy over a span of time is how saturated the committers
// were (1 = one committer always busy). It lives in the domain so that
// /metrics reads the same counters from every backend.
type CommitStats struct {
	Commits   uint64
	Functions uint64
	Busy      time.Duration
}

// Minus is the counters' growth since before, for a span of time.
func (s CommitStats) Minus(before CommitStats) CommitStats {
	return CommitStats{Commits: s.Commits - before.Commits, Functions: s.Functions - before.Functions, Busy: s.Busy - before.Busy}
}
