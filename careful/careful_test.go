package careful_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/careful"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func quiet(s string) wagate.QuietHours {
	q, err := careful.ParseQuietHours(s)
	if err != nil {
		panic(err)
	}
	return q
}

func TestAllowanceWarmup(t *testing.T) {
	r := wagate.SendRules{DailyLimit: 200, Warmup: wagate.Warmup{Start: 20, Growth: 1.3}}
	first := at("2026-03-01T09:00:00Z")
	for _, tc := range []struct {
		now  time.Time
		want int
	}{
		{first.Add(-time.Hour), 20}, // before the first send: day 0
		{first, 20},                 // day 0
		{first.Add(23*time.Hour + 59*time.Minute), 20},
		{first.Add(24 * time.Hour), 26},      // day 1: 20 × 1.3
		{first.Add(48 * time.Hour), 33},      // day 2: 33.8, whole sends only
		{first.Add(72 * time.Hour), 43},      // day 3: 43.94
		{first.Add(9 * 24 * time.Hour), 200}, // 20 × 1.3⁹ = 212: capped by daily_limit
		{first.Add(400 * 24 * time.Hour), 200},
	} {
		if got := careful.Allowance(r, first, tc.now); got != tc.want {
			t.Errorf("Allowance at %s: %d sends, want %d", tc.now.Format(time.RFC3339), got, tc.want)
		}
	}
	if got := careful.Allowance(r, time.Time{}, first); got != 20 {
		t.Errorf("Allowance of a number that never sent: %d, want warmup.start 20", got)
	}
	if got := careful.Allowance(wagate.SendRules{DailyLimit: 5}, first, first); got != 5 {
		t.Errorf("Allowance without warm-up: %d, want daily_limit 5", got)
	}
}

func TestDailyLimit(t *testing.T) {
	day := func(s string) time.Time { return at("2026-03-10T" + s + "Z") }
	three := []time.Time{day("10:00:00"), day("11:00:00"), day("12:00:00")}
	first := at("2026-01-01T00:00:00Z")
	for _, tc := range []struct {
		name  string
		rules wagate.SendRules
		h     careful.History
		now   time.Time
		until time.Time // zero: may send
	}{
		{"no limit", wagate.SendRules{}, careful.History{Sends: three}, day("13:00:00"), time.Time{}},
		{"under the limit", wagate.SendRules{DailyLimit: 4}, careful.History{Sends: three, FirstSend: first}, day("13:00:00"), time.Time{}},
		{"at the limit: until the oldest send leaves the 24 h", wagate.SendRules{DailyLimit: 3}, careful.History{Sends: three, FirstSend: first}, day("13:00:00"),
			at("2026-03-11T10:00:00Z")},
		{"the oldest send has left the window", wagate.SendRules{DailyLimit: 3}, careful.History{Sends: three, FirstSend: first}, at("2026-03-11T10:00:00Z"), time.Time{}},
		{"sends older than 24 h do not count", wagate.SendRules{DailyLimit: 3}, careful.History{Sends: append([]time.Time{at("2026-03-09T12:00:00Z")}, three[:2]...), FirstSend: first}, day("13:00:00"), time.Time{}},
		{"lowered below what was sent: until enough have left", wagate.SendRules{DailyLimit: 2}, careful.History{Sends: three, FirstSend: first}, day("13:00:00"),
			at("2026-03-11T11:00:00Z")},
		{"warm-up: the next day's allowance comes first", wagate.SendRules{DailyLimit: 200, Warmup: wagate.Warmup{Start: 3, Growth: 2}},
			careful.History{Sends: three, FirstSend: day("10:00:00").Add(-20 * time.Hour)}, day("13:00:00"), day("14:00:00")},
		{"warm-up: first day of a number that never sent", wagate.SendRules{DailyLimit: 200, Warmup: wagate.Warmup{Start: 3, Growth: 2}},
			careful.History{Sends: three}, day("13:00:00"), at("2026-03-11T10:00:00Z")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := careful.DailyLimit(tc.rules, tc.h, tc.now)
			if tc.until.IsZero() {
				if h.Holds() {
					t.Fatalf("held (%s until %s), want send now", h.Reason, h.Until)
				}
				return
			}
			if h.Reason != wagate.WaitingDailyLimit {
				t.Fatalf("reason %q, want %q", h.Reason, wagate.WaitingDailyLimit)
			}
			if !h.Until.Equal(tc.until) {
				t.Fatalf("until %s, want %s", h.Until.Format(time.RFC3339), tc.until.Format(time.RFC3339))
			}
		})
	}
}

