package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

const (
	acctPhone = "+15105566777" // the seed's account
	toPhone   = "+14155552671" // SPEC's example recipient
)

// setup makes a workspace with credits and the seed's account.
func setup(t *testing.T, credits int64, opts ...option) (*env, workspace) {
	t.Helper()
	e := newEnv(t, opts...)
	ws := e.workspace("Acme", credits)
	e.account(ws, acctPhone)
	return e, ws
}

func TestInboundReferenceRequests(t *testing.T) {
	e, ws := setup(t, 10)

	// SPEC §1, first example (with a valid recipient): 1 credit.
	id1 := accepted(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14155552671","text":"lorem ipsum"}`))
	if got := e.balance(ws); got != 9 {
		t.Fatalf("balance after a text message = %d, want 9", got)
	}

	// SPEC §1, second example: the chat id is the one the store gave.
	chatID := e.chat(ws, acctPhone, "+4915112345679", "Logo chat")
	body := fmt.Sprintf(`{"action":"send","chat_id":%q,"text":"lorem ipsum","file_url":"https://example.com/logo.png","file_name":"logo.png"}`, chatID)
	id2 := accepted(t, e.send(ws.Inbound, body))
	if got := e.balance(ws); got != 7 {
		t.Fatalf("balance after text and file = %d, want 7", got)
	}

	msgs := e.messages(ws) // newest first
	if len(msgs) != 2 || msgs[0].ID != id2 || msgs[1].ID != id1 {
		t.Fatalf("messages = %+v, want %s then %s", msgs, id2, id1)
	}
	m1, m2 := msgs[1], msgs[0]
	if m1.JID != "14155552671@s.whatsapp.net" || m1.AccountPhone != acctPhone || m1.Credits != 1 || m1.Status != wagate.StatusQueued {
		t.Errorf("first message = %+v", m1)
	}
	if fmt.Sprint(m2.ChatID) != chatID || m2.JID != "4915112345679@s.whatsapp.net" || m2.FileURL != "https://example.com/logo.png" || m2.FileName != "logo.png" || m2.Credits != 2 {
		t.Errorf("second message = %+v", m2)
	}

	// The sender is woken for each, after the commit.
	refs := e.waker.Refs()
	want := wagate.AccountRef{WorkspaceID: ws.ID, Phone: acctPhone}
	if len(refs) != 2 || refs[0] != want || refs[1] != want {
		t.Errorf("Wake calls = %v, want 2 × %v", refs, want)
	}

	// chat_id as a JSON number works the same.
	accepted(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","chat_id":%s,"text":"as a number"}`, chatID)))
}

func TestInboundSeedPhoneIsInvalid(t *testing.T) {
	e, ws := setup(t, 10)
	rec := e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14151231234","text":"lorem ipsum"}`)
	b := wantError(t, rec, http.StatusBadRequest, wagate.EINVALID, `field "phone": "+14151231234" is not a valid phone number in US`)
	if strings.Contains(b.Message, "unknown field") {
		t.Errorf("message %q names unknown fields, but there are none", b.Message)
	}
	if got := e.balance(ws); got != 10 {
		t.Errorf("balance = %d, want 10", got)
	}
}

func TestInboundPhoneFormats(t *testing.T) {
	e, ws := setup(t, 10)
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"4915112345678","text":"hallo"}`))
	m := e.messages(ws)[0]
	if m.JID != "4915112345678@s.whatsapp.net" {
		t.Errorf("JID = %q, want 4915112345678@s.whatsapp.net", m.JID)
	}
	// Sending to a new phone created its chat, named after the number.
	chats, err := e.db.ListChats(t.Context(), ws.ID, "+4915112345678")
	if err != nil || len(chats) != 1 || chats[0].ID != m.ChatID {
		t.Errorf("chats named +4915112345678 = %v, %v; want the message's chat %d", chats, err, m.ChatID)
	}
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+1 (415) 555-2671","text":"punctuation"}`))
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"0049 151 12345678","text":"00 prefix"}`))

	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"015112345678","text":"hallo"}`),
		http.StatusBadRequest, wagate.EINVALID, `field "phone": "015112345678" looks like a national number`, "+4915112345678")
}

