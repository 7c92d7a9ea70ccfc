package cloudapi

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
)

// redactMark replaces the access token, or any recognizable piece of it.
const redactMark = "[access token]"

// minPiece is the shortest run of a text that is redacted because the
// token (or one of its encodings) contains it. A token is a few hundred
// random characters, so an 8-character run of it in Meta's prose is no
// coincidence, and 8 characters of a token cut at the start or the end of
// a text (Meta and proxies shorten long values) are already too much of a
// secret to show.
const minPiece = 8

// redact removes the access token from a text that came from outside (an
// error of the Graph API, a network error), in every form it may come back
// in: as it is, URL-encoded (query or path escaping, upper- or lower-case
// hex), base64 (standard or URL alphabet, at any alignment, so also inside
// a longer encoded value such as a Basic credential), and cut: any run of
// at least minPiece characters of the text that one of these forms
// contains is replaced, so a token cut at either end, or a piece of it in
// the middle of a message, is gone too.
func redact(s, token string) string {
	if token == "" || s == "" {
		return s
	}
	forms := tokenForms(token)
	// Exact forms first: a short token (under minPiece) is found only so.
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, redactMark)
	}
	return redactPieces(s, forms)
}

// tokenForms lists the strings a token may come back as.
func tokenForms(token string) []string {
	forms := []string{token}
	add := func(f string) {
		for _, have := range forms {
			if have == f {
				return
			}
		}
		if f != "" {
			forms = append(forms, f)
		}
	}
	for _, esc := range []string{url.QueryEscape(token), url.PathEscape(token)} {
		add(esc)
		add(lowerHex(esc))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for _, f := range base64Cores(enc, []byte(token)) {
			add(f)
		}
	}
	return forms
}

var rePercent = regexp.MustCompile(`%[0-9A-F]{2}`)

// lowerHex writes the escapes of s in lower-case hex, as some encoders do.
func lowerHex(s string) string {
	return rePercent.ReplaceAllStringFunc(s, strings.ToLower)
}

// base64Cores returns, for each of the three alignments the token may have
// inside a longer encoded value, the characters of its encoding that do
// not depend on the bytes around it. Whatever comes before and after, an
// encoding of a value holding the token contains one of them.
func base64Cores(enc *base64.Encoding, token []byte) []string {
	var cores []string
	for pad := range 3 {
		buf := make([]byte, pad, pad+len(token))
		b := enc.WithPadding(base64.NoPadding).EncodeToString(append(buf, token...))
		// Skip the characters that mix in the leading bytes, and the last
		// group, which mixes in what follows.
		start := (pad*8 + 5) / 6
		end := (pad + len(token)) * 8 / 6
		if end-start >= minPiece {
			cores = append(cores, b[start:end])
		}
	}
	return cores
}

// redactPieces replaces every run of s of at least minPiece characters
// that one of forms contains (the longest at each place), so cut tokens are
// caught. A set of the forms' minPiece-grams finds the candidates in one
// pass.
func redactPieces(s string, forms []string) string {
	grams := make(map[string]bool)
	for _, f := range forms {
		for i := 0; i+minPiece <= len(f); i++ {
			grams[f[i:i+minPiece]] = true
		}
	}
	if len(grams) == 0 || len(s) < minPiece {
		return s
	}
	var b strings.Builder
	last := 0 // s[last:i] is not yet written
	for i := 0; i+minPiece <= len(s); {
		if !grams[s[i:i+minPiece]] {
			i++
			continue
		}
		end := i + minPiece
		for end < len(s) && containedIn(forms, s[i:end+1]) {
			end++
		}
		b.WriteString(s[last:i])
		if !strings.HasSuffix(b.String(), redactMark) {
			b.WriteString(redactMark)
		}
		i, last = end, end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func containedIn(forms []string, piece string) bool {
	for _, f := range forms {
		if strings.Contains(f, piece) {
			return true
		}
	}
	return false
}
