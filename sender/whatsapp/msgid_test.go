package whatsapp

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// The id looks like WhatsApp Web's own and depends only on wagate's id.
func TestMessageID(t *testing.T) {
	a := MessageID("wa_backend:3EB09FCC85FE99662E46")
	if !regexp.MustCompile(`^3EB0[0-9A-F]{18}$`).MatchString(a) {
		t.Errorf("MessageID = %q, want 3EB0 and 18 upper-case hex digits", a)
	}
	if b := MessageID("wa_backend:3EB09FCC85FE99662E46"); b != a {
		t.Errorf("not deterministic: %q then %q", a, b)
	}
	if c := MessageID("wa_backend:3EB09FCC85FE99662E47"); c == a {
		t.Errorf("two messages share the id %q", c)
	}
}

func TestTypingDuration(t *testing.T) {
	cases := []struct {
		text  string
		limit time.Duration
		want  time.Duration
	}{
		{"", 5 * time.Second, typingBase},
		{"hi", 5 * time.Second, typingBase + 2*typingPerRune},
		{"héllo", 5 * time.Second, typingBase + 5*typingPerRune}, // characters, not bytes
		{strings.Repeat("x", 1000), 5 * time.Second, 5 * time.Second},
		{"hi", 0, 0},
		{"hi", -time.Second, 0},
	}
	for _, c := range cases {
		if got := TypingDuration(c.text, c.limit); got != c.want {
			t.Errorf("TypingDuration(%d chars, %v) = %v, want %v", len(c.text), c.limit, got, c.want)
		}
	}
}

func TestAdvance(t *testing.T) {
	cases := []struct {
		cur, next string
		want      bool
	}{
		{"", StatusDelivered, true},
		{"sent", StatusDelivered, true},
		{"sent", StatusRead, true},
		{StatusDelivered, StatusRead, true},
		{StatusRead, StatusDelivered, false},
		{StatusDelivered, StatusDelivered, false},
		{"failed", StatusRead, false},
	}
	for _, c := range cases {
		if got := Advance(c.cur, c.next); got != c.want {
			t.Errorf("Advance(%q, %q) = %v, want %v", c.cur, c.next, got, c.want)
		}
	}
}