func TestQuietHours(t *testing.T) {
	ny := careful.RecipientZones("12125550100@s.whatsapp.net", "")
	sd := careful.RecipientZones("16055550100@s.whatsapp.net", "") // South Dakota: Mountain and Central time
	group := careful.RecipientZones("120363041234567890@g.us", "Asia/Tokyo")
	night := quiet("21:00-08:00")
	for _, tc := range []struct {
		name  string
		q     wagate.QuietHours
		zones []*time.Location
		now   time.Time
		until time.Time // zero: not quiet
	}{
		{"none set", wagate.QuietHours{}, ny, at("2026-01-10T07:00:00Z"), time.Time{}},
		{"New York afternoon", night, ny, at("2026-01-10T18:00:00Z"), time.Time{}},
		{"New York 21:00 EST starts the quiet", night, ny, at("2026-01-11T02:00:00Z"), at("2026-01-11T13:00:00Z")},
		{"New York 07:59 EST", night, ny, at("2026-01-10T12:59:00Z"), at("2026-01-10T13:00:00Z")},
		{"New York 08:00 EST ends it", night, ny, at("2026-01-10T13:00:00Z"), time.Time{}},
		// 2026-03-08: clocks go from 02:00 EST to 03:00 EDT; the quiet
		// ends at 08:00 EDT = 12:00Z, one hour earlier in UTC than the day before.
		{"New York night of the spring change", night, ny, at("2026-03-08T06:00:00Z"), at("2026-03-08T12:00:00Z")},
		{"New York evening before the spring change", night, ny, at("2026-03-08T02:30:00Z"), at("2026-03-08T12:00:00Z")},
		// 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST; 08:00 EST = 13:00Z.
		{"New York night of the autumn change", night, ny, at("2026-11-01T05:30:00Z"), at("2026-11-01T13:00:00Z")},
		{"New York the repeated 01:30", night, ny, at("2026-11-01T06:30:00Z"), at("2026-11-01T13:00:00Z")},
		{"New York after the autumn change, 07:30 EST", night, ny, at("2026-11-01T12:30:00Z"), at("2026-11-01T13:00:00Z")},
		{"daytime quiet hours", quiet("12:00-13:30"), ny, at("2026-07-01T16:15:00Z"), at("2026-07-01T17:30:00Z")},
		// South Dakota, January: 07:30 CST = 06:30 MST; quiet in both until 08:00 MST.
		{"several zones: quiet until the last one wakes", night, sd, at("2026-01-10T13:30:00Z"), at("2026-01-10T15:00:00Z")},
		{"several zones: 08:30 CST is still 07:30 MST", night, sd, at("2026-01-10T14:30:00Z"), at("2026-01-10T15:00:00Z")},
		{"several zones: 21:30 CST is 20:30 MST, quiet in one is quiet", night, sd, at("2026-01-10T03:30:00Z"), at("2026-01-10T15:00:00Z")},
		{"several zones: noon in both", night, sd, at("2026-01-10T18:00:00Z"), time.Time{}},
		{"a group uses the account's zone", night, group, at("2026-01-10T13:00:00Z"), at("2026-01-10T23:00:00Z")}, // 22:00 in Tokyo
		{"a group by day in the account's zone", night, group, at("2026-01-10T03:00:00Z"), time.Time{}},           // 12:00 in Tokyo
		{"no zones is UTC", night, nil, at("2026-01-10T22:00:00Z"), at("2026-01-11T08:00:00Z")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := careful.Quiet(tc.q, tc.zones, tc.now)
			if tc.until.IsZero() {
				if h.Holds() {
					t.Fatalf("held until %s, want send now", h.Until.Format(time.RFC3339))
				}
				return
			}
			if h.Reason != wagate.WaitingQuietHours {
				t.Fatalf("reason %q, want %q", h.Reason, wagate.WaitingQuietHours)
			}
			if !h.Until.Equal(tc.until) {
				t.Fatalf("until %s, want %s", h.Until.UTC().Format(time.RFC3339), tc.until.Format(time.RFC3339))
			}
		})
	}
}

// TestQuietEndsInTheSpringGap: quiet hours that end at a time the spring
// change skips (02:30 on 2026-03-08 in New York) still end, and then it is
// not quiet.
func TestQuietEndsInTheSpringGap(t *testing.T) {
	ny := careful.RecipientZones("12125550100@s.whatsapp.net", "")
	q := quiet("22:00-02:30")
	now := at("2026-03-08T04:00:00Z") // 23:00 EST
	h := careful.Quiet(q, ny, now)
	// The change is at 07:00Z: 02:00 EST becomes 03:00 EDT, past 02:30.
	if !h.Holds() || !h.Until.Equal(at("2026-03-08T07:00:00Z")) {
		t.Fatalf("hold %+v, want one ending within the night", h)
	}
	if again := careful.Quiet(q, ny, h.Until); again.Holds() {
		t.Fatalf("still quiet at the end of the quiet hours, %s local", h.Until.In(ny[0]).Format(time.Kitchen))
	}
}

