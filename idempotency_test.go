package wagate

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// TestIdempotencyReplays: a record replays the same body until exactly
// IdempotencyWindow has passed, refuses another body until then, and is
// fresh (absent) from then on.
func TestIdempotencyReplays(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	body, other := sha256.Sum256([]byte("one")), sha256.Sum256([]byte("two"))
	rec := &IdempotencyRecord{BodyHash: body[:], At: at}
	tests := []struct {
		name       string
		rec        *IdempotencyRecord
		body       [32]byte
		now        time.Time
		wantReplay bool
		wantCode   string
	}{
		{"no record: a new key", nil, body, at, false, ""},
		{"the same body at once: a replay", rec, body, at, true, ""},
		{"the same body a nanosecond before the window ends: a replay", rec, body, at.Add(IdempotencyWindow - time.Nanosecond), true, ""},
		{"the same body when the window ends: fresh", rec, body, at.Add(IdempotencyWindow), false, ""},
		{"another body within the window: refused", rec, other, at.Add(IdempotencyWindow - time.Nanosecond), false, EIDEMPOTENCY},
		{"another body when the window ends: fresh", rec, other, at.Add(IdempotencyWindow), false, ""},
		{"another body days later: fresh", rec, other, at.Add(3 * IdempotencyWindow), false, ""},
	}
	for _, tt := range tests {
		replay, err := tt.rec.Replays("order-1", tt.body, tt.now)
		if replay != tt.wantReplay || ErrorCode(err) != tt.wantCode {
			t.Errorf("%s: Replays = %v, %v; want %v, code %q", tt.name, replay, err, tt.wantReplay, tt.wantCode)
		}
		if err != nil && !strings.Contains(ErrorMessage(err), `"order-1"`) {
			t.Errorf("%s: %q does not name the key", tt.name, ErrorMessage(err))
		}
	}
}

// TestIdempotencyCutoff: the records a backend prunes (written at or
// before the cutoff) are exactly the expired ones.
func TestIdempotencyCutoff(t *testing.T) {
	now := time.Date(2025, 3, 2, 9, 0, 0, 0, time.UTC)
	cut := IdempotencyCutoff(now)
	for _, d := range []time.Duration{-time.Hour, -time.Nanosecond, 0, time.Nanosecond, time.Hour} {
		r := &IdempotencyRecord{At: cut.Add(d)}
		if pruned := !r.At.After(cut); r.Expired(now) != pruned {
			t.Errorf("a record %v from the cutoff: expired %v, pruned %v; want the same", d, r.Expired(now), pruned)
		}
	}
	if !(&IdempotencyRecord{At: cut}).Expired(now) {
		t.Error("a record written at the cutoff is not expired")
	}
}
