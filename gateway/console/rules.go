package console

import (
	"fmt"
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
