package whatsapp

import (
	"time"
	"unicode/utf8"
)

// Typing speed of the "typing…" indicator: a person types about 200
// characters a minute on a phone; the wait starts from a moment a person
// needs to begin.
const (
	typingBase    = 800 * time.Millisecond
	typingPerRune = 300 * time.Millisecond
)

// TypingDuration is how long "typing…" shows before a text of this length
// goes out: typingBase plus typingPerRune per character, never more than
// limit (the account's gap, so typing never slows the pace), and 0 for a
// limit ≤ 0.
func TypingDuration(text string, limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	d := typingBase + time.Duration(utf8.RuneCountInString(text))*typingPerRune
	return min(d, limit)
}
