package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/netguard"
)

// Limits of inbound fields.
const (
	maxTextRunes   = 4096 // SPEC §1
	maxFileURLLen  = 2048 // longer URLs are not "direct download links" anyone types
	maxFileNameLen = 255  // bytes, as most file systems
	maxNameLen     = 256  // chat names, phones, JIDs: far above any real one
	maxUnknownHint = 5    // unknown fields named in a hint
)

// exampleRequest is shown whenever the body is not a JSON object.
const exampleRequest = `{"action":"send","phone":"+14155552671","text":"hello"}`

// The inbound request's fields.
const (
	fAction       = "action"
	fText         = "text"
	fFileURL      = "file_url"
	fFileName     = "file_name"
	fChatID       = "chat_id"
	fJID          = "jid"
	fPhone        = "phone"
	fChatName     = "chat_name"
	fAccountPhone = "whatsapp_account_phone"
	fTemplate     = "template"  // SPEC §11: instead of text
	fVariables    = "variables" // the template's values
	fSendAt       = "send_at"   // SPEC §2: schedules the message (schedule.go)
)

// knownFields in the order suggestions prefer them.
var knownFields = []string{fAction, fText, fFileURL, fFileName, fChatID, fJID, fPhone, fChatName, fAccountPhone, fTemplate, fVariables, fSendAt}

// fieldAliases maps names people (and other products) use to ours, for the
// did-you-mean hint. Keys are normalized (see normalizeFieldName).
var fieldAliases = map[string]string{
	"phone_number":   fPhone,
	"phonenumber":    fPhone,
	"number":         fPhone,
	"mobile":         fPhone,
	"to":             fPhone,
	"recipient":      fPhone,
	"message":        fText,
	"body":           fText,
	"msg":            fText,
	"caption":        fText,
	"content":        fText,
	"account_phone":  fAccountPhone,
	"account":        fAccountPhone,
	"from":           fAccountPhone,
	"sender":         fAccountPhone,
	"whatsapp_phone": fAccountPhone,
	"chatid":         fChatID,
	"chat":           fChatID,
	"filename":       fFileName,
	"name":           fChatName,
	"chatname":       fChatName,
	"url":            fFileURL,
	"file":           fFileURL,
	"fileurl":        fFileURL,
	"media_url":      fFileURL,
	"attachment":     fFileURL,
	"template_name":  fTemplate,
	"vars":           fVariables,
	"params":         fVariables,
	"parameters":     fVariables,
}

// sendRequest is a decoded inbound request. A field that is absent, null or
// (for optional fields) an empty string is treated as not given: no-code
// tools send "" for an unused template variable, and that must not turn into
// a second, empty recipient.
type sendRequest struct {
	Action    string
	hasAction bool
	Text      string
	hasText   bool
	FileURL   string
	FileName  string
	ChatID    int64
	JID       string
	Phone     string
	ChatName  string
	Account   string // whatsapp_account_phone
	SendAt    string // RFC 3339; checked against the clock by resolve (schedule.go)
	// Template names a stored template to render instead of Text, with
	// Variables (template.go).
	Template    string
	hasTemplate bool
	Variables   map[string]string
	// empty lists recipient fields sent as "", to explain a missing recipient.
	empty []string
	// unknown lists the fields we do not know, sorted.
	unknown []string
	// members are the body's fields; inline holds them for a usual request
	// without another allocation.
	members []member
	inline  [8]member
}

