package wagate

import (
	"context"
	"time"
)

// SendRules are an account's careful-sending rules (SPEC §2), set by its
// owner. The zero value sets none: the account sends at the server's pace,
// at any hour, as many messages as it is given. They exist because a number
// linked by QR code is banned for volume spikes, for sending too much too
// soon after it was linked, and for messages in the middle of the night.
// careful/ holds the decisions made from them; they are plain data here so
// every package can carry them.
type SendRules struct {
	// DailyLimit is the most sends in any rolling 24 h; 0: no limit.
	DailyLimit int
	// Warmup makes a new number start lower and grow to DailyLimit.
	Warmup Warmup
	// QuietHours is when no message goes to a recipient, in the
	// recipient's local time; the zero value: never quiet.
	QuietHours QuietHours
	// TimeZone is the IANA zone ("Europe/Berlin") of quiet hours for
	// recipients without a phone number's zone (groups, @lid); "" is UTC.
	TimeZone string
	// SendInterval and SendJitter replace the server's pace for this
	// account when SendInterval is not 0.
	SendInterval time.Duration
	SendJitter   time.Duration
}

// IsZero reports whether no rule is set.
func (r SendRules) IsZero() bool { return r == SendRules{} }

// Warmup grows a new number's daily allowance: Start sends on the day of
// its first send, times Growth each further day, up to DailyLimit. Start 0:
// no warm-up.
type Warmup struct {
	Start  int
	Growth float64 // 1.3 = +30 % a day; at least 1
}

// QuietHours is a daily span of local time, From inclusive to To
// exclusive, in minutes after midnight; it wraps midnight when From > To
// ("21:00-08:00"). Set is false for none.
type QuietHours struct {
	Set      bool
	From, To int
}

// Why a queued message waits (Message.WaitingReason).
const (
	WaitingDailyLimit = "daily_limit" // the account has sent its allowance of the last 24 h
	WaitingQuietHours = "quiet_hours" // it is night where the recipient is
	WaitingScheduled  = "scheduled"   // the message's send_at has not come
)

// MaxScheduleAhead is how far ahead send_at may be (SPEC §2).
const MaxScheduleAhead = 30 * 24 * time.Hour

// More reasons a queued message waits, in WaitingReporter's counts only: a
// message shows them by its NextTryAt and WaitingFor, not a waiting_reason.
const (
	WaitingRetry  = "retry"  // its own retry is not due yet
	WaitingBehind = "behind" // an earlier message to its recipient waits (a retry, quiet hours)
)

// WaitingReporter counts the queued messages of each account of a
// workspace by why they wait (Waiting… reasons; a message waiting for
// nothing but its turn is in none), for the console's queue view. It is
// optional: a backend without it shows the queue depths alone.
type WaitingReporter interface {
	// WaitingByAccount returns counts by account phone, then by reason.
	// complete is false when the workspace has more queued messages than
	// one look reads; the counts are then of the oldest ones.
	WaitingByAccount(ctx context.Context, workspaceID string) (counts map[string]map[string]int, complete bool, err error)
}
