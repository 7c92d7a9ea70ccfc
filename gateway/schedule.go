package gateway

import (
	"strings"
	"time"

	"github.com/wagate/wagate"
)

// parseSendAt reads an inbound request's send_at (SPEC §2): RFC 3339, at
// most wagate.MaxScheduleAhead after now. "" and a time not after now give
// zero: the message goes at once, as a late scheduler means it to.
func parseSendAt(raw string, now time.Time) (time.Time, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, wagate.Errorf(wagate.EINVALID, `field "send_at" %q is not an RFC 3339 time; write a date, time and zone such as "2026-12-05T09:00:00+01:00" or "2026-12-05T08:00:00Z"`, cut(raw, 60))
	}
	if !t.After(now) {
		return time.Time{}, nil
	}
	if t.Sub(now) > wagate.MaxScheduleAhead {
		return time.Time{}, wagate.Errorf(wagate.EINVALID, `field "send_at" %s is more than 30 days ahead; schedule it at most 30 days from now (until %s), or send it later`, t.UTC().Format(time.RFC3339), now.Add(wagate.MaxScheduleAhead).UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}