// decodeSend parses and checks the shape of an inbound body. Errors are
// EINVALID and name the field and the fix; the unknown-field hint is added
// by the caller (withHint), since it also applies to later errors.
func decodeSend(body []byte) (*sendRequest, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, wagate.Errorf(wagate.EINVALID, "request body is empty; send a JSON object like %s", exampleRequest)
	}
	if !utf8.Valid(body) {
		return nil, wagate.Errorf(wagate.EINVALID, "request body is not valid UTF-8 (first bad byte at offset %d); send UTF-8 JSON like %s", invalidUTF8Offset(body), exampleRequest)
	}
	if i := firstNonSpace(body); body[i] != '{' || !json.Valid(body) {
		return nil, notAnObject(body)
	}

	r := &sendRequest{}
	var err error
	if r.members, err = scanObject(body, r.inline[:0]); err != nil {
		return nil, err
	}
	r.unknown = unknownFields(r.members)

	if r.Action, r.hasAction, err = stringField(r.members, fAction); err != nil {
		return r, err
	}
	if r.Text, r.hasText, err = stringField(r.members, fText); err != nil {
		return r, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{fFileURL, &r.FileURL}, {fFileName, &r.FileName}, {fJID, &r.JID},
		{fPhone, &r.Phone}, {fChatName, &r.ChatName}, {fAccountPhone, &r.Account}, {fSendAt, &r.SendAt},
	} {
		v, given, err := stringField(r.members, f.name)
		if err != nil {
			return r, err
		}
		if given && strings.TrimSpace(v) == "" {
			switch f.name {
			case fJID, fPhone, fChatName:
				r.empty = append(r.empty, f.name)
			}
			continue
		}
		*f.dst = v
	}
	if r.ChatID, err = chatIDField(r.members); err != nil {
		return r, err
	}
	if r.Template, r.hasTemplate, err = stringField(r.members, fTemplate); err != nil {
		return r, err
	}
	if raw, ok := field(r.members, fVariables); ok {
		if r.Variables, err = decodeVariables(raw, fVariables); err != nil {
			return r, err
		}
	}
	return r, r.checkNUL() // nul.go
}

// unknownFields lists the keys of ms that are not fields of a request,
// sorted; nil when there is none.
func unknownFields(ms []member) []string {
	var unknown []string
	for _, m := range ms {
		if !isKnownKey(m.key) {
			unknown = append(unknown, string(m.key))
		}
	}
	sort.Strings(unknown)
	return unknown
}

// replayWarnings are the warnings of the first answer to a request that
// an Idempotency-Key replays: the same JSON value has the same unknown
// fields. Nil for a body that is not a JSON object (no first answer was a
// 200 for it).
func replayWarnings(body []byte) []string {
	if i := firstNonSpace(body); i == len(body) || body[i] != '{' || !utf8.Valid(body) || !json.Valid(body) {
		return nil
	}
	var inline [8]member
	ms, err := scanObject(body, inline[:0])
	if err != nil {
		return nil
	}
	return unknownWarnings(unknownFields(ms))
}

// notAnObject explains why a body that is not valid JSON, or not an
// object, cannot be read, in encoding/json's words and offsets.
func notAnObject(body []byte) error {
	var raw map[string]json.RawMessage
	err := json.Unmarshal(body, &raw)
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil && raw == nil: // the body was the literal null
		return wagate.Errorf(wagate.EINVALID, "request body is a JSON null, not an object; send a JSON object like %s", exampleRequest)
	case errors.As(err, &se):
		return wagate.Errorf(wagate.EINVALID, "request body is not valid JSON: %s at offset %d; send a JSON object like %s", se.Error(), se.Offset, exampleRequest)
	case errors.As(err, &te):
		return wagate.Errorf(wagate.EINVALID, "request body is a JSON %s, not an object; send a JSON object like %s", te.Value, exampleRequest)
	}
	return wagate.Errorf(wagate.EINVALID, "request body is not valid JSON; send a JSON object like %s", exampleRequest)
}

// field returns the raw value of the member named name.
func field(ms []member, name string) ([]byte, bool) {
	for _, m := range ms {
		if string(m.key) == name {
			return m.val, true
		}
	}
	return nil, false
}

// isKnownKey is isKnownField for a key still in the body: no string is
// made for the known ones.
func isKnownKey(k []byte) bool {
	for _, f := range knownFields {
		if string(k) == f {
			return true
		}
	}
	return false
}

