package gateway_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

func TestAdminAuth(t *testing.T) {
	e := newEnv(t)
	a := e.workspace("A", 10)
	b := e.workspace("B", 10)
	var support struct {
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+a.ID+"/tokens", a.Owner, `{"role":"support"}`), http.StatusCreated, &support)
	if support.Role != "support" || len(support.Token) != 43 {
		t.Fatalf("support token = %+v", support)
	}

	wsA := "/api/v1/workspaces/" + a.ID
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		code                            string
		parts                           []string
	}{
		{"no token", "GET", wsA, "", "", 401, wagate.EUNAUTHORIZED, []string{"missing admin token", "Authorization: Bearer"}},
		{"wrong token", "GET", wsA, strings.Repeat("x", 43), "", 401, wagate.EUNAUTHORIZED, []string{"unknown admin token"}},
		{"inbound token is not an admin token", "GET", wsA, a.Inbound, "", 401, wagate.EUNAUTHORIZED, nil},
		{"owner of another workspace", "GET", wsA, b.Owner, "", 403, wagate.EFORBIDDEN, []string{"another workspace"}},
		{"owner of another workspace, unknown id", "GET", "/api/v1/workspaces/ws_nope", b.Owner, "", 403, wagate.EFORBIDDEN, nil},
		{"support writes", "POST", wsA + "/accounts", support.Token, `{"phone":"+15105566777"}`, 403, wagate.EFORBIDDEN, []string{"a support token can only read"}},
		{"support regenerates", "POST", wsA + "/webhook/regenerate", support.Token, "", 403, wagate.EFORBIDDEN, nil},
		{"owner creates a workspace", "POST", "/api/v1/workspaces", a.Owner, `{"name":"C"}`, 403, wagate.EFORBIDDEN, []string{"operator"}},
		{"owner lists workspaces", "GET", "/api/v1/workspaces", a.Owner, "", 403, wagate.EFORBIDDEN, nil},
		{"owner adds credits", "POST", wsA + "/credits", a.Owner, `{"amount":5}`, 403, wagate.EFORBIDDEN, nil},
		{"support reads", "GET", wsA, support.Token, "", 200, "", nil},
		{"support reads attempts", "GET", wsA + "/webhook/attempts", support.Token, "", 200, "", nil},
		{"owner reads", "GET", wsA, a.Owner, "", 200, "", nil},
		{"operator reads", "GET", wsA, e.operator, "", 200, "", nil},
		{"operator does an owner's write", "POST", wsA + "/accounts", e.operator, `{"phone":"+15105566777"}`, 201, "", nil},
		{"operator, unknown workspace", "GET", "/api/v1/workspaces/ws_nope", e.operator, "", 404, wagate.ENOTFOUND, []string{`workspace "ws_nope" not found`}},
		{"lower-case scheme", "GET", wsA, "", "", 200, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.name == "lower-case scheme" {
				headers = []string{"Authorization", "bearer " + a.Owner}
			}
			rec := e.do(tc.method, tc.path, tc.token, tc.body, headers...)
			if tc.status < 300 {
				mustStatus(t, rec, tc.status)
				return
			}
			wantError(t, rec, tc.status, tc.code, tc.parts...)
			if tc.status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	var k []string
	for name := range m {
		k = append(k, name)
	}
	sort.Strings(k)
	return k
}

func wantKeys(t *testing.T, what string, raw json.RawMessage, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := keys(t, raw); !reflect.DeepEqual(got, want) {
		t.Errorf("%s keys = %v, want %v", what, got, want)
	}
}

func TestAdminObjects(t *testing.T) {
	e := newEnv(t)
	rec := e.do(http.MethodPost, "/api/v1/workspaces", e.operator, `{"name":"Acme","credits":7}`)
	var created map[string]json.RawMessage
	mustDecode(t, rec, http.StatusCreated, &created)
	var ws workspace
	_ = json.Unmarshal(created["id"], &ws.ID)
	_ = json.Unmarshal(created["owner_token"], &ws.Owner)
	wantKeys(t, "created workspace", rec.Body.Bytes(), "id", "name", "credits", "granted", "low_credits", "webhook", "accounts", "created_at", "owner_token")
	wantKeys(t, "webhook", created["webhook"], "url", "enabled", "created_at")
	if string(created["accounts"]) != "[]" || string(created["credits"]) != "7" || string(created["created_at"]) != `"2025-03-14T15:09:26Z"` {
		t.Errorf("created workspace = %s", rec.Body)
	}
	if !strings.HasPrefix(ws.ID, "ws_") || len(ws.Owner) != 43 {
		t.Fatalf("id %q, owner token %q", ws.ID, ws.Owner)
	}
	base := "/api/v1/workspaces/" + ws.ID

	// An account never shows its settings.
	rec = e.do(http.MethodPost, base+"/accounts", ws.Owner, `{"phone":"+1 510 556 6777","transport":"cloudapi","settings":{"phone_number_id":"123","access_token":"EAAG-secret-access-token"}}`)
	mustStatus(t, rec, http.StatusCreated)
	wantKeys(t, "account", rec.Body.Bytes(), "phone", "transport", "active", "connected_at")
	if strings.Contains(rec.Body.String(), "EAAG") || !strings.Contains(rec.Body.String(), `"phone":"+15105566777"`) {
		t.Errorf("account = %s", rec.Body)
	}
	for _, tc := range []struct{ body, part string }{
		{`{"phone":"+14155550100","transport":"cloudapi"}`, "needs the settings phone_number_id and access_token; missing: phone_number_id, access_token"},
		{`{"phone":"+14155550100","transport":"whatsmeow"}`, `field "transport": "whatsmeow" is not a transport of this server; use one of "cloudapi", "dryrun", "whatsapp" (default "dryrun")`},
		{`{"phone":"015112345678"}`, `field "phone": "015112345678" looks like a national number`},
		{`{"phone":"+14155550100","colour":"red"}`, `unknown field "colour"; send a JSON object with "phone", "transport", "settings"`},
		{`{"phone":14155550100}`, `field "phone" must be a string, not a JSON number`},
		{`{}`, `missing field "phone"`},
	} {
		wantError(t, e.do(http.MethodPost, base+"/accounts", ws.Owner, tc.body), http.StatusBadRequest, wagate.EINVALID, tc.part)
	}
	wantError(t, e.do(http.MethodPost, base+"/accounts", ws.Owner, `{"phone":"+15105566777"}`), http.StatusConflict, wagate.ECONFLICT)
	mustStatus(t, e.do(http.MethodPost, base+"/accounts", ws.Owner, `{"phone":"+14155550100"}`), http.StatusCreated)

	var accounts struct {
		Accounts []json.RawMessage `json:"accounts"`
	}
	mustDecode(t, e.do(http.MethodGet, base+"/accounts", ws.Owner, ""), http.StatusOK, &accounts)
	if len(accounts.Accounts) != 2 || strings.Contains(string(accounts.Accounts[0])+string(accounts.Accounts[1]), "secret") {
		t.Errorf("accounts = %s", accounts.Accounts)
	}

	// Chats: ids are strings.
	rec = e.do(http.MethodPost, base+"/chats", ws.Owner, `{"account_phone":"+15105566777","jid":"120363025246125486@g.us","name":"Group"}`)
	mustStatus(t, rec, http.StatusCreated)
	wantKeys(t, "chat", rec.Body.Bytes(), "id", "account_phone", "jid", "name", "group", "created_at")
	var chat struct {
		ID    any  `json:"id"`
		Group bool `json:"group"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &chat)
	if _, ok := chat.ID.(string); !ok || !chat.Group {
		t.Errorf("chat = %s", rec.Body)
	}
	wantError(t, e.do(http.MethodPost, base+"/chats", ws.Owner, `{"account_phone":"+15105566777","jid":"120363025246125486@g.us","name":"Again"}`), http.StatusConflict, wagate.ECONFLICT)
	for _, tc := range []struct{ body, part string }{
		{`{"account_phone":"+12025550143","phone":"+14155552671"}`, "account_phone +12025550143 is not an account of this workspace"},
		{`{"account_phone":"+15105566777","phone":"+14155552671","jid":"14155552671@s.whatsapp.net"}`, `give "jid" or "phone", not both`},
		{`{"account_phone":"+15105566777"}`, `missing field "jid" or "phone"`},
		{`{"account_phone":"+15105566777","jid":"x@y"}`, `field "jid":`},
	} {
		wantError(t, e.do(http.MethodPost, base+"/chats", ws.Owner, tc.body), http.StatusBadRequest, wagate.EINVALID, tc.part)
	}
	mustStatus(t, e.do(http.MethodPost, base+"/chats", ws.Owner, `{"account_phone":"+15105566777","phone":"+14155552671","name":"Ann"}`), http.StatusCreated)
	var chats struct {
		Chats []struct {
			Name string `json:"name"`
		} `json:"chats"`
	}
	mustDecode(t, e.do(http.MethodGet, base+"/chats?name=Ann", ws.Owner, ""), http.StatusOK, &chats)
	if len(chats.Chats) != 1 || chats.Chats[0].Name != "Ann" {
		t.Errorf("chats named Ann = %+v", chats.Chats)
	}

	// Messages.
	var inbound string
	{
		var w struct {
			Webhook struct {
				URL string `json:"url"`
			} `json:"webhook"`
		}
		mustDecode(t, e.do(http.MethodGet, base, ws.Owner, ""), http.StatusOK, &w)
		inbound = strings.TrimPrefix(w.Webhook.URL, "http://wagate.test/inbound/")
	}
	id := accepted(t, e.send(inbound, `{"action":"send","chat_name":"Ann","text":"hello","file_url":"https://example.com/a.png","file_name":"a.png"}`))
	rec = e.do(http.MethodGet, base+"/messages/"+id, ws.Owner, "")
	mustStatus(t, rec, http.StatusOK)
	wantKeys(t, "message", rec.Body.Bytes(), "id", "status", "account_phone", "chat_id", "jid", "text", "file_url", "file_name", "credits", "error", "tries", "created_at", "sent_at", "next_try_at", "waiting_for", "waiting_reason", "send_at", "delivery", "delivery_at")
	var msg map[string]json.RawMessage
	_ = json.Unmarshal(rec.Body.Bytes(), &msg)
	if string(msg["sent_at"]) != "null" || string(msg["tries"]) != "[]" || string(msg["status"]) != `"queued"` || string(msg["credits"]) != "2" || string(msg["error"]) != `""` || msg["chat_id"][0] != '"' {
		t.Errorf("message = %s", rec.Body)
	}
	wantError(t, e.do(http.MethodGet, base+"/messages/wa_backend:00000000000000000000", ws.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND, "not found")

	var msgs struct {
		Messages []json.RawMessage `json:"messages"`
	}
	mustDecode(t, e.do(http.MethodGet, base+"/messages?status=queued&limit=1000", ws.Owner, ""), http.StatusOK, &msgs)
	if len(msgs.Messages) != 1 {
		t.Errorf("queued messages = %d, want 1", len(msgs.Messages))
	}
	mustDecode(t, e.do(http.MethodGet, base+"/messages?status=sent", ws.Owner, ""), http.StatusOK, &msgs)
	if len(msgs.Messages) != 0 {
		t.Errorf("sent messages = %d, want 0", len(msgs.Messages))
	}
	wantError(t, e.do(http.MethodGet, base+"/messages?status=done", ws.Owner, ""), http.StatusBadRequest, wagate.EINVALID, "use queued, sending, sent or failed")
	wantError(t, e.do(http.MethodGet, base+"/messages?limit=1001", ws.Owner, ""), http.StatusBadRequest, wagate.EINVALID, "limit \"1001\" is not a number from 1 to 1000")

	// Credits (operator), including a negative grant that stops at 0.
	var got struct {
		Credits  int64             `json:"credits"`
		Accounts []json.RawMessage `json:"accounts"`
	}
	mustDecode(t, e.do(http.MethodPost, base+"/credits", e.operator, `{"amount":10}`), http.StatusOK, &got)
	if got.Credits != 15 || len(got.Accounts) != 2 {
		t.Errorf("after +10: %+v, want 15 credits and 2 accounts", got)
	}
	mustDecode(t, e.do(http.MethodPost, base+"/credits", e.operator, `{"amount":-100}`), http.StatusOK, &got)
	if got.Credits != 0 {
		t.Errorf("after -100: %d credits, want 0", got.Credits)
	}
	wantError(t, e.do(http.MethodPost, base+"/credits", e.operator, `{}`), http.StatusBadRequest, wagate.EINVALID, `missing field "amount"`)

	// Tokens.
	wantError(t, e.do(http.MethodPost, base+"/tokens", ws.Owner, `{"role":"operator"}`), http.StatusBadRequest, wagate.EINVALID, `field "role" must be "owner" or "support"`)
	var tok struct {
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	mustDecode(t, e.do(http.MethodPost, base+"/tokens", ws.Owner, `{"role":"owner"}`), http.StatusCreated, &tok)
	mustStatus(t, e.do(http.MethodGet, base, tok.Token, ""), http.StatusOK)

	// Workspaces list (operator) shows accounts too.
	var all struct {
		Workspaces []struct {
			ID       string            `json:"id"`
			Accounts []json.RawMessage `json:"accounts"`
		} `json:"workspaces"`
	}
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces", e.operator, ""), http.StatusOK, &all)
	if len(all.Workspaces) != 1 || all.Workspaces[0].ID != ws.ID || len(all.Workspaces[0].Accounts) != 2 {
		t.Errorf("workspaces = %+v", all.Workspaces)
	}

	// Account switches and deletion.
	wantError(t, e.do(http.MethodPatch, base+"/accounts/+12025550143", ws.Owner, `{"active":false}`), http.StatusNotFound, wagate.ENOTFOUND, "account +12025550143 not found")
	wantError(t, e.do(http.MethodPatch, base+"/accounts/+14155550100", ws.Owner, `{}`), http.StatusBadRequest, wagate.EINVALID, `nothing to change; send one or more of "active"`)
	rec = e.do(http.MethodDelete, base+"/accounts/14155550100", ws.Owner, "")
	mustStatus(t, rec, http.StatusNoContent)
	wantError(t, e.do(http.MethodDelete, base+"/accounts/14155550100", ws.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND)
}

func TestAdminValidation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		body, ct string
		status   int
		code     string
		part     string
	}{
		{`{"name":""}`, "", 400, wagate.EINVALID, `missing field "name"`},
		{`{"name":"x","credits":-1}`, "", 400, wagate.EINVALID, `field "credits" is -1`},
		{`{"name":"x","credits":"5"}`, "", 400, wagate.EINVALID, `field "credits" must be an integer, not a JSON string`},
		{`{"name":"x"`, "", 400, wagate.EINVALID, "the JSON is incomplete"},
		{`{"name":"x"}{}`, "", 400, wagate.EINVALID, "data after the JSON object"},
		{`[]`, "", 400, wagate.EINVALID, "not an object"},
		{`name=x`, "application/x-www-form-urlencoded", 415, wagate.EMEDIATYPE, "application/json"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			var h []string
			if tc.ct != "" {
				h = []string{"Content-Type", tc.ct}
			}
			wantError(t, e.do(http.MethodPost, "/api/v1/workspaces", e.operator, tc.body, h...), tc.status, tc.code, tc.part)
		})
	}
	wantError(t, e.do(http.MethodGet, "/api/v1/nothing", e.operator, ""), http.StatusNotFound, wagate.ENOTFOUND, "no such endpoint")
	wantError(t, e.do(http.MethodDelete, "/api/v1/workspaces", e.operator, ""), http.StatusMethodNotAllowed, "method_not_allowed")
}

// TestCreateWorkspace covers the method `serve --demo` uses.
func TestCreateWorkspace(t *testing.T) {
	e := newEnv(t)
	ws, owner, err := e.srv.CreateWorkspace(t.Context(), "  Demo  ", 100)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Name != "Demo" || ws.Credits != 100 || !ws.Webhook.Enabled || len(ws.Webhook.Token) != 43 || len(owner) != 43 || owner == ws.Webhook.Token {
		t.Errorf("workspace %+v, owner token %q", ws, owner)
	}
	if got := e.srv.InboundURL(ws.Webhook.Token); got != "http://wagate.test/inbound/"+ws.Webhook.Token {
		t.Errorf("InboundURL = %q", got)
	}
	mustStatus(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID, owner, ""), http.StatusOK)
	if _, _, err := e.srv.CreateWorkspace(t.Context(), "", 0); wagate.ErrorCode(err) != wagate.EINVALID {
		t.Errorf("empty name: %v, want EINVALID", err)
	}
}
