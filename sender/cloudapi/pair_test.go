package cloudapi

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestPairTurn(t *testing.T) {
	const maxWait = 2 * time.Second
	s := time.Second
	tests := []struct {
		name      string
		notBefore time.Time
		now       time.Time
		deadline  time.Time
		wait      time.Duration
		inline    bool
	}{
		{"never sent", time.Time{}, t0, time.Time{}, 0, true},
		{"turn passed", at(6 * s), at(7 * s), time.Time{}, 0, true},
		{"turn exactly now", at(6 * s), at(6 * s), time.Time{}, 0, true},
		{"short wait, no deadline", at(6 * s), at(5 * s), time.Time{}, s, true},
		{"wait of maxWait", at(6 * s), at(4 * s), time.Time{}, 2 * s, true},
		{"wait over maxWait", at(6 * s), at(2 * s), time.Time{}, 4 * s, false},
		{"short wait, roomy deadline", at(6 * s), at(5 * s), at(5*s + s + sendReserve), s, true},
		{"short wait, deadline too near", at(6 * s), at(5 * s), at(5*s + s + sendReserve - 1), s, false},
		{"after a 131056 hold", at(60 * s), at(1 * s), time.Time{}, 59 * s, false},
	}
	for _, tt := range tests {
		wait, inline := pairTurn(tt.notBefore, tt.now, maxWait, tt.deadline)
		if wait != tt.wait || inline != tt.inline {
			t.Errorf("%s: pairTurn = %v, %v; want %v, %v", tt.name, wait, inline, tt.wait, tt.inline)
		}
	}
}

// TestPairsTake walks one pair through a sequence of sends on a fake clock:
// each booking pushes the next turn by a gap per message.
func TestPairsTake(t *testing.T) {
	var p pairs
	bob := pairKey{"1", "14155552671"}
	ann := pairKey{"1", "14155552672"}
	other := pairKey{"2", "14155552671"} // the same person from another number
	s := time.Second
	steps := []struct {
		key    pairKey
		now    time.Duration
		n      int
		wait   time.Duration
		inline bool
	}{
		{bob, 0, 1, 0, true},           // first send goes
		{ann, 0, 1, 0, true},           // another person is independent
		{other, 0, 1, 0, true},         // so is another business number
		{bob, 2 * s, 1, 4 * s, false},  // the account's next pace slot: too soon, handed back
		{bob, 5 * s, 1, s, true},       // a second before the turn: wait inside
		{bob, 6 * s, 2, 0, true},       // the turn: a file and its text
		{bob, 12 * s, 1, 6 * s, false}, // the burst of two borrowed a gap
		{bob, 18 * s, 1, 0, true},
	}
	for i, st := range steps {
		wait, inline := p.take(st.key, at(st.now), st.n, PairGap, 2*s, time.Time{})
		if wait != st.wait || inline != st.inline {
			t.Fatalf("step %d (%v at %v): take = %v, %v; want %v, %v", i, st.key, st.now, wait, inline, st.wait, st.inline)
		}
	}
}

func TestPairsHoldAndPrune(t *testing.T) {
	var p pairs
	s := time.Second
	bob := pairKey{"1", "14155552671"}
	p.take(bob, t0, 1, PairGap, 2*s, time.Time{})
	p.hold(bob, at(60*s)) // Meta said 131056 with a long Retry-After
	if wait, inline := p.take(bob, at(10*s), 1, PairGap, 2*s, time.Time{}); wait != 50*s || inline {
		t.Errorf("after hold: %v, %v", wait, inline)
	}
	p.hold(bob, at(30*s)) // an earlier hold does not shorten the wait
	if wait, _ := p.take(bob, at(10*s), 1, PairGap, 2*s, time.Time{}); wait != 50*s {
		t.Errorf("after the shorter hold: %v", wait)
	}

	// Thousands of recipients, each sent to once: after their turns passed
	// and a sweep ran, only the recent ones are remembered.
	for i := range 1000 {
		p.take(pairKey{"9", fmt.Sprint(i)}, at(100*s), 1, PairGap, 2*s, time.Time{})
	}
	p.take(pairKey{"9", "late"}, at(100*s+pairPruneEvery+time.Second), 1, PairGap, 2*s, time.Time{})
	if n := p.size(); n != 1 {
		t.Errorf("%d pairs remembered after the sweep, want 1 (the one just booked)", n)
	}
}

// size is the number of remembered pairs, for tests.
func (p *pairs) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.next)
}
