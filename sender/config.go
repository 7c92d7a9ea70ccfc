package sender

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// This file holds the Sender's Config: its knobs, their defaults, and
// the internal limits the other files share.

// Defaults of Config, the pace SPEC §2 gives: 2 s ± 0.5 s between two sends
// of one account.
const (
	DefaultInterval    = 2 * time.Second
	DefaultJitter      = 500 * time.Millisecond
	DefaultSendTimeout = 2 * time.Minute
	// DefaultUnavailableWait bounds how long an account waits for its
	// transport to report it ready (see Unavailable): a backstop, since a
	// session transport wakes the account itself. Long, because each
	// backstop that finds the account still down records one more
	// deferred try on its first message.
	DefaultUnavailableWait = 5 * time.Minute
)

// Defaults of the attachment downloads (see prefetch.go).
const (
	// DefaultPrefetchAhead: the files of an account's next 2 messages
	// download while it waits for its turn.
	DefaultPrefetchAhead = 2
	// DefaultMaxFileBytes is SPEC §1's limit of a file_url download, what a
	// download reserves in the budgets until its real size is known.
	DefaultMaxFileBytes = 2 << 20
	// DefaultFileBytesPerAccount bounds the files one account holds in
	// advance: two downloads at the limit.
	DefaultFileBytesPerAccount = 4 << 20
	// DefaultFileBytes bounds the files held in memory by all accounts.
	DefaultFileBytes = 64 << 20
	// DefaultFetchConcurrency bounds the downloads running at once.
	DefaultFetchConcurrency = 8
	// DefaultFetchConcurrencyPerWorkspace bounds the downloads of one
	// workspace running at once, so that a slow file host delays only the
	// workspace that chose it (SPEC §2).
	DefaultFetchConcurrencyPerWorkspace = 2
	// DefaultFetchTimeout bounds one download, a safety net over the
	// fetcher's own timeouts.
	DefaultFetchTimeout = 2 * time.Minute
)

// Storage retry pacing: a failing store is asked again after backoffMin,
// doubling up to backoffMax, so an outage neither spins a CPU nor leaves the
// queues stalled long after it ends.
const (
	backoffMin = 500 * time.Millisecond
	backoffMax = 30 * time.Second
	// finishTimeout bounds one write of a send's outcome. The write runs on a
	// context that shutdown does not cancel, so this is what stops it.
	finishTimeout = 30 * time.Second
	// maxLead bounds how early before its turn a send starts its storage
	// work (see Sender.lead): the time a message may sit in sending before
	// its transport is called, on top of the send itself.
	maxLead = 250 * time.Millisecond
	// herdBurst accounts resumed at Run send at once; the others are spread
	// at herdRate a second, over one Interval at most (see herdDelay). The
	// burst is small because accounts that send together stay together
	// when the jitter is small: with a burst of 1,000 and no jitter, 1,000
	// sends fell due at the same instant every interval, and their tail
	// came up to 80 ms late.
	herdBurst = 100
	herdRate  = 5000
)