func TestDecideDailyLimitFirst(t *testing.T) {
	r := wagate.SendRules{DailyLimit: 1, QuietHours: quiet("21:00-08:00")}
	ny := careful.RecipientZones("12125550100@s.whatsapp.net", "")
	now := at("2026-01-10T18:00:00Z")
	h := careful.Decide(r, careful.History{Sends: []time.Time{now.Add(-time.Hour)}}, ny, now)
	if h.Reason != wagate.WaitingDailyLimit {
		t.Fatalf("reason %q, want daily_limit", h.Reason)
	}
	h = careful.Decide(r, careful.History{}, ny, at("2026-01-11T03:00:00Z"))
	if h.Reason != wagate.WaitingQuietHours {
		t.Fatalf("reason %q, want quiet_hours", h.Reason)
	}
	if h = careful.Decide(r, careful.History{}, ny, now); h.Holds() {
		t.Fatalf("held %+v, want send now", h)
	}
}

func TestParseQuietHours(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // FormatQuietHours of the result, or "error"
	}{
		{"21:00-08:00", "21:00-08:00"},
		{" 9:05 - 17:30 ", "09:05-17:30"},
		{"", ""},
		{"21:00", "error"},
		{"25:00-08:00", "error"},
		{"21:00-08:60", "error"},
		{"21-08", "error"},
		{"08:00-08:00", "error"},
	} {
		q, err := careful.ParseQuietHours(tc.in)
		if tc.want == "error" {
			if err == nil || !strings.Contains(err.Error(), "quiet_hours") || !strings.Contains(err.Error(), "HH:MM-HH:MM") {
				t.Errorf("ParseQuietHours(%q) = %v, want an error naming quiet_hours and the form", tc.in, err)
			}
			continue
		}
		if err != nil || careful.FormatQuietHours(q) != tc.want {
			t.Errorf("ParseQuietHours(%q) = %q, %v; want %q", tc.in, careful.FormatQuietHours(q), err, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := wagate.SendRules{DailyLimit: 200, Warmup: wagate.Warmup{Start: 20, Growth: 1.3}, QuietHours: quiet("21:00-08:00"),
		TimeZone: "Europe/Berlin", SendInterval: 5 * time.Second, SendJitter: time.Second}
	if err := careful.Validate(ok); err != nil {
		t.Fatalf("Validate(the issue's example) = %v", err)
	}
	if err := careful.Validate(wagate.SendRules{}); err != nil {
		t.Fatalf("Validate(no rules) = %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*wagate.SendRules)
		field string
		fix   string
	}{
		{"negative limit", func(r *wagate.SendRules) { r.DailyLimit = -1 }, "daily_limit", "0 for no limit"},
		{"warm-up without a limit", func(r *wagate.SendRules) { r.DailyLimit = 0 }, "warmup needs daily_limit", "set daily_limit"},
		{"start above the limit", func(r *wagate.SendRules) { r.Warmup.Start = 300 }, "warmup.start", "start lower"},
		{"shrinking growth", func(r *wagate.SendRules) { r.Warmup.Growth = 0.5 }, "warmup.growth", "1.3 = +30 %"},
		{"growth without start", func(r *wagate.SendRules) { r.Warmup = wagate.Warmup{Growth: 1.3} }, "warmup.growth", "warmup.start"},
		{"unknown zone", func(r *wagate.SendRules) { r.TimeZone = "Mars/Olympus" }, "time_zone", "Europe/Berlin"},
		{"jitter above interval", func(r *wagate.SendRules) { r.SendJitter = 10 * time.Second }, "send_jitter", "must not exceed"},
		{"jitter alone", func(r *wagate.SendRules) { r.SendInterval = 0 }, "send_jitter", "send_interval"},
		{"negative interval", func(r *wagate.SendRules) { r.SendInterval = -time.Second }, "send_interval", "Go duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			err := careful.Validate(r)
			if wagate.ErrorCode(err) != wagate.EINVALID {
				t.Fatalf("Validate = %v, want EINVALID", err)
			}
			if msg := wagate.ErrorMessage(err); !strings.Contains(msg, tc.field) || !strings.Contains(msg, tc.fix) {
				t.Fatalf("message %q, want it to name %q and the fix %q", msg, tc.field, tc.fix)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	if d, err := careful.ParseDuration("send_interval", "1m30s"); err != nil || d != 90*time.Second {
		t.Fatalf("ParseDuration(1m30s) = %v, %v", d, err)
	}
	_, err := careful.ParseDuration("send_interval", "5")
	if msg := wagate.ErrorMessage(err); !strings.Contains(msg, "send_interval") || !strings.Contains(msg, `"5s"`) {
		t.Fatalf("ParseDuration(5) message %q, want it to name send_interval and show \"5s\"", msg)
	}
}
