package gateway

import (
	"encoding/json"
	"testing"
)

// stringField's shortcut for strings without escapes reads what
// encoding/json reads, escaped or not.
func TestStringFieldReadsWhatEncodingJSONReads(t *testing.T) {
	for _, raw := range []string{
		`""`, `"lorem ipsum"`, `"+1 (415) 555-2671"`, `"ünïcödé 👋 中文"`, `"<b>&amp;</b>"`,
		`"tab\there"`, `"quote \" inside"`, `"\u00e9t\u00e9"`, `"back\\slash"`, `"\ud83d\udc4b"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		got, given, err := stringField([]member{{key: []byte("text"), val: []byte(raw)}}, "text")
		if err != nil || !given || got != want {
			t.Errorf("stringField(%s) = %q, %v, %v; want %q", raw, got, given, err, want)
		}
	}
}
