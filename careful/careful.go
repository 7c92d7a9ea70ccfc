// Package careful decides when an account may send, from its careful-sending
// rules (wagate.SendRules, SPEC §2): a daily limit over a rolling 24 h, a
// warm-up from the account's first send, and quiet hours in the recipient's
// local time. The decisions are pure functions of the instant, the account's
// send history and the recipient's time zones: no clock, no I/O, so they are
// tested on tables of instants and any backend or sender can use them.
package careful

import (
	"math"
	"sort"
	"time"

	"github.com/wagate/wagate"
)

// Window is the span the daily limit counts over.
const Window = 24 * time.Hour

// History is what the rules need to know of an account's past sends.
type History struct {
	// Sends are the times of its sends in the Window before now, in any
	// order; older ones are ignored.
	Sends []time.Time
	// FirstSend is the time of the account's first send ever; zero when it
	// has never sent (the warm-up's first day is then today).
	FirstSend time.Time
}

// Hold says whether a message may go now. The zero value: it may.
type Hold struct {
	Reason string    // wagate.WaitingDailyLimit or wagate.WaitingQuietHours; "" to send now
	Until  time.Time // when to ask again
}

// Holds reports whether the message must wait.
func (h Hold) Holds() bool { return h.Reason != "" }

// Decide says whether a message of the account with rules r and history h
// may go to a recipient in zones at now. The daily limit comes first: it
// holds the whole account, while quiet hours hold only this recipient.
func Decide(r wagate.SendRules, h History, zones []*time.Location, now time.Time) Hold {
	if hold := DailyLimit(r, h, now); hold.Holds() {
		return hold
	}
	return Quiet(r.QuietHours, zones, now)
}

// Allowance is how many sends the account may make in the Window ending at
// now: DailyLimit, or less on a warm-up day. 0 when there is no limit.
func Allowance(r wagate.SendRules, firstSend, now time.Time) int {
	if r.DailyLimit <= 0 {
		return 0
	}
	if r.Warmup.Start <= 0 || r.Warmup.Start >= r.DailyLimit {
		return r.DailyLimit
	}
	days := 0
	if !firstSend.IsZero() && now.After(firstSend) {
		days = int(now.Sub(firstSend) / Window)
	}
	growth := max(r.Warmup.Growth, 1)
	// The small epsilon keeps 20 × 1.3² = 33.8000…01 from flooring below
	// what a person computes by hand.
	v := math.Floor(float64(r.Warmup.Start)*math.Pow(growth, float64(days)) + 1e-9)
	if v >= float64(r.DailyLimit) || math.IsInf(v, 0) || math.IsNaN(v) {
		return r.DailyLimit
	}
	return int(v)
}

// DailyLimit holds the account when it has made its allowance of sends in
// the Window before now, until the first instant it may send again: the
// oldest counted send leaves the window, or the warm-up's next day raises
// the allowance, whichever frees a send first.
func DailyLimit(r wagate.SendRules, h History, now time.Time) Hold {
	if r.DailyLimit <= 0 {
		return Hold{}
	}
	sends := recent(h.Sends, now)
	if len(sends) < Allowance(r, h.FirstSend, now) {
		return Hold{}
	}
	// Candidates: each send's expiry, and the next warm-up day.
	cands := make([]time.Time, 0, len(sends)+1)
	for _, s := range sends {
		cands = append(cands, s.Add(Window))
	}
	first := h.FirstSend
	if first.IsZero() {
		first = now
	}
	if r.Warmup.Start > 0 && !now.Before(first) {
		days := now.Sub(first) / Window
		cands = append(cands, first.Add((days+1)*Window))
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Before(cands[j]) })
	for _, c := range cands {
		if c.After(now) && len(recent(sends, c)) < Allowance(r, h.FirstSend, c) {
			return Hold{Reason: wagate.WaitingDailyLimit, Until: c}
		}
	}
	// Unreachable with consistent input (the last expiry empties the
	// window); a day later is a safe answer for any other.
	return Hold{Reason: wagate.WaitingDailyLimit, Until: now.Add(Window)}
}

// recent returns the sends in (now-Window, now].
func recent(sends []time.Time, now time.Time) []time.Time {
	from := now.Add(-Window)
	var out []time.Time
	for _, s := range sends {
		if s.After(from) && !s.After(now) {
			out = append(out, s)
		}
	}
	return out
}

// maxQuietRounds bounds the search for a moment when no zone is quiet: with
// zones far apart and long quiet hours there may be none.
const maxQuietRounds = 8

// Quiet holds a recipient whose local time in any of zones is within q at
// now, until no zone is quiet. No zones counts as UTC.
func Quiet(q wagate.QuietHours, zones []*time.Location, now time.Time) Hold {
	if !q.Set || q.From == q.To {
		return Hold{}
	}
	if len(zones) == 0 {
		zones = []*time.Location{time.UTC}
	}
	t := now
	for range maxQuietRounds {
		next := t
		for _, z := range zones {
			if end, quiet := quietEnd(q, z, t); quiet && end.After(next) {
				next = end
			}
		}
		if !next.After(t) {
			break
		}
		t = next
	}
	if !t.After(now) {
		return Hold{}
	}
	return Hold{Reason: wagate.WaitingQuietHours, Until: t}
}

// quietEnd reports whether it is quiet in loc at t, and when that quiet
// span ends: the next local q.To after t. Local wall-clock arithmetic
// (time.Date), so a DST change that day moves the instant, not the hour.
func quietEnd(q wagate.QuietHours, loc *time.Location, t time.Time) (time.Time, bool) {
	if !isQuiet(q, t.In(loc)) {
		return time.Time{}, false
	}
	y, mo, d := t.In(loc).Date()
	end := wallTime(q, loc, y, mo, d)
	if !end.After(t) {
		end = wallTime(q, loc, y, mo, d+1)
	}
	return end, true
}

// isQuiet reports whether the local time lt is within q.
func isQuiet(q wagate.QuietHours, lt time.Time) bool {
	m := lt.Hour()*60 + lt.Minute()
	if q.From < q.To {
		return m >= q.From && m < q.To
	}
	return m >= q.From || m < q.To
}

// wallTime is q.To on the given local day. When a spring DST change skips
// that wall time (02:30 on a night clocks jump from 02:00 to 03:00), the
// quiet ends at the change itself, the first instant past q.To locally.
func wallTime(q wagate.QuietHours, loc *time.Location, y int, mo time.Month, d int) time.Time {
	end := time.Date(y, mo, d, q.To/60, q.To%60, 0, 0, loc)
	if lt := end.In(loc); lt.Hour()*60+lt.Minute() == q.To {
		return end
	}
	start, next := end.ZoneBounds()
	if !isQuiet(q, start.In(loc)) {
		return start
	}
	if !next.IsZero() {
		return next
	}
	return end
}
