package console

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/careful"
)

// RulesText says an account's careful-sending rules (SPEC §2) in a line,
// for the accounts page; they are set with PATCH …/accounts/{phone} or
// `wagate account set`.
func (r accountRow) RulesText() string {
	q := r.Rules
	var parts []string
	if q.DailyLimit > 0 {
		parts = append(parts, fmt.Sprintf("%d a day", q.DailyLimit))
	}
	if q.Warmup.Start > 0 {
		parts = append(parts, fmt.Sprintf("warm-up from %d, ×%g a day", q.Warmup.Start, q.Warmup.Growth))
	}
	if q.QuietHours.Set {
		parts = append(parts, "quiet "+careful.FormatQuietHours(q.QuietHours))
	}
	if q.TimeZone != "" {
		parts = append(parts, "groups in "+q.TimeZone)
	}
	if q.SendInterval > 0 {
		parts = append(parts, fmt.Sprintf("every %s ± %s", q.SendInterval, q.SendJitter))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " · ")
}

// waitingText explains a message's waiting_reason.
func waitingText(reason string) string {
	switch reason {
	case wagate.WaitingScheduled:
		return "scheduled (send_at): it goes at its time"
	case wagate.WaitingDailyLimit:
		return "the account's daily limit: it goes when the last 24 h allow another send"
	case wagate.WaitingQuietHours:
		return "quiet hours where the recipient is: it goes when they end"
	}
	return reason
}

// waitingCount is how many of an account's queued messages wait for one
// reason, for the queue tables.
type waitingCount struct {
	Reason string // wagate.Waiting…
	Label  string
	N      int
}

// waitingLabels name the reasons, in the order the tables show them.
var waitingLabels = []struct{ reason, label string }{
	{wagate.WaitingDailyLimit, "daily limit"},
	{wagate.WaitingQuietHours, "quiet hours"},
	{wagate.WaitingScheduled, "scheduled"},
	{wagate.WaitingRetry, "retry"},
	{wagate.WaitingBehind, "behind a waiting message to the same recipient"},
}

// waitingCounts orders an account's counts by reason; reasons it does not
// know (added by later rules) come last, by name.
func waitingCounts(counts map[string]int) []waitingCount {
	var out []waitingCount
	known := map[string]bool{}
	for _, l := range waitingLabels {
		known[l.reason] = true
		if n := counts[l.reason]; n > 0 {
			out = append(out, waitingCount{Reason: l.reason, Label: l.label, N: n})
		}
	}
	var rest []string
	for reason, n := range counts {
		if !known[reason] && n > 0 {
			rest = append(rest, reason)
		}
	}
	slices.Sort(rest)
	for _, reason := range rest {
		out = append(out, waitingCount{Reason: reason, Label: strings.ReplaceAll(reason, "_", " "), N: counts[reason]})
	}
	return out
}
