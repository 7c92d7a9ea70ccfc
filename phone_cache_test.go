package wagate

import (
	"fmt"
	"sync"
	"testing"
)

// phoneInputs are TestNormalizePhone's table and FuzzNormalizePhone's seeds,
// plus inputs that only differ in formatting or length.
var phoneInputs = []string{
	"+14155552671", " +1 (415) 555-2671 ", "+1.415.555.2671", "14155552671",
	"0014155552671", "4915112345678", "+44 20 7946 0958", "015112345678",
	"+14151231234", "+1415555", "+1415abc2671", "", "+999123456789", "+12",
	"+1234567890123456789", "1+4155552671", "+1 (415) 555-2671",
	"004915112345678", "+4915112345678", "  ", "+", "00", "+0123456",
	"+1 415 555 2671 ext 1", "+14155552671 +14155552671 +14155552671 +14155552671 +14155552671",
}

// TestPhoneCacheIsPure checks that the cached NormalizePhone gives the same
// answers as the uncached one, on a miss and on a hit, for both checks.
func TestPhoneCacheIsPure(t *testing.T) {
	phoneCache.reset()
	for _, check := range []PhoneCheck{PhoneCheckValid, PhoneCheckPossible} {
		for _, raw := range phoneInputs {
			want, wantErr := normalizePhone(raw, check)
			for _, pass := range []string{"miss", "hit"} {
				got, err := NormalizePhone(raw, check)
				if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) || ErrorCode(err) != ErrorCode(wantErr) {
					t.Errorf("%s: NormalizePhone(%q, %s) = %q, %v; uncached %q, %v", pass, raw, check, got, err, want, wantErr)
				}
			}
			if len(raw) <= phoneCacheMaxInput {
				if _, ok := phoneCache.get(raw, check); !ok {
					t.Errorf("(%q, %s) was not cached", raw, check)
				}
			}
		}
	}
	// The check mode is part of the key: valid rejects what possible takes.
	if _, err := NormalizePhone("+14151231234", PhoneCheckValid); err == nil {
		t.Error("valid check accepted +14151231234 after the possible check cached it")
	}
}

// TestPhoneCacheErrorsAreCopies checks that a caller changing its error
// does not change the next caller's.
func TestPhoneCacheErrorsAreCopies(t *testing.T) {
	phoneCache.reset()
	for range 2 {
		_, err := NormalizePhone("+12", PhoneCheckValid)
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("error %T, want *Error", err)
		}
		if e.Code != EINVALID || e.Message == "changed" {
			t.Fatalf("cached error = %+v", e)
		}
		e.Message = "changed"
	}
}

// TestPhoneCacheBounded fills the cache with far more distinct numbers than
// it holds, from several goroutines (the race detector checks the locking).
func TestPhoneCacheBounded(t *testing.T) {
	c := newPhoneResultCache()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10_000 {
				raw := fmt.Sprintf("+1415%d%06d", g, i)
				c.put(raw, PhoneCheckValid, raw, nil)
				if e, ok := c.get(raw, PhoneCheckValid); ok && e.e164 != raw {
					t.Errorf("get(%q) = %q", raw, e.e164)
				}
			}
		})
	}
	wg.Wait()
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n == 0 || n > phoneCacheSize {
		t.Errorf("cache holds %d entries, want 1..%d", n, phoneCacheSize)
	}
	long := "+1415555267100000000000000000000000000000000000000000000000000000000"
	c.put(long, PhoneCheckValid, "x", nil)
	if _, ok := c.get(long, PhoneCheckValid); ok {
		t.Error("an input longer than phoneCacheMaxInput was cached")
	}
}