// Config tunes a Sender. The zero value is usable: every zero field takes its
// default.
type Config struct {
	// Interval is the mean pause between the starts of two sends of one
	// account. 0 means DefaultInterval; a negative value means no pause at
	// all (benchmarks, tests).
	Interval time.Duration
	// Jitter spreads the pause: each gap is drawn uniform in
	// [Interval-Jitter, Interval+Jitter], so the sends of an account do not
	// tick like a machine. 0 means DefaultJitter; a negative value means no
	// jitter (a fixed gap of Interval). It is capped at Interval, so a gap is
	// never negative.
	Jitter time.Duration
	// SendTimeout bounds one Transport.Send. It is generous because shutdown
	// does not cut a send short: this is what does. 0 means
	// DefaultSendTimeout.
	SendTimeout time.Duration
	// Rand draws the gaps and the jitter of retry delays; the Sender owns
	// it from New on (a rand.Rand is not safe for concurrent use). nil
	// means a generator seeded at random; the seed is logged, so a run can
	// be replayed with rand.New(rand.NewPCG(seed, seed)).
	Rand *rand.Rand
	// Logger receives one line per send and the storage errors. nil means
	// zap.NewNop().
	Logger *zap.Logger
	// Registerer, when set, gets the sender's metrics (wagate_sender_*).
	// New panics if they are registered there already, as MustRegister does.
	Registerer prometheus.Registerer

	// RetryDelays is the pause before each retry of a message whose try
	// failed with a transient error: the first retry waits RetryDelays[0]
	// ± 20 %, and so on; after len(RetryDelays) retries the message fails.
	// nil means SPEC §2's 5 s, 30 s, 2 min, 10 min, 30 min.
	RetryDelays []time.Duration

	// Fetcher downloads the file_url of messages that have one. nil means
	// such messages fail (permanently, refunded) with "no file fetcher
	// configured".
	Fetcher Fetcher
	// PrefetchAhead is how many of an account's next messages (counting
	// the one whose turn comes next) get their files downloaded while the
	// account waits for its turn. 0 means DefaultPrefetchAhead; a negative
	// value means none: every file downloads at its message's turn.
	PrefetchAhead int
	// MaxFileBytes is the largest file a download may bring; what a
	// download reserves in the caps below until its size is known. A
	// larger file fails its message. 0 means DefaultMaxFileBytes.
	MaxFileBytes int64
	// FileBytesPerAccount caps the files one account holds ahead of their
	// turn (the file being sent comes on top). 0 means
	// DefaultFileBytesPerAccount.
	FileBytesPerAccount int64
	// FileBytes caps the files held in memory by all accounts together;
	// at least MaxFileBytes. 0 means DefaultFileBytes.
	FileBytes int64
	// FetchConcurrency caps the downloads running at once. 0 means
	// DefaultFetchConcurrency.
	FetchConcurrency int
	// FetchConcurrencyPerWorkspace caps the downloads of one workspace
	// running at once; at most FetchConcurrency. 0 means
	// DefaultFetchConcurrencyPerWorkspace.
	FetchConcurrencyPerWorkspace int
	// FetchTimeout bounds one download. 0 means DefaultFetchTimeout.
	FetchTimeout time.Duration

	// UnavailableWait is the longest an account waits, sending nothing,
	// after its transport answered Unavailable or after its session was
	// started, when the transport does not report it ready sooner (see
	// SessionHolder). 0 means DefaultUnavailableWait.
	UnavailableWait time.Duration

	// LeaseEvery is how often a replica renews and claims account leases,
	// when the Queue is a Leaser (see lease.go); also the poll behind the
	// wake-ups of other replicas. 0 means DefaultLeaseEvery.
	LeaseEvery time.Duration
}

// normalize fills the defaults and keeps the values consistent.
func (c Config) normalize() Config {
	switch {
	case c.Interval == 0:
		c.Interval = DefaultInterval
	case c.Interval < 0:
		c.Interval = 0
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = DefaultJitter
	case c.Jitter < 0:
		c.Jitter = 0
	}
	c.Jitter = min(c.Jitter, c.Interval)
	if c.SendTimeout <= 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.LeaseEvery <= 0 {
		c.LeaseEvery = DefaultLeaseEvery
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.RetryDelays == nil {
		c.RetryDelays = defaultRetryDelays
	}
	c.RetryDelays = slices.Clone(c.RetryDelays) // the caller's slice may change
	switch {
	case c.PrefetchAhead == 0:
		c.PrefetchAhead = DefaultPrefetchAhead
	case c.PrefetchAhead < 0:
		c.PrefetchAhead = 0
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.FileBytesPerAccount <= 0 {
		c.FileBytesPerAccount = DefaultFileBytesPerAccount
	}
	if c.FileBytes <= 0 {
		c.FileBytes = DefaultFileBytes
	}
	// One file must always fit, or a download just in time would wait
	// forever.
	c.FileBytes = max(c.FileBytes, c.MaxFileBytes)
	if c.FetchConcurrency <= 0 {
		c.FetchConcurrency = DefaultFetchConcurrency
	}
	if c.FetchConcurrencyPerWorkspace <= 0 {
		c.FetchConcurrencyPerWorkspace = DefaultFetchConcurrencyPerWorkspace
	}
	c.FetchConcurrencyPerWorkspace = min(c.FetchConcurrencyPerWorkspace, c.FetchConcurrency)
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.UnavailableWait <= 0 {
		c.UnavailableWait = DefaultUnavailableWait
	}
	return c
}
