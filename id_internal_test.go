package wagate

import (
	"bytes"
	"math"
	"testing"
	"time"
)

// A millisecond whose count is used up lends the next millisecond, so ids
// keep increasing instead of wrapping around.
func TestMessageIDsSpillIntoNextMillisecond(t *testing.T) {
	ids := NewMessageIDs(bytes.NewReader([]byte{0, 0, 0, 2, 0, 0, 0, 4}))
	at := time.UnixMilli(1000)
	first, err := ids.Next(at)
	if err != nil {
		t.Fatal(err)
	}
	ids.count = math.MaxUint32
	second, err := ids.Next(at)
	if err != nil {
		t.Fatal(err)
	}
	if want := "wa_backend:0000000003E900000002"; second != want || second <= first {
		t.Errorf("after a used-up millisecond: %q then %q, want %q", first, second, want)
	}
}
