package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate"
)

// NUL characters (U+0000) are refused at the gateway, for every backend:
// WhatsApp and the Cloud API take no NUL in a message, so a text with one
// could never be sent as written, and PostgreSQL's text and jsonb columns
// cannot hold one at all (SPEC §12: the backends keep the same promises).
// JSON carries it only escaped ("\u0000"), so a request is refused with a
// 400 naming the field, like any other field that is wrong, before
// anything is stored or charged. The raw bytes of a request that is not
// JSON are not refused (they are already a 400) but are kept in the
// attempt log in a form every backend stores (attemptBody).

// nulEscape is how JSON writes U+0000; its hex digits have no case.
var nulEscape = []byte(`\u0000`)

// errNUL is the 400 for a NUL in field (a JSON path such as "text" or
// "variables.name").
func errNUL(field string) error {
	return wagate.Errorf(wagate.EINVALID, `field %q contains a NUL character (\u0000), which WhatsApp does not accept and wagate does not store; remove it`, cut(field, 80))
}

// checkNUL refuses a NUL in any field of an inbound request that wagate
// reads and keeps (unknown fields are ignored, so they may hold one).
func (r *sendRequest) checkNUL() error {
	for _, f := range []struct{ name, v string }{
		{fAction, r.Action}, {fText, r.Text}, {fFileURL, r.FileURL}, {fFileName, r.FileName}, {fJID, r.JID}, {fPhone, r.Phone},
		{fChatName, r.ChatName}, {fAccountPhone, r.Account}, {fSendAt, r.SendAt}, {fTemplate, r.Template},
	} {
		if strings.IndexByte(f.v, 0) >= 0 {
			return errNUL(f.name)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Variables)) {
		if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(r.Variables[k], 0) >= 0 {
			return errNUL(fVariables + "." + strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", `\u0000`), ""))
		}
	}
	return nil
}

// checkBodyNUL refuses an admin request body (valid JSON) whose strings,
// keys included, hold a NUL, naming the first such field by its path.
func checkBodyNUL(body []byte) error {
	if !bytes.Contains(body, nulEscape) {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil // bindJSON has said what is wrong with it
	}
	if path, ok := nulPath(v, ""); ok {
		if path == "" {
			path = "(the body)"
		}
		return errNUL(path)
	}
	return nil // `\\u0000`: a backslash, then "u0000"
}

// nulPath finds the first string of v holding a NUL, in key order, and
// returns its path ("a.b[2]").
func nulPath(v any, path string) (string, bool) {
	join := func(k string) string {
		k = strings.ReplaceAll(k, "\x00", `\u0000`)
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case string:
		return path, strings.IndexByte(x, 0) >= 0
	case []any:
		for i, e := range x {
			if p, ok := nulPath(e, path+"["+strconv.Itoa(i)+"]"); ok {
				return p, true
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if strings.IndexByte(k, 0) >= 0 {
				return join(k), true
			}
			if p, ok := nulPath(x[k], join(k)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// attemptBody is the body of a request as the attempt log keeps it: the
// bytes as sent when they are UTF-8 without NUL (any JSON body is), else
// with each NUL and each invalid byte shown as U+FFFD, so that every
// backend can store it (PostgreSQL's text holds neither) and the log
// shows where they were.
func attemptBody(b []byte) string { return wagate.StorableText(string(b)) }

// noNULInURL refuses a request whose path or query holds a NUL (%00): no
// name, phone or id wagate keeps has one, and no backend could look it up.
func (s *Server) noNULInURL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		if strings.IndexByte(u.Path, 0) >= 0 {
			return wagate.Errorf(wagate.EINVALID, "the URL's path contains a NUL character (%%00); remove it")
		}
		if strings.Contains(u.RawQuery, "%00") || strings.IndexByte(u.RawQuery, 0) >= 0 {
			for k, vs := range u.Query() {
				if strings.IndexByte(k, 0) >= 0 || slices.ContainsFunc(vs, func(v string) bool { return strings.IndexByte(v, 0) >= 0 }) {
					return wagate.Errorf(wagate.EINVALID, "query parameter %s contains a NUL character (%%00); remove it", fmt.Sprintf("%q", cut(strings.ReplaceAll(k, "\x00", `\u0000`), 40)))
				}
			}
		}
		return next(c)
	}
}
