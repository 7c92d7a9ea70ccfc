package wagate_test

import (
	"testing"

	"github.com/wagate/wagate"
)

func TestStorableText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"plain é text", "plain é text"},
		{"a\x00b", "a\uFFFDb"},
		{"\x00\x00", "\uFFFD\uFFFD"},
		{"bad \xff\xfe byte", "bad \uFFFD byte"}, // a run of bad bytes is one U+FFFD (strings.ToValidUTF8)
		{"\x00\xff", "\uFFFD\uFFFD"},
	} {
		if got := wagate.StorableText(c.in); got != c.want {
			t.Errorf("StorableText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