// TestInboundAnswers walks the 400, 404, 403, 413 and 415 rows of SPEC §1's
// answer table on one workspace.
func TestInboundAnswers(t *testing.T) {
	e, ws := setup(t, 100)
	e.chat(ws, acctPhone, "+4915112345679", "Team")
	disabled := e.workspace("Off", 10)
	mustStatus(t, e.do(http.MethodPatch, "/api/v1/workspaces/"+disabled.ID+"/webhook", disabled.Owner, `{"enabled":false}`), http.StatusOK)

	ok := `{"action":"send","phone":"+14155552671","text":"hi"}`
	big := `{"action":"send","phone":"+14155552671","text":"` + strings.Repeat("x", 64<<10) + `"}`
	for _, tc := range []struct {
		name    string
		token   string
		body    string
		headers []string
		status  int
		code    string
		parts   []string
	}{
		{"accepted", ws.Inbound, ok, nil, 200, "", nil},
		{"charset", ws.Inbound, ok, []string{"Content-Type", "application/json; charset=UTF-8"}, 200, "", nil},
		{"plus json", ws.Inbound, ok, []string{"Content-Type", "application/vnd.wagate+json"}, 200, "", nil},
		{"no content type", ws.Inbound, ok, []string{"Content-Type", ""}, 200, "", nil},
		{"unknown field alone", ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi","priority":"high"}`, nil, 200, "", nil},

		{"bad json", ws.Inbound, `{"action":"send",}`, nil, 400, wagate.EINVALID, []string{"request body is not valid JSON: invalid character '}'", "at offset 18", `send a JSON object like {"action":"send",`}},
		{"empty body", ws.Inbound, ` `, nil, 400, wagate.EINVALID, []string{"request body is empty"}},
		{"array", ws.Inbound, `[1,2]`, nil, 400, wagate.EINVALID, []string{"request body is a JSON array, not an object"}},
		{"trailing data", ws.Inbound, ok + `x`, nil, 400, wagate.EINVALID, []string{"not valid JSON"}},
		{"not utf8", ws.Inbound, "{\"action\":\"send\",\"phone\":\"+14155552671\",\"text\":\"\xff\"}", nil, 400, wagate.EINVALID, []string{"not valid UTF-8", "offset 48"}},
		{"missing action", ws.Inbound, `{"phone":"+14155552671","text":"hi"}`, nil, 400, wagate.EINVALID, []string{`missing field "action"`, `"action":"send"`}},
		{"other action", ws.Inbound, `{"action":"receive","phone":"+14155552671","text":"hi"}`, nil, 400, wagate.EINVALID, []string{`field "action" is "receive"`, `only supported action is "send"`}},
		{"action type", ws.Inbound, `{"action":1,"phone":"+14155552671","text":"hi"}`, nil, 400, wagate.EINVALID, []string{`field "action" must be a JSON string, not a number; put the value in quotes, e.g. "action":"send"`}},
		{"missing text", ws.Inbound, `{"action":"send","phone":"+14155552671"}`, nil, 400, wagate.EINVALID, []string{`missing field "text"`}},
		{"empty text", ws.Inbound, `{"action":"send","phone":"+14155552671","text":""}`, nil, 400, wagate.EINVALID, []string{`field "text" is empty`, "file_url"}},
		{"text type", ws.Inbound, `{"action":"send","phone":"+14155552671","text":["a"]}`, nil, 400, wagate.EINVALID, []string{`field "text" must be a JSON string, not an array`}},
		{"text too long", ws.Inbound, `{"action":"send","phone":"+14155552671","text":"` + strings.Repeat("é", 4097) + `"}`, nil, 400, wagate.EINVALID, []string{`field "text" has 4097 characters; the limit is 4096`}},
		{"file_url scheme", ws.Inbound, `{"action":"send","phone":"+14155552671","text":"","file_url":"ftp://example.com/a.png","file_name":"a.png"}`, nil, 400, wagate.EINVALID, []string{`field "file_url" has scheme "ftp"`}},
		{"file_url relative", ws.Inbound, `{"action":"send","phone":"+14155552671","text":"","file_url":"/a.png","file_name":"a.png"}`, nil, 400, wagate.EINVALID, []string{`field "file_url" is not an absolute URL`}},
		{"file_url no host", ws.Inbound, `{"action":"send","phone":"+14155552671","text":"","file_url":"https:///a.png","file_name":"a.png"}`, nil, 400, wagate.EINVALID, []string{`field "file_url" has no host`}},
		{"file_name missing", ws.Inbound, `{"action":"send","phone":"+14155552671","text":"","file_url":"https://example.com/a.png"}`, nil, 400, wagate.EINVALID, []string{`missing field "file_name"`, `required with "file_url"`}},
		{"file_name path", ws.Inbound, `{"action":"send","phone":"+14155552671","text":"","file_url":"https://example.com/a.png","file_name":"../a.png"}`, nil, 400, wagate.EINVALID, []string{`field "file_name" "../a.png" contains a path separator`}},
		{"file_name long", ws.Inbound, `{"action":"send","phone":"+14155552671","text":"","file_url":"https://example.com/a.png","file_name":"` + strings.Repeat("a", 256) + `"}`, nil, 400, wagate.EINVALID, []string{`field "file_name" has 256 bytes; the limit is 255, so shorten the name`}},
		{"no recipient", ws.Inbound, `{"action":"send","text":"hi"}`, nil, 400, wagate.EINVALID, []string{`missing field "phone" (or chat_id, jid, chat_name)`}},
		{"empty recipient", ws.Inbound, `{"action":"send","text":"hi","phone":""}`, nil, 400, wagate.EINVALID, []string{`missing field "phone" (or chat_id, jid, chat_name)`, `("phone" was empty)`}},
		{"unknown chat", ws.Inbound, `{"action":"send","chat_id":"77234","text":"hi"}`, nil, 400, wagate.EINVALID, []string{"chat_id 77234 is not a chat of this workspace"}},
		{"chat_id type", ws.Inbound, `{"action":"send","chat_id":true,"text":"hi"}`, nil, 400, wagate.EINVALID, []string{`field "chat_id" must be the positive integer id of a chat`, "not true"}},
		{"chat_id fraction", ws.Inbound, `{"action":"send","chat_id":1.5,"text":"hi"}`, nil, 400, wagate.EINVALID, []string{`field "chat_id" must be the positive integer id`}},
		{"chat_id letters", ws.Inbound, `{"action":"send","chat_id":"12a","text":"hi"}`, nil, 400, wagate.EINVALID, []string{`field "chat_id" must be the positive integer id`}},
		{"bad jid", ws.Inbound, `{"action":"send","jid":"12345","text":"hi"}`, nil, 400, wagate.EINVALID, []string{`field "jid": "12345" is not a JID`}},
		{"bad jid server", ws.Inbound, `{"action":"send","jid":"1@example.com","text":"hi"}`, nil, 400, wagate.EINVALID, []string{`field "jid": "1@example.com" has server "example.com"`}},
		{"bad phone", ws.Inbound, `{"action":"send","phone":"+1 415 123 1234","text":"hi"}`, nil, 400, wagate.EINVALID, []string{`field "phone": "+1 415 123 1234" is not a valid phone number in US`}},
		{"bad account phone", ws.Inbound, `{"action":"send","phone":"+14155552671","whatsapp_account_phone":"abc","text":"hi"}`, nil, 400, wagate.EINVALID, []string{`field "whatsapp_account_phone": "abc" has a character 'a'`}},
		{"long idempotency key", ws.Inbound, ok, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, wagate.EINVALID, []string{"Idempotency-Key header has 256 characters; the limit is 255, so use a shorter key"}},

		{"too large", ws.Inbound, big, nil, 413, wagate.ETOOLARGE, []string{"larger than 64 KiB"}},
		{"form", ws.Inbound, `action=send&phone=%2B14155552671&text=hi`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, wagate.EMEDIATYPE, []string{`Content-Type "application/x-www-form-urlencoded" is not supported`, "application/json"}},
		{"multipart", ws.Inbound, "--x\r\n\r\n--x--", []string{"Content-Type", "multipart/form-data; boundary=x"}, 415, wagate.EMEDIATYPE, []string{`"multipart/form-data" is not supported`}},
		{"text html", ws.Inbound, ok, []string{"Content-Type", "text/html"}, 415, wagate.EMEDIATYPE, []string{`"text/html" is not supported`, "application/json"}},
		{"latin1", ws.Inbound, ok, []string{"Content-Type", "application/json; charset=iso-8859-1"}, 415, wagate.EMEDIATYPE, []string{`charset "iso-8859-1" is not supported`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.send(tc.token, tc.body, tc.headers...)
			if tc.status == 200 {
				accepted(t, rec)
				return
			}
			wantError(t, rec, tc.status, tc.code, tc.parts...)
		})
	}

	// The two answers whose whole body SPEC fixes (the error code is the
	// one extra field it allows).
	for _, tc := range []struct {
		name, token, want string
	}{
		{"unknown token", strings.Repeat("A", 43), `{"status":404,"data":{},"message":"Webhook not found","error":"not_found"}`},
		{"odd token", "not-a-token", `{"status":404,"data":{},"message":"Webhook not found","error":"not_found"}`},
		{"disabled", disabled.Inbound, `{"status":403,"data":{},"message":"Webhook is disabled","error":"webhook_disabled"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.send(tc.token, ok)
			if got := strings.TrimSpace(rec.Body.String()); got != tc.want {
				t.Errorf("body = %s, want %s", got, tc.want)
			}
			if tc.token == disabled.Inbound {
				mustStatus(t, rec, http.StatusForbidden)
			} else {
				mustStatus(t, rec, http.StatusNotFound)
			}
		})
	}

	for _, path := range []string{"/inbound/" + ws.Inbound + "/", "/inbound/" + ws.Inbound + "/x", "/inbound/"} {
		rec := e.do(http.MethodPost, path, "", ok)
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != 404 || got != `{"status":404,"data":{},"message":"Webhook not found","error":"not_found"}` {
			t.Errorf("POST %s: %d %s", path, rec.Code, got)
		}
	}

	// A GET on the inbound URL is a 405 in the same envelope.
	wantError(t, e.do(http.MethodGet, "/inbound/"+ws.Inbound, "", ""), http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
}

func TestInboundBodyLimitIsExact(t *testing.T) {
	e, ws := setup(t, 10)
	// Pad a valid request with spaces to exactly 64 KiB: accepted.
	req := `{"action":"send","phone":"+14155552671","text":"hi"}`
	body := req + strings.Repeat(" ", 64<<10-len(req))
	accepted(t, e.send(ws.Inbound, body))
	wantError(t, e.send(ws.Inbound, body+" "), http.StatusRequestEntityTooLarge, wagate.ETOOLARGE)

	// Without a Content-Length the limit holds as well: the read stops at
	// 64 KiB + 1 byte.
	rec := e.sendChunked(ws.Inbound, body+"  ")
	wantError(t, rec, http.StatusRequestEntityTooLarge, wagate.ETOOLARGE)
}

func TestInboundCredits(t *testing.T) {
	e, ws := setup(t, 1)
	text := `{"action":"send","phone":"+14155552671","text":"hi","file_url":"https://example.com/a.pdf","file_name":"a.pdf"}`
	wantError(t, e.send(ws.Inbound, text), http.StatusPaymentRequired, wagate.ECREDITS, "needs 2 credits", "has 1 left")
	if got := e.balance(ws); got != 1 {
		t.Errorf("balance after a 402 = %d, want 1", got)
	}
	if msgs := e.messages(ws); len(msgs) != 0 {
		t.Errorf("messages after a 402 = %d, want none", len(msgs))
	}
	if refs := e.waker.Refs(); len(refs) != 0 {
		t.Errorf("Wake after a 402: %v", refs)
	}
	// A file alone costs 1 and fits.
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"","file_url":"https://example.com/a.pdf","file_name":"a.pdf"}`))
	if got := e.balance(ws); got != 0 {
		t.Errorf("balance = %d, want 0", got)
	}
}

func TestInboundUnknownFieldHints(t *testing.T) {
	e, ws := setup(t, 10)
	rec := e.send(ws.Inbound, `{"action":"send","phone_number":"+14155552671","text":"hi"}`)
	b := wantError(t, rec, http.StatusBadRequest, wagate.EINVALID)
	want := `missing field "phone" (or chat_id, jid, chat_name): say who receives the message, e.g. "phone":"+14155552671"; unknown field "phone_number"; did you mean "phone"?`
	if b.Message != want {
		t.Errorf("message = %q\nwant      %q", b.Message, want)
	}

	for _, tc := range []struct{ field, hint string }{
		{"message", `unknown field "message"; did you mean "text"?`},
		{"body", `unknown field "body"; did you mean "text"?`},
		{"account_phone", `unknown field "account_phone"; did you mean "whatsapp_account_phone"?`},
		{"chatid", `unknown field "chatid"; did you mean "chat_id"?`},
		{"chatId", `unknown field "chatId"; did you mean "chat_id"?`},
		{"filename", `unknown field "filename"; did you mean "file_name"?`},
		{"url", `unknown field "url"; did you mean "file_url"?`},
		{"file", `unknown field "file"; did you mean "file_url"?`},
		{"Phone", `unknown field "Phone"; did you mean "phone"?`},
		{"phnoe", `unknown field "phnoe"; did you mean "phone"?`},
		{"chat_nme", `unknown field "chat_nme"; did you mean "chat_name"?`},
		{"zzzzzz", `unknown field "zzzzzz" (ignored)`},
	} {
		t.Run(tc.field, func(t *testing.T) {
			// The request fails for another reason (no action), so the
			// hint is added to the message.
			rec := e.send(ws.Inbound, fmt.Sprintf(`{%q:"x","text":"hi","phone":"+14155552671"}`, tc.field))
			wantError(t, rec, http.StatusBadRequest, wagate.EINVALID, `missing field "action"`, "; "+tc.hint)
		})
	}
}

func TestInboundConflictingRecipients(t *testing.T) {
	e, ws := setup(t, 10)
	chatID := e.chat(ws, acctPhone, "+4915112345679", "Team")
	for _, tc := range []struct {
		name, body string
		parts      []string
	}{
		{"phone and jid", `{"action":"send","text":"hi","phone":"+14155552671","jid":"4915112345679@s.whatsapp.net"}`,
			[]string{"conflicting recipients:", `jid "4915112345679@s.whatsapp.net" is 4915112345679@s.whatsapp.net`, `phone "+14155552671" is 14155552671@s.whatsapp.net`}},
		{"chat_id and phone", fmt.Sprintf(`{"action":"send","text":"hi","chat_id":%q,"phone":"+14155552671"}`, chatID),
			[]string{"conflicting recipients:", "chat_id " + chatID + " is 4915112345679@s.whatsapp.net", `phone "+14155552671" is 14155552671@s.whatsapp.net`}},
		{"chat_id and chat_name", fmt.Sprintf(`{"action":"send","text":"hi","chat_id":%q,"chat_name":"Other"}`, chatID),
			[]string{"conflicting recipients:", "chat_id " + chatID + ` is the chat named "Team", but chat_name is "Other"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.send(ws.Inbound, tc.body), http.StatusBadRequest, wagate.EINVALID, tc.parts...)
		})
	}
	// Several kinds that agree are fine.
	accepted(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","text":"hi","chat_id":%q,"chat_name":"Team","phone":"+49 151 12345679","jid":"4915112345679@c.us"}`, chatID)))
	if m := e.messages(ws)[0]; fmt.Sprint(m.ChatID) != chatID {
		t.Errorf("chat = %d, want %s", m.ChatID, chatID)
	}
}

func TestInboundChatName(t *testing.T) {
	e, ws := setup(t, 10)
	e.account(ws, "+14155550100")
	e.chat(ws, acctPhone, "+4915112345679", "Team")
	e.chat(ws, "+14155550100", "+4915112345679", "Team") // same person, other account
	solo := e.chat(ws, "+14155550100", "+14085550123", "Solo")

	wantError(t, e.send(ws.Inbound, `{"action":"send","text":"hi","chat_name":"Nobody"}`),
		http.StatusBadRequest, wagate.EINVALID, `chat_name "Nobody" matches no chat of this workspace`)
	wantError(t, e.send(ws.Inbound, `{"action":"send","text":"hi","chat_name":"Team"}`),
		http.StatusBadRequest, wagate.EINVALID, `chat_name "Team" is shared by 2 chats of this workspace`, "use chat_id")

	accepted(t, e.send(ws.Inbound, `{"action":"send","text":"hi","chat_name":"Solo"}`))
	m := e.messages(ws)[0]
	if fmt.Sprint(m.ChatID) != solo || m.AccountPhone != "+14155550100" {
		t.Errorf("message went to chat %d from %s, want chat %s from +14155550100", m.ChatID, m.AccountPhone, solo)
	}
}

func TestInboundAccountChoice(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme", 100)
	const first, second = "+15105566777", "+14155550100"
	e.account(ws, first)
	e.clock.Advance(time.Minute)
	e.account(ws, second) // connected later
	chatOfFirst := e.chat(ws, first, "+4915112345679", "Team")

	lastFrom := func(t *testing.T, body string) string {
		t.Helper()
		accepted(t, e.send(ws.Inbound, body))
		return e.messages(ws)[0].AccountPhone
	}
	if got := lastFrom(t, `{"action":"send","text":"hi","phone":"+14155552671"}`); got != second {
		t.Errorf("default account = %s, want the most recently connected %s", got, second)
	}
	if got := lastFrom(t, `{"action":"send","text":"hi","phone":"+14155552671","whatsapp_account_phone":"1 510 556 6777"}`); got != first {
		t.Errorf("whatsapp_account_phone chose %s, want %s", got, first)
	}
	if got := lastFrom(t, fmt.Sprintf(`{"action":"send","text":"hi","chat_id":%s,"whatsapp_account_phone":%q}`, chatOfFirst, second)); got != first {
		t.Errorf("chat_id with another whatsapp_account_phone sent from %s, want the chat's %s", got, first)
	}

	wantError(t, e.send(ws.Inbound, `{"action":"send","text":"hi","phone":"+14155552671","whatsapp_account_phone":"+12025550143"}`),
		http.StatusBadRequest, wagate.EINVALID, "whatsapp_account_phone +12025550143 is not an account of this workspace", "active accounts: +14155550100, +15105566777")

	mustStatus(t, e.do(http.MethodPatch, "/api/v1/workspaces/"+ws.ID+"/accounts/"+second, ws.Owner, `{"active":false}`), http.StatusOK)
	if got := lastFrom(t, `{"action":"send","text":"hi","phone":"+14155552671"}`); got != first {
		t.Errorf("default account with %s inactive = %s, want %s", second, got, first)
	}
	wantError(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","text":"hi","phone":"+14155552671","whatsapp_account_phone":%q}`, second)),
		http.StatusBadRequest, wagate.EINVALID, "whatsapp_account_phone +14155550100 is not active", "inactive: +14155550100")

	mustStatus(t, e.do(http.MethodPatch, "/api/v1/workspaces/"+ws.ID+"/accounts/%2B15105566777", ws.Owner, `{"active":false}`), http.StatusOK)
	wantError(t, e.send(ws.Inbound, `{"action":"send","text":"hi","phone":"+14155552671"}`),
		http.StatusBadRequest, wagate.EINVALID, "this workspace has no active WhatsApp account; connect one")
	wantError(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","text":"hi","chat_id":%s}`, chatOfFirst)),
		http.StatusBadRequest, wagate.EINVALID, "chat "+chatOfFirst+" belongs to account +15105566777, which is not active")
}

func TestInboundRegenerateAndDisable(t *testing.T) {
	e, ws := setup(t, 10)
	ok := `{"action":"send","phone":"+14155552671","text":"hi"}`
	accepted(t, e.send(ws.Inbound, ok))

	var hook struct {
		URL     string `json:"url"`
		Enabled bool   `json:"enabled"`
	}
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/webhook/regenerate", ws.Owner, ""), http.StatusOK, &hook)
	newToken := strings.TrimPrefix(hook.URL, "http://wagate.test/inbound/")
	if newToken == ws.Inbound || len(newToken) != 43 || !hook.Enabled {
		t.Fatalf("regenerated webhook = %+v", hook)
	}
	wantError(t, e.send(ws.Inbound, ok), http.StatusNotFound, wagate.ENOTFOUND, "Webhook not found")
	accepted(t, e.send(newToken, ok))

	mustDecode(t, e.do(http.MethodPatch, "/api/v1/workspaces/"+ws.ID+"/webhook", ws.Owner, `{"enabled":false}`), http.StatusOK, &hook)
	if hook.Enabled || !strings.HasSuffix(hook.URL, newToken) {
		t.Fatalf("disabled webhook = %+v", hook)
	}
	wantError(t, e.send(newToken, ok), http.StatusForbidden, wagate.EDISABLED, "Webhook is disabled")

	mustDecode(t, e.do(http.MethodPatch, "/api/v1/workspaces/"+ws.ID+"/webhook", ws.Owner, `{"enabled":true}`), http.StatusOK, &hook)
	if !hook.Enabled || !strings.HasSuffix(hook.URL, newToken) {
		t.Fatalf("enabled webhook = %+v", hook)
	}
	accepted(t, e.send(newToken, ok))
}

func TestInboundIdempotency(t *testing.T) {
	e, ws := setup(t, 10)
	body := `{"action":"send","phone":"+14155552671","text":"once"}`
	first := e.send(ws.Inbound, body, "Idempotency-Key", "order-42")
	id := accepted(t, first)
	if first.Header().Get("Idempotent-Replayed") != "" {
		t.Errorf("first answer has Idempotent-Replayed")
	}
	again := e.send(ws.Inbound, body, "Idempotency-Key", "order-42")
	if got := accepted(t, again); got != id {
		t.Errorf("replay answered %s, want %s", got, id)
	}
	if again.Body.String() != first.Body.String() {
		t.Errorf("replay body %s differs from %s", again.Body, first.Body)
	}
	if again.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay lacks Idempotent-Replayed: true")
	}
	if got := e.balance(ws); got != 9 {
		t.Errorf("balance = %d, want 9 (charged once)", got)
	}
	if n := len(e.messages(ws)); n != 1 {
		t.Errorf("messages = %d, want 1", n)
	}
	if n := len(e.waker.Refs()); n != 1 {
		t.Errorf("Wake calls = %d, want 1 (a replay queues nothing)", n)
	}

	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"twice"}`, "Idempotency-Key", "order-42"),
		http.StatusUnprocessableEntity, wagate.EIDEMPOTENCY, "Idempotency-Key", "different body")

	// A retry gets its first answer even when a check would now fail: the
	// account that sent it was switched off since.
	mustStatus(t, e.do(http.MethodPatch, "/api/v1/workspaces/"+ws.ID+"/accounts/"+acctPhone, ws.Owner, `{"active":false}`), http.StatusOK)
	late := e.send(ws.Inbound, body, "Idempotency-Key", "order-42")
	if got := accepted(t, late); got != id || late.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay after the account was switched off = %s (replayed %q), want %s replayed", got, late.Header().Get("Idempotent-Replayed"), id)
	}
	attempts, err := e.db.ListAttempts(context.Background(), ws.ID, 1)
	if err != nil || len(attempts) != 1 || attempts[0].MessageID != id || attempts[0].Credits != 0 || attempts[0].Code != "" {
		t.Errorf("replay attempt = %+v, %v; want message %s, 0 credits, no error", attempts, err, id)
	}
	if got := e.balance(ws); got != 9 {
		t.Errorf("balance = %d after replays, want 9", got)
	}

	// Keys are scoped to the workspace.
	other := e.workspace("Other", 10)
	e.account(other, acctPhone)
	if got := accepted(t, e.send(other.Inbound, body, "Idempotency-Key", "order-42")); got == id {
		t.Errorf("another workspace's request replayed this one's message")
	}
}

func TestInboundRateLimit(t *testing.T) {
	e, ws := setup(t, 100, withBurst(2))
	ok := `{"action":"send","phone":"+14155552671","text":"hi"}`
	accepted(t, e.send(ws.Inbound, ok))
	accepted(t, e.send(ws.Inbound, ok))
	rec := e.send(ws.Inbound, ok)
	wantError(t, rec, http.StatusTooManyRequests, wagate.ERATELIMIT, "too many requests for this inbound URL", "retry after 1 s")
	if got := rec.Header().Get("Retry-After"); got != "1" { // 1 request per second
		t.Errorf("Retry-After = %q, want 1", got)
	}

	// The budget belongs to the workspace: a new URL does not reset it.
	var hook struct {
		URL string `json:"url"`
	}
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/webhook/regenerate", ws.Owner, ""), http.StatusOK, &hook)
	wantError(t, e.send(strings.TrimPrefix(hook.URL, "http://wagate.test/inbound/"), ok), http.StatusTooManyRequests, wagate.ERATELIMIT)

	// Other workspaces have their own budget.
	other := e.workspace("Other", 10)
	e.account(other, acctPhone)
	accepted(t, e.send(other.Inbound, ok))

	// Time refills the bucket.
	e.clock.Advance(time.Second)
	accepted(t, e.send(strings.TrimPrefix(hook.URL, "http://wagate.test/inbound/"), ok))
}

func TestInboundDrain(t *testing.T) {
	e, ws := setup(t, 10)
	e.srv.Drain()
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi"}`),
		http.StatusServiceUnavailable, wagate.EUNAVAILABLE, "shutting down")
	if n := len(e.messages(ws)); n != 0 {
		t.Errorf("messages after drain = %d, want 0", n)
	}
	if got := e.balance(ws); got != 10 {
		t.Errorf("balance = %d, want 10", got)
	}
	// Admin writes are refused, reads still work.
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"support"}`),
		http.StatusServiceUnavailable, wagate.EUNAVAILABLE, "shutting down")
	mustStatus(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID, ws.Owner, ""), http.StatusOK)
	wantError(t, e.do(http.MethodGet, "/readyz", "", ""), http.StatusServiceUnavailable, wagate.EUNAVAILABLE, "shutting down")
	// The refused call is in the attempt log.
	list, err := e.db.ListAttempts(t.Context(), ws.ID, 1)
	if err != nil || len(list) != 1 || list[0].Code != wagate.EUNAVAILABLE {
		t.Errorf("last attempt = %+v, %v; want the 503", list, err)
	}
}

// countingReader is an endless request body that counts what was read.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	r.n += int64(len(p))
	return len(p), nil
}

// TestInboundTooLargeIsNotReadWhole: a 413 reads no more than the limit,
// whether the client announced the size or streams it.
func TestInboundTooLargeIsNotReadWhole(t *testing.T) {
	e, ws := setup(t, 10)
	for _, announced := range []int64{10 << 20, -1} {
		body := &countingReader{}
		req := httptest.NewRequest(http.MethodPost, "/inbound/"+ws.Inbound, body)
		req.ContentLength = announced
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		checkOpenAPI(t, req, rec)
		wantError(t, rec, http.StatusRequestEntityTooLarge, wagate.ETOOLARGE)
		limit := int64(gateway.InboundBodyLimit + 1)
		if announced > 0 {
			limit = wagate.AttemptBodyLimit // only the head kept for the attempt log
		}
		if body.n > limit+32<<10 { // a reader may ask for one buffer more
			t.Errorf("Content-Length %d: read %d bytes of the body; want about %d at most", announced, body.n, limit)
		}
	}
}

// TestInboundStorageUnavailable: a store that cannot be read or written is
// a 503 that accepts nothing.
func TestInboundStorageUnavailable(t *testing.T) {
	e, ws := setup(t, 10)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi"}`), http.StatusServiceUnavailable, wagate.EUNAVAILABLE)
	if refs := e.waker.Refs(); len(refs) != 0 {
		t.Errorf("Wake without a commit: %v", refs)
	}
}

