package wagate

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// TestIdempotencyReplays: a record replays the same body until exactly
// IdempotencyWindow has passed, refuses another body or the other kind of
// request (a batch for a single request's key, and the reverse) until
// then, and is fresh (absent) from then on.
func TestIdempotencyReplays(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	body, other := sha256.Sum256([]byte("one")), sha256.Sum256([]byte("two"))
	rec := &IdempotencyRecord{BodyHash: body[:], At: at}
	batch := &IdempotencyRecord{BodyHash: body[:], At: at, Batch: true}
	tests := []struct {
		name       string
		rec        *IdempotencyRecord
		batch      bool
		body       [32]byte
		now        time.Time
		wantReplay bool
		wantCode   string
	}{
		{"no record: a new key", nil, false, body, at, false, ""},
		{"the same body at once: a replay", rec, false, body, at, true, ""},
		{"the same body a nanosecond before the window ends: a replay", rec, false, body, at.Add(IdempotencyWindow - time.Nanosecond), true, ""},
		{"the same body when the window ends: fresh", rec, false, body, at.Add(IdempotencyWindow), false, ""},
		{"another body within the window: refused", rec, false, other, at.Add(IdempotencyWindow - time.Nanosecond), false, EIDEMPOTENCY},
		{"another body when the window ends: fresh", rec, false, other, at.Add(IdempotencyWindow), false, ""},
		{"another body days later: fresh", rec, false, other, at.Add(3 * IdempotencyWindow), false, ""},
		{"a batch of a batch's body: a replay", batch, true, body, at.Add(IdempotencyWindow - time.Nanosecond), true, ""},
		{"a batch of another body: refused", batch, true, other, at, false, EIDEMPOTENCY},
		{"a single request of a batch's key and body: refused", batch, false, body, at.Add(IdempotencyWindow - time.Nanosecond), false, EIDEMPOTENCY},
		{"a single request of a batch's key when the window ends: fresh", batch, false, body, at.Add(IdempotencyWindow), false, ""},
		{"a batch of a single request's key and body: refused", rec, true, body, at, false, EIDEMPOTENCY},
	}
	for _, tt := range tests {
		replay, err := tt.rec.Replays("order-1", tt.batch, tt.body, tt.now)
		if replay != tt.wantReplay || ErrorCode(err) != tt.wantCode {
			t.Errorf("%s: Replays = %v, %v; want %v, code %q", tt.name, replay, err, tt.wantReplay, tt.wantCode)
		}
		if err != nil && !strings.Contains(ErrorMessage(err), `"order-1"`) {
			t.Errorf("%s: %q does not name the key", tt.name, ErrorMessage(err))
		}
		if err != nil && tt.rec.Batch != tt.batch {
			want := "for a single request"
			if tt.rec.Batch {
				want = "for a batch"
			}
			if !strings.Contains(ErrorMessage(err), want) {
				t.Errorf("%s: %q does not say the key was used %s", tt.name, ErrorMessage(err), want)
			}
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
