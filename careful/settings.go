package careful

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate"
)

// Bounds of the settings: wide enough for any real use, narrow enough that
// a typo (a daily limit of 2000000, a growth of 130) is caught.
const (
	MaxDailyLimit   = 100000
	MaxGrowth       = 10.0
	MaxSendInterval = 24 * time.Hour
)

// ParseQuietHours reads "HH:MM-HH:MM" (24-hour clock, may wrap midnight,
// e.g. "21:00-08:00"); "" is none. Errors are EINVALID naming quiet_hours
// and the form to write.
func ParseQuietHours(s string) (wagate.QuietHours, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return wagate.QuietHours{}, nil
	}
	from, to, ok := strings.Cut(s, "-")
	bad := func(why string) error {
		return wagate.Errorf(wagate.EINVALID, "quiet_hours %q %s; write HH:MM-HH:MM on a 24-hour clock, e.g. \"21:00-08:00\" (it may wrap midnight), or \"\" for none", s, why)
	}
	if !ok {
		return wagate.QuietHours{}, bad("has no \"-\" between its start and end")
	}
	f, okf := clock(strings.TrimSpace(from))
	t, okt := clock(strings.TrimSpace(to))
	if !okf || !okt {
		return wagate.QuietHours{}, bad("is not two times of day")
	}
	if f == t {
		return wagate.QuietHours{}, bad("starts and ends at the same minute")
	}
	return wagate.QuietHours{Set: true, From: f, To: t}, nil
}

// clock reads "HH:MM" (or "H:MM") as minutes after midnight.
func clock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, false
	}
	return hh*60 + mm, true
}

// FormatQuietHours writes q as ParseQuietHours reads it; "" for none.
func FormatQuietHours(q wagate.QuietHours) string {
	if !q.Set {
		return ""
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", q.From/60, q.From%60, q.To/60, q.To%60)
}

// Validate checks rules as an owner set them. Each error is EINVALID and
// names the field (as the API spells it) and the fix.
func Validate(r wagate.SendRules) error {
	switch {
	case r.DailyLimit < 0 || r.DailyLimit > MaxDailyLimit:
		return wagate.Errorf(wagate.EINVALID, "daily_limit %d is out of range; give 1 to %d sends per 24 h, or 0 for no limit", r.DailyLimit, MaxDailyLimit)
	case r.Warmup.Start < 0:
		return wagate.Errorf(wagate.EINVALID, "warmup.start %d is negative; give the sends of the first day (e.g. 20), or 0 for no warm-up", r.Warmup.Start)
	case r.Warmup.Start > 0 && r.DailyLimit == 0:
		return wagate.Errorf(wagate.EINVALID, "warmup needs daily_limit, the ceiling it grows to; set daily_limit (e.g. 200) too, or warmup.start 0")
	case r.Warmup.Start > r.DailyLimit:
		return wagate.Errorf(wagate.EINVALID, "warmup.start %d is above daily_limit %d; start lower than the limit it grows to", r.Warmup.Start, r.DailyLimit)
	case r.Warmup.Start > 0 && (r.Warmup.Growth < 1 || r.Warmup.Growth > MaxGrowth):
		return wagate.Errorf(wagate.EINVALID, "warmup.growth %g is out of range; give the daily factor from 1 to %g (1.3 = +30 %% a day)", r.Warmup.Growth, MaxGrowth)
	case r.Warmup.Start == 0 && r.Warmup.Growth != 0:
		return wagate.Errorf(wagate.EINVALID, "warmup.growth is set without warmup.start; give warmup.start (the sends of the first day, e.g. 20) too")
	case r.QuietHours.Set && (r.QuietHours.From < 0 || r.QuietHours.From >= 24*60 || r.QuietHours.To < 0 || r.QuietHours.To >= 24*60 || r.QuietHours.From == r.QuietHours.To):
		return wagate.Errorf(wagate.EINVALID, "quiet_hours is not a span of the day; write HH:MM-HH:MM, e.g. \"21:00-08:00\"")
	case r.SendInterval < 0 || r.SendInterval > MaxSendInterval:
		return wagate.Errorf(wagate.EINVALID, "send_interval %s is out of range; give a Go duration from 1s to 24h (e.g. \"5s\"), or \"0s\" for the server's pace", r.SendInterval)
	case r.SendJitter < 0:
		return wagate.Errorf(wagate.EINVALID, "send_jitter %s is negative; give a Go duration such as \"1s\"", r.SendJitter)
	case r.SendJitter > 0 && r.SendInterval == 0:
		return wagate.Errorf(wagate.EINVALID, "send_jitter needs send_interval; set send_interval (e.g. \"5s\") too, or send_jitter \"0s\"")
	case r.SendJitter > r.SendInterval:
		return wagate.Errorf(wagate.EINVALID, "send_jitter %s is above send_interval %s; the jitter must not exceed the interval", r.SendJitter, r.SendInterval)
	}
	if r.TimeZone != "" {
		if _, err := Zone(r.TimeZone); err != nil {
			return err
		}
	}
	return nil
}

// ParseDuration reads a send_interval or send_jitter as a Go duration
// string ("5s", "1m30s", "500ms"). field names it in the error.
func ParseDuration(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, wagate.Errorf(wagate.EINVALID, "%s %q is not a duration; write a Go duration such as \"5s\", \"1m30s\" or \"500ms\"", field, s)
	}
	return d, nil
}
