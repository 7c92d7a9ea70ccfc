package wagate

import (
	"maps"
	"testing"
	"time"
)

// TestWaitingCount: each queued message is counted once by why it waits,
// as Next sees it; a waiting message holds back the later ones to its
// recipient in its own account only.
func TestWaitingCount(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	later, past := now.Add(time.Hour), now.Add(-time.Hour)
	type placed struct {
		phone, jid, reason string
		next               time.Time
	}
	const a, b = "+14155552671", "+14155552672"
	tests := []struct {
		name      string
		scheduled map[string]int
		placed    []placed
		want      map[string]map[string]int
	}{
		{"nothing waits", nil, []placed{{a, "x", "", time.Time{}}, {a, "y", "", time.Time{}}}, map[string]map[string]int{}},
		{"scheduled ones by account, none when zero", map[string]int{a: 2, b: 0}, nil,
			map[string]map[string]int{a: {WaitingScheduled: 2}}},
		{"a retry ahead waits, and holds back its recipient's later messages", nil,
			[]placed{{a, "x", "", later}, {a, "x", "", time.Time{}}, {a, "y", "", time.Time{}}},
			map[string]map[string]int{a: {WaitingRetry: 1, WaitingBehind: 1}}},
		{"a retry due already waits for nothing", nil,
			[]placed{{a, "x", "", past}, {a, "x", "", time.Time{}}},
			map[string]map[string]int{}},
		{"a retry exactly now is due", nil,
			[]placed{{a, "x", "", now}, {a, "x", "", time.Time{}}},
			map[string]map[string]int{}},
		{"a hold counts by its reason and holds back its recipient", nil,
			[]placed{{a, "x", WaitingQuietHours, later}, {a, "x", "", time.Time{}}},
			map[string]map[string]int{a: {WaitingQuietHours: 1, WaitingBehind: 1}}},
		{"a hold whose time passed still counts by its reason but blocks no one", nil,
			[]placed{{a, "x", WaitingDailyLimit, past}, {a, "x", "", time.Time{}}},
			map[string]map[string]int{a: {WaitingDailyLimit: 1}}},
		{"behind a waiting message, a message's own retry ahead counts as a retry", nil,
			[]placed{{a, "x", "", later}, {a, "x", "", later.Add(time.Hour)}},
			map[string]map[string]int{a: {WaitingRetry: 2}}},
		{"behind a waiting message, a held one counts by its reason", nil,
			[]placed{{a, "x", "", later}, {a, "x", WaitingQuietHours, later}},
			map[string]map[string]int{a: {WaitingRetry: 1, WaitingQuietHours: 1}}},
		{"another account's queue starts afresh", map[string]int{b: 1},
			[]placed{{a, "x", "", later}, {b, "x", "", time.Time{}}, {b, "x", "", later}, {b, "x", "", time.Time{}}},
			map[string]map[string]int{a: {WaitingRetry: 1}, b: {WaitingScheduled: 1, WaitingRetry: 1, WaitingBehind: 1}}},
	}
	for _, tt := range tests {
		c := NewWaitingCount(now)
		for phone, n := range tt.scheduled {
			c.Scheduled(phone, n)
		}
		for _, p := range tt.placed {
			c.Placed(p.phone, p.jid, p.reason, p.next)
		}
		got := c.Counts()
		if got == nil {
			t.Errorf("%s: Counts is nil, want an empty map", tt.name)
		}
		if !maps.EqualFunc(got, tt.want, maps.Equal) {
			t.Errorf("%s: counts %v, want %v", tt.name, got, tt.want)
		}
	}
}
