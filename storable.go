package wagate

import (
	"strings"
	"unicode/utf8"
)

// StorableText is s as every backend can keep it: each NUL character
// (U+0000) and each byte that is not UTF-8 replaced by U+FFFD, the rest
// unchanged. PostgreSQL's text holds neither and its jsonb refuses
// "\u0000", while bbolt keeps anything; text that reaches the store from
// outside wagate's own checks (a provider's error, a template synced from
// Meta, a request body kept as it came) goes through it where it enters
// the domain, so both backends store the same value and the write is
// never refused for it. The replacement shows where the odd bytes were.
func StorableText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
