package cloudapi

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// TestRedactEveryForm: the access token is removed from outside texts in
// every form it can come back in (SPEC §6: secrets never in errors).
func TestRedactEveryForm(t *testing.T) {
	// An app token has a "|", which escaping changes.
	const token = "1234567890|EAAGm0PX4ZCpsBAKq7Zx9QqRt5Lm2Nv8Wy/+=="
	b64 := base64.StdEncoding.EncodeToString([]byte(token))
	basic := base64.StdEncoding.EncodeToString([]byte("user:" + token)) // the token at another alignment
	tests := []struct {
		name, text string
		leaks      []string // what must not survive
	}{
		{"as it is", "Malformed access token " + token + ".", []string{token}},
		{"query-escaped", "bad request ?access_token=" + url.QueryEscape(token) + "&x=1", []string{url.QueryEscape(token)}},
		{"path-escaped", "no such path /v23.0/" + url.PathEscape(token) + "/messages", []string{url.PathEscape(token)}},
		{"lower-case hex", "token=" + strings.ToLower(url.QueryEscape(token)), []string{"EAAGm0PX4ZCps", "q7Zx9QqRt5"}},
		{"base64", "credential " + b64 + " refused", []string{b64[:len(b64)-4]}},
		{"base64 url", "credential " + base64.URLEncoding.EncodeToString([]byte(token)), []string{base64.URLEncoding.EncodeToString([]byte(token))[4:40]}},
		{"base64 inside a longer value", "Authorization: Basic " + basic, []string{basic[8 : len(basic)-4]}},
		{"cut at the end", "Invalid OAuth access token - Cannot parse access token: " + token[:20] + "...", []string{token[:20], token[4:14]}},
		{"cut at the start", "…" + token[len(token)-12:] + " is not valid", []string{token[len(token)-12:]}},
		{"a piece in the middle", "token fragment " + token[10:30] + " rejected", []string{token[10:30]}},
		{"twice", token + " and " + token[:9], []string{token, token[:9]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact(tt.text, token)
			for _, leak := range tt.leaks {
				if strings.Contains(got, leak) {
					t.Errorf("redact(%q) = %q: still holds %q", tt.text, got, leak)
				}
			}
			if !strings.Contains(got, redactMark) {
				t.Errorf("redact(%q) = %q: no %s mark", tt.text, got, redactMark)
			}
		})
	}
	// Text around the token stays; texts without it are unchanged; a
	// short run in common with the token is no piece of it.
	if got := redact("Malformed access token "+token+".", token); got != "Malformed access token [access token]." {
		t.Errorf("redact kept the wrong parts: %q", got)
	}
	for _, clean := range []string{"", "(#131026) Message undeliverable: 1234567 is not on WhatsApp", "EAAGm0P"} {
		if got := redact(clean, token); got != clean {
			t.Errorf("redact(%q) = %q, want it unchanged", clean, got)
		}
	}
}

// FuzzRedact: whatever surrounds it, the token never survives whole.
func FuzzRedact(f *testing.F) {
	f.Add("before ", "EAAGm0PX4ZCpsBAKq7Zx9Qq", " after")
	f.Add("", "a|b/c+d==e%f", "")
	f.Fuzz(func(t *testing.T, before, token, after string) {
		if len(token) < minPiece {
			return
		}
		got := redact(before+token+after, token)
		if strings.Contains(got, token) {
			t.Errorf("redact(%q) = %q holds the token", before+token+after, got)
		}
	})
}
