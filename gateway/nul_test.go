package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

// A NUL character (U+0000, "\u0000" in JSON) in any field the inbound URL
// reads is a 400 naming the field and the fix, before anything is charged
// or stored: WhatsApp takes no NUL, and PostgreSQL cannot keep one. A
// batch refuses such an item alone. "\\u0000" (a backslash, then u0000)
// is no NUL and goes through.
func TestInboundRefusesNUL(t *testing.T) {
	e, ws := setup(t, 10)
	for _, c := range []struct{ body, field string }{
		{`{"action":"send","phone":"+14155552671","text":"a\u0000b"}`, `"text"`},
		{`{"action":"send","phone":"+14155552671","text":"hi","chat_name":"Ana\u0000"}`, `"chat_name"`},
		{`{"action":"send","phone":"+14155552671","template":"welcome","variables":{"name":"x\u0000"}}`, `"variables.name"`},
		{`{"action":"send","phone":"+14155552671","text":"hi","file_url":"https://example.com/a.pdf","file_name":"a\u0000.pdf"}`, `"file_name"`},
	} {
		rec := e.send(ws.Inbound, c.body)
		wantError(t, rec, http.StatusBadRequest, wagate.EINVALID, "field "+c.field, `NUL character (\u0000)`, "remove it")
	}
	if got := e.balance(ws); got != 10 {
		t.Errorf("balance = %d after refused requests, want 10", got)
	}
	if n := len(e.messages(ws)); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"C strings end with \\u0000"}`))
	if m := e.messages(ws); len(m) != 1 || m[0].Text != `C strings end with \u0000` {
		t.Errorf("messages = %+v, want the text with a literal backslash-u0000", m)
	}

	out := e.batch(ws.Inbound, `{"messages":[{"action":"send","phone":"+14155552671","text":"fine"},{"action":"send","phone":"+14155552671","text":"bad\u0000"}]}`)
	if r := out.Data.Results; len(r) != 2 || r[0].Status != 200 || r[1].Status != 400 || !strings.Contains(r[1].Message, `field "text" contains a NUL character`) {
		t.Errorf("batch results = %+v, want the first accepted and the second a 400 naming text", r)
	}
}

// The admin API refuses a NUL in any string of a body, keys and nested
// values included, naming the field by its path, and a NUL (%00) in the
// URL's path or query.
func TestAdminRefusesNUL(t *testing.T) {
	e, ws := setup(t, 10)
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces", e.operator, `{"name":"Acme\u0000","credits":1}`),
		http.StatusBadRequest, wagate.EINVALID, `field "name" contains a NUL character`, "remove it")
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/chats", ws.Owner, `{"account_phone":"+15105566777","phone":"+14155552671","name":"\u0000Ana"}`),
		http.StatusBadRequest, wagate.EINVALID, `field "name" contains a NUL character`)
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, `{"phone":"+15105566778","transport":"cloudapi","settings":{"access_token":"t\u0000"}}`),
		http.StatusBadRequest, wagate.EINVALID, `field "settings.access_token" contains a NUL character`)
	wantError(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/messages?status=queued%00", ws.Owner, ""),
		http.StatusBadRequest, wagate.EINVALID, `query parameter "status" contains a NUL character (%00)`, "remove it")
	list := e.do(http.MethodGet, "/api/v1/workspaces", e.operator, "")
	if mustStatus(t, list, http.StatusOK); strings.Contains(list.Body.String(), `\u0000`) {
		t.Errorf("a workspace with a NUL in its name was created: %s", list.Body)
	}
}

// A body that is not JSON is a 400, and its attempt record keeps it with
// each NUL and invalid byte shown as U+FFFD: every backend can store that
// (PostgreSQL's text cannot hold either), and support still sees where
// they were.
func TestInboundAttemptBodyWithoutNUL(t *testing.T) {
	e, ws := setup(t, 10)
	rec := e.send(ws.Inbound, "\x00\xffnot json")
	wantError(t, rec, http.StatusBadRequest, wagate.EINVALID)
	list, err := e.db.ListAttempts(t.Context(), ws.ID, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("attempts = %v, %v; want the one call", list, err)
	}
	if got := list[0].Body; got != "\uFFFD\uFFFDnot json" {
		t.Errorf("attempt body = %q, want %q", got, "\uFFFD\uFFFDnot json")
	}
}