// fieldExample is a value of each string field, for error messages.
func fieldExample(name string) string {
	switch name {
	case fAction:
		return "send"
	case fText:
		return "hello"
	case fFileURL:
		return "https://example.com/logo.png"
	case fFileName:
		return "logo.png"
	case fJID:
		return "14155552671@s.whatsapp.net"
	case fPhone, fAccountPhone:
		return "+14155552671"
	case fChatName:
		return "Jane Roe"
	case fSendAt:
		return "2026-12-05T09:00:00+01:00"
	case fTemplate:
		return "order_shipped"
	}
	return "…"
}

func isKnownField(k string) bool {
	for _, f := range knownFields {
		if k == f {
			return true
		}
	}
	return false
}

// stringField reads raw[name] as a string. given is false when the field is
// absent or null.
func stringField(ms []member, name string) (v string, given bool, err error) {
	m, ok := field(ms, name)
	if !ok || jsonKind(m) == "null" {
		return "", false, nil
	}
	if len(m) >= 2 && m[0] == '"' && bytes.IndexByte(m, '\\') < 0 {
		// A string without escapes is its bytes between the quotes: the
		// whole body was parsed (and checked for UTF-8) already, so the
		// usual second parse of the value would only copy it.
		return string(m[1 : len(m)-1]), true, nil
	}
	if err := json.Unmarshal(m, &v); err != nil {
		return "", false, wagate.Errorf(wagate.EINVALID, "field %q must be a JSON string, not %s; put the value in quotes, e.g. %q:%q", name, jsonKindArticle(m), name, fieldExample(name))
	}
	return v, true, nil
}

// chatIDField reads chat_id, a JSON string of digits or a JSON integer
// (SPEC §1: "string or number"). 0 means not given.
func chatIDField(ms []member) (int64, error) {
	m, ok := field(ms, fChatID)
	if !ok {
		return 0, nil
	}
	bad := func() error {
		return wagate.Errorf(wagate.EINVALID, "field %q must be the positive integer id of a chat, as a number or a string of digits (e.g. \"77234\"), not %s", fChatID, describeJSON(m))
	}
	switch jsonKind(m) {
	case "null":
		return 0, nil
	case "string":
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			return 0, bad()
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return 0, nil
		}
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 || !allASCIIDigits(s) {
			return 0, bad()
		}
		return id, nil
	case "number":
		id, err := strconv.ParseInt(string(m), 10, 64)
		if err != nil || id <= 0 {
			return 0, bad()
		}
		return id, nil
	}
	return 0, bad()
}

func allASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// jsonKind names the JSON type of a raw value by its first byte.
func jsonKind(m json.RawMessage) string {
	s := bytes.TrimLeft(m, " \t\r\n")
	if len(s) == 0 {
		return "nothing"
	}
	switch s[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func jsonKindArticle(m json.RawMessage) string {
	switch k := jsonKind(m); k {
	case "object", "array":
		return "an " + k
	case "null", "nothing":
		return k
	default:
		return "a " + k
	}
}

// describeJSON shows a short raw value (for chat_id, never a secret) or just
// its type when long.
func describeJSON(m json.RawMessage) string {
	if len(m) <= 32 {
		return string(m)
	}
	return jsonKindArticle(m)
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// validateSend checks the field rules of SPEC §1 that need no lookup.
// allowPrivate lets file_url name an internal IP address
// (--allow-private-file-urls).
func validateSend(r *sendRequest, allowPrivate bool) error {
	if err := validateAction(r); err != nil {
		return err
	}
	if !r.hasText {
		if r.FileURL != "" {
			return wagate.Errorf(wagate.EINVALID, `missing field "text"; set the message text, or "text":"" to send only the file`)
		}
		return wagate.Errorf(wagate.EINVALID, `missing field "text"; set the message text, e.g. "text":"hello"`)
	}
	if r.FileURL == "" && strings.TrimSpace(r.Text) == "" {
		what := "empty"
		if r.Text != "" {
			what = "only whitespace"
		}
		return wagate.Errorf(wagate.EINVALID, `field "text" is %s; write the message text, or send a file with "file_url" and "file_name"`, what)
	}
	if n := utf8.RuneCountInString(r.Text); n > maxTextRunes {
		return wagate.Errorf(wagate.EINVALID, `field "text" has %d characters; the limit is %d, so shorten it or split it into several messages`, n, maxTextRunes)
	}
	if r.FileURL != "" {
		if err := checkFileURL(r.FileURL, allowPrivate); err != nil {
			return err
		}
		if err := checkFileName(r.FileName); err != nil {
			return err
		}
	}
	return nil
}

// validateAction checks the request's action.
func validateAction(r *sendRequest) error {
	if !r.hasAction {
		return wagate.Errorf(wagate.EINVALID, `missing field "action"; set "action":"send"`)
	}
	if r.Action != "send" {
		return wagate.Errorf(wagate.EINVALID, `field "action" is %q; the only supported action is "send": set "action":"send"`, cut(r.Action, 40))
	}
	return nil
}

// checkFileURL checks what can be known about a file_url without the
// network (SPEC §1): an absolute http(s) link with a host, a port in
// 1–65535, no user name or password, and no IP literal in a blocked range
// unless allowPrivate. Where a host name leads is checked by the fetcher,
// on every address it connects to (sender/fetch), with the same table.
func checkFileURL(raw string, allowPrivate bool) error {
	if len(raw) > maxFileURLLen {
		return wagate.Errorf(wagate.EINVALID, `field "file_url" has %d characters; the limit is %d, so use a shorter link to the file`, len(raw), maxFileURLLen)
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return wagate.Errorf(wagate.EINVALID, `field "file_url" is not an absolute URL; write a public http(s) link to the file itself, e.g. "https://example.com/logo.png"`)
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return wagate.Errorf(wagate.EINVALID, `field "file_url" has scheme %q; only http and https links are downloaded, e.g. "https://example.com/logo.png"`, cut(u.Scheme, 20))
	}
	host := u.Hostname()
	if host == "" {
		return wagate.Errorf(wagate.EINVALID, `field "file_url" has no host; write a full link, e.g. "https://example.com/logo.png"`)
	}
	if u.User != nil {
		// Never echoed: it is a password.
		return wagate.Errorf(wagate.EINVALID, `field "file_url" contains a user name or password ("…@" before the host); use a public link that needs no login`)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return wagate.Errorf(wagate.EINVALID, `field "file_url" has port %s; a port is a number from 1 to 65535, or leave it out for the usual one`, cut(p, 10))
		}
	}
	if allowPrivate {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if class, blocked := netguard.Classify(a); blocked {
			return wagate.Errorf(wagate.EINVALID, `field "file_url" has host %s, %s %s address; wagate downloads files only from public hosts, so use a public link (a server for tests or closed networks may allow this with --allow-private-file-urls)`, cut(host, 45), netguard.Article(class), class)
		}
	}
	return nil
}

func checkFileName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return wagate.Errorf(wagate.EINVALID, `missing field "file_name": it is required with "file_url"; set the attachment's name, e.g. "file_name":"logo.png"`)
	case len(name) > maxFileNameLen:
		return wagate.Errorf(wagate.EINVALID, `field "file_name" has %d bytes; the limit is %d, so shorten the name (e.g. "report.pdf")`, len(name), maxFileNameLen)
	case strings.ContainsAny(name, `/\`):
		return wagate.Errorf(wagate.EINVALID, `field "file_name" %q contains a path separator; give only the name, e.g. "logo.png"`, cut(name, 60))
	case name == "." || name == "..":
		return wagate.Errorf(wagate.EINVALID, `field "file_name" %q is not a file name; give a name such as "logo.png"`, name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return wagate.Errorf(wagate.EINVALID, `field "file_name" contains control characters; give a plain name such as "logo.png"`)
	}
	return nil
}

// withHint appends the unknown-field hint to an EINVALID error: a typo in a
// field name is the most likely cause of a "missing field" answer.
func (r *sendRequest) withHint(err error) error {
	if r == nil || len(r.unknown) == 0 || wagate.ErrorCode(err) != wagate.EINVALID {
		return err
	}
	return &wrapped{err: wagate.Errorf(wagate.EINVALID, "%s; %s", wagate.ErrorMessage(err), unknownHint(r.unknown)), cause: err}
}

// unknownHint names unknown fields, each with a suggestion when one is
// close, in SPEC §1's words: `unknown field "phone_number"; did you mean "phone"?`.
func unknownHint(unknown []string) string {
	return strings.Join(unknownWarnings(unknown), "; ")
}

// warnings are the warnings of an answer to r (SPEC §1): one per unknown
// field, nil when there is none.
func (r *sendRequest) warnings() []string {
	if r == nil {
		return nil
	}
	return unknownWarnings(r.unknown)
}

// unknownWarnings is one text per unknown field (at most maxUnknownHint,
// then how many more).
func unknownWarnings(unknown []string) []string {
	var parts []string
	for i, k := range unknown {
		if i == maxUnknownHint {
			parts = append(parts, fmt.Sprintf("and %d more unknown fields", len(unknown)-i))
			break
		}
		p := fmt.Sprintf("unknown field %q", cut(k, 40))
		if s := suggestField(k); s != "" {
			p += fmt.Sprintf("; did you mean %q?", s)
		} else {
			p += " (ignored)"
		}
		parts = append(parts, p)
	}
	return parts
}

// suggestField returns the known field that name most likely meant, or "".
func suggestField(name string) string {
	n := normalizeFieldName(name)
	if isKnownField(n) {
		return n // a case or separator slip: "Phone", "chat-id", "chatId"
	}
	if a, ok := fieldAliases[n]; ok {
		return a
	}
	if a, ok := fieldAliases[strings.ReplaceAll(n, "_", "")]; ok {
		return a
	}
	max := 2
	if utf8.RuneCountInString(n) < 4 {
		max = 1 // "to" is not a typo of "jid"
	}
	best, bestD := "", max+1
	for _, f := range knownFields {
		if d := editDistance(n, f); d < bestD {
			best, bestD = f, d
		}
	}
	return best
}

// normalizeFieldName lower-cases and turns camelCase, dashes and spaces into
// snake_case.
func normalizeFieldName(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range strings.TrimSpace(s) {
		switch {
		case unicode.IsUpper(r):
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
		case r == '-' || r == ' ' || r == '.':
			b.WriteByte('_')
			prevLower = false
		default:
			b.WriteRune(r)
			prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		}
	}
	return b.String()
}

// editDistance is the Levenshtein distance of a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 30 // no field name is that long; do not spend time on it
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// cut shortens a client-supplied string quoted in a message.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// checkJSONContentType accepts application/json and any +json type, with
// any charset that is UTF-8; an absent Content-Type is tried as JSON, since
// many simple clients send none.
func checkJSONContentType(ct string) error {
	if strings.TrimSpace(ct) == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return wagate.Errorf(wagate.EMEDIATYPE, "Content-Type %q cannot be parsed; send the body as JSON with Content-Type: application/json", cut(ct, 80))
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return wagate.Errorf(wagate.EMEDIATYPE, "Content-Type %q is not supported; send the body as a JSON object with Content-Type: application/json", cut(mt, 80))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return wagate.Errorf(wagate.EMEDIATYPE, "charset %q is not supported; send UTF-8 JSON", cut(cs, 40))
	}
	return nil
}