// TestInboundTransportRecipientCheck: a group cannot be reached through a
// cloudapi account, and that is a 400 at once, not a failed send later.
func TestInboundTransportRecipientCheck(t *testing.T) {
	e, ws := setup(t, 10)
	mustStatus(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner,
		`{"phone":"+14155550123","transport":"cloudapi","settings":{"phone_number_id":"1","access_token":"t"}}`), http.StatusCreated)
	wantError(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+14155550123","jid":"120363025246125486@g.us","text":"hi"}`),
		http.StatusBadRequest, wagate.EINVALID, "cloudapi transport cannot send to 120363025246125486@g.us")
	accepted(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+14155550123","phone":"+14155552671","text":"hi"}`))
	// The dryrun account still reaches groups.
	accepted(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"`+acctPhone+`","jid":"120363025246125486@g.us","text":"hi"}`))
}

// The 200 body is the compact one of SPEC §1, and indented for ?pretty as
// echo's other answers are.
func TestInboundAcceptedBodyForm(t *testing.T) {
	e, ws := setup(t, 10)
	const body = `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14155552671","text":"lorem ipsum"}`
	rec := e.send(ws.Inbound, body)
	id := accepted(t, rec)
	if want := `{"status":"success","data":{"message_id":"` + id + `"}}` + "\n"; rec.Body.String() != want {
		t.Errorf("body = %q, want %q", rec.Body.String(), want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	rec = e.do(http.MethodPost, "/inbound/"+ws.Inbound+"?pretty", "", body)
	id = accepted(t, rec)
	if want := "{\n  \"status\": \"success\",\n  \"data\": {\n    \"message_id\": \"" + id + "\"\n  }\n}\n"; rec.Body.String() != want {
		t.Errorf("?pretty body = %q, want %q", rec.Body.String(), want)
	}
}
