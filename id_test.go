package wagate_test

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

var messageIDForm = regexp.MustCompile(`^wa_backend:[0-9A-F]{20}$`)

func TestMessageIDsForm(t *testing.T) {
	ids := wagate.NewMessageIDs(bytes.NewReader([]byte{0xff, 0x02, 0xab, 0x01}))
	at := time.UnixMilli(0x0123456789AB)
	id, err := ids.Next(at)
	if err != nil {
		t.Fatal(err)
	}
	// 12 hex digits of the millisecond, then the draw with its top bit
	// cleared (0xff02ab01 >> 1).
	if want := "wa_backend:0123456789AB7F815580"; id != want {
		t.Errorf("Next = %q, want %q", id, want)
	}
	if !messageIDForm.MatchString(id) {
		t.Errorf("%q is not wa_backend: and 20 upper-case hex characters (SPEC §1)", id)
	}
	// The same millisecond counts up without reading the reader (it is
	// empty now).
	if id2, err := ids.Next(at); err != nil || id2 != "wa_backend:0123456789AB7F815581" {
		t.Errorf("second id of the millisecond = %q, %v", id2, err)
	}
	// A new millisecond draws again: the empty reader fails it, by name.
	if _, err := ids.Next(at.Add(time.Millisecond)); !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "message id") {
		t.Errorf("Next with a failing reader: %v", err)
	}
}

// Ids sort in the order they were made, also when many share a
// millisecond and when the clock steps back: the store relies on it to
// append new messages at the end of its index.
func TestMessageIDsIncrease(t *testing.T) {
	ids := wagate.NewMessageIDs(strings.NewReader(strings.Repeat("\xff\xff\xff\xff\x00\x00\x00\x00", 1000)))
	base := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	clock := []time.Time{base, base, base, base.Add(time.Millisecond), base.Add(-time.Second), base, base.Add(2 * time.Millisecond)}
	prev := ""
	for round := 0; round < 100; round++ {
		for _, at := range clock {
			at = at.Add(time.Duration(round) * 3 * time.Millisecond)
			id, err := ids.Next(at)
			if err != nil {
				t.Fatal(err)
			}
			if !messageIDForm.MatchString(id) {
				t.Fatalf("%q has the wrong form", id)
			}
			if id <= prev {
				t.Fatalf("id %q at %v is not after %q", id, at, prev)
			}
			prev = id
		}
	}
}

// Two processes making ids in the same millisecond differ by their draw.
func TestMessageIDsOfTwoSourcesDiffer(t *testing.T) {
	at := time.UnixMilli(1_790_000_000_000)
	a, errA := wagate.NewMessageIDs(bytes.NewReader([]byte{1, 2, 3, 4})).Next(at)
	b, errB := wagate.NewMessageIDs(bytes.NewReader([]byte{9, 8, 7, 6})).Next(at)
	if errA != nil || errB != nil || a == b || a[:23] != b[:23] {
		t.Errorf("ids %q (%v) and %q (%v): want the same millisecond and different draws", a, errA, b, errB)
	}
}
