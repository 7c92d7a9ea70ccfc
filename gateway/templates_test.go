package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/gateway/api"
)

func templatesPath(ws workspace, rest string) string {
	return "/api/v1/workspaces/" + ws.ID + "/templates" + rest
}

// createTemplate makes a template through the admin API.
func (e *env) createTemplate(ws workspace, body string) api.Template {
	e.t.Helper()
	var out api.Template
	mustDecode(e.t, e.do(http.MethodPost, templatesPath(ws, ""), ws.Owner, body), http.StatusCreated, &out)
	return out
}

// TestTemplateCRUD: an owner creates, reads, lists, changes and deletes a
// template; the answer names the variables its text uses.
func TestTemplateCRUD(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	got := e.createTemplate(ws, `{"name":"order_shipped","text":"Hi {{name | default \"there\"}}, order {{order}} has shipped. {{name}}!"}`)
	if got.Name != "order_shipped" || strings.Join(got.Variables, ",") != "name,order" || got.CloudAPI != nil || got.CreatedAt == nil {
		t.Fatalf("created = %+v; want name, variables name,order, no cloudapi, a created_at", got)
	}
	e.createTemplate(ws, `{"name":"a_first","text":"hello","file_url":"https://example.com/a.pdf","file_name":"a.pdf"}`)

	var list api.TemplateList
	mustDecode(t, e.do(http.MethodGet, templatesPath(ws, ""), ws.Owner, ""), http.StatusOK, &list)
	if len(list.Templates) != 2 || list.Templates[0].Name != "a_first" || list.Templates[1].Name != "order_shipped" {
		t.Fatalf("list = %+v; want a_first, order_shipped (by name)", list.Templates)
	}

	var one api.Template
	mustDecode(t, e.do(http.MethodPatch, templatesPath(ws, "/order_shipped"), ws.Owner, `{"text":"Order {{order}} shipped"}`), http.StatusOK, &one)
	if one.Text != "Order {{order}} shipped" || strings.Join(one.Variables, ",") != "order" {
		t.Fatalf("patched = %+v", one)
	}
	mustDecode(t, e.do(http.MethodGet, templatesPath(ws, "/order_shipped"), ws.Owner, ""), http.StatusOK, &one)
	if one.Text != "Order {{order}} shipped" {
		t.Errorf("read after patch: text %q", one.Text)
	}

	mustStatus(t, e.do(http.MethodDelete, templatesPath(ws, "/order_shipped"), ws.Owner, ""), http.StatusNoContent)
	wantError(t, e.do(http.MethodGet, templatesPath(ws, "/order_shipped"), ws.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND, `template "order_shipped" not found`, "GET …/templates")
	wantError(t, e.do(http.MethodDelete, templatesPath(ws, "/order_shipped"), ws.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND, `"order_shipped"`)
}

// TestTemplateSaveChecks: what cannot be sent is refused when saved, with
// the field and the fix.
func TestTemplateSaveChecks(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	e.createTemplate(ws, `{"name":"taken","text":"x"}`)
	for _, tc := range []struct {
		body  string
		code  string
		parts []string
	}{
		{`{"name":"Order-Shipped","text":"x"}`, wagate.EINVALID, []string{`field "name" has 'O' at character 1`, "lower-case letters, digits"}},
		{`{"name":"","text":"x"}`, wagate.EINVALID, []string{`missing field "name"`}},
		{fmt.Sprintf(`{"name":%q,"text":"x"}`, strings.Repeat("a", 65)), wagate.EINVALID, []string{`field "name" has 65 bytes; the limit is 64`}},
		{`{"name":"bad","text":"Hi {{name"}`, wagate.EINVALID, []string{`field "text": at character 4`, `"{{" is not closed`}},
		{`{"name":"bad","text":"Hi {{ name | upper }}"}`, wagate.EINVALID, []string{`field "text": at character 14`, `only default`}},
		{`{"name":"bad","text":"  "}`, wagate.EINVALID, []string{`field "text" is empty`}},
		{`{"name":"bad","text":"x","file_url":"ftp://example.com/a"}`, wagate.EINVALID, []string{`field "file_url" has scheme "ftp"`}},
		{`{"name":"bad","text":"x","file_url":"https://example.com/a.pdf"}`, wagate.EINVALID, []string{`missing field "file_name"`}},
		{`{"name":"bad","text":"x","file_name":"a.pdf"}`, wagate.EINVALID, []string{`"file_name" is given without "file_url"`}},
		{fmt.Sprintf(`{"name":"bad","text":"%s{{x}}"}`, strings.Repeat("a", 4097)), wagate.EINVALID, []string{`field "text" has 4097 characters without its variables`}},
		{`{"name":"taken","text":"y"}`, wagate.ECONFLICT, []string{`already has a template named "taken"`}},
		{`{"name":"bad","text":"x","cloudapi":{"account_phone":"+14155550100","name":"t","language":"en_US"}}`, wagate.EINVALID, []string{`"cloudapi.account_phone": +14155550100 is not an account of this workspace`}},
	} {
		rec := e.do(http.MethodPost, templatesPath(ws, ""), ws.Owner, tc.body)
		wantError(t, rec, gateway.StatusFor(tc.code), tc.code, tc.parts...)
	}
	// A change is checked as a create is.
	wantError(t, e.do(http.MethodPatch, templatesPath(ws, "/taken"), ws.Owner, `{"text":"{{"}`), http.StatusBadRequest, wagate.EINVALID, `field "text": at character 1`)
}

// TestTemplateLimit: past wagate.TemplateLimit templates, a create is a
// 409 that names the limit.
func TestTemplateLimit(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	for i := range wagate.TemplateLimit {
		e.createTemplate(ws, fmt.Sprintf(`{"name":"t%03d","text":"x"}`, i))
	}
	wantError(t, e.do(http.MethodPost, templatesPath(ws, ""), ws.Owner, `{"name":"one_more","text":"x"}`), http.StatusConflict, wagate.ECONFLICT, "200 templates", "template limit", "delete one")
}

// TestTemplateRoles: support staff read and preview templates; only an
// owner changes them or sends a test.
func TestTemplateRoles(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	e.account(ws, "+14155550100")
	e.createTemplate(ws, `{"name":"hello","text":"Hi {{name}}"}`)
	support := e.createToken(ws, "support", "desk").Token
	mustStatus(t, e.do(http.MethodGet, templatesPath(ws, ""), support, ""), http.StatusOK)
	mustStatus(t, e.do(http.MethodGet, templatesPath(ws, "/hello"), support, ""), http.StatusOK)
	mustStatus(t, e.do(http.MethodPost, templatesPath(ws, "/hello/preview"), support, `{"variables":{"name":"Jane"}}`), http.StatusOK)
	for _, w := range []struct{ method, path, body string }{
		{http.MethodPost, "", `{"name":"x","text":"x"}`},
		{http.MethodPatch, "/hello", `{"text":"x"}`},
		{http.MethodDelete, "/hello", ""},
		{http.MethodPost, "/hello/test", `{"to":"+14155552671","variables":{"name":"Jane"}}`},
	} {
		wantError(t, e.do(w.method, templatesPath(ws, w.path), support, w.body), http.StatusForbidden, wagate.EFORBIDDEN, "needs an owner token")
	}
	other := e.workspace("other", 0)
	wantError(t, e.do(http.MethodGet, templatesPath(ws, ""), other.Owner, ""), http.StatusForbidden, wagate.EFORBIDDEN, "another workspace")
}

// TestTemplatePreview renders without sending: defaults, numbers taken as
// written, a missing variable named.
func TestTemplatePreview(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	e.createTemplate(ws, `{"name":"total","text":"Dear {{ name | default \"Member\" }}, you owe {{amount}}.","file_url":"https://example.com/bill.pdf","file_name":"bill.pdf"}`)
	var out api.TemplatePreview
	mustDecode(t, e.do(http.MethodPost, templatesPath(ws, "/total/preview"), ws.Owner, `{"variables":{"amount":12.50,"name":""}}`), http.StatusOK, &out)
	if out.Text != "Dear Member, you owe 12.50." || out.FileName != "bill.pdf" || out.Credits != 2 {
		t.Fatalf("preview = %+v; want the default, 12.50 as written, the file, 2 credits", out)
	}
	wantError(t, e.do(http.MethodPost, templatesPath(ws, "/total/preview"), ws.Owner, `{"variables":{}}`), http.StatusBadRequest, wagate.EINVALID, `variable "amount" of template "total" has no value and no default`)
	wantError(t, e.do(http.MethodPost, templatesPath(ws, "/total/preview"), ws.Owner, `{"variables":{"amount":true}}`), http.StatusBadRequest, wagate.EINVALID, `variable "amount" in "variables" is a boolean`)
	wantError(t, e.do(http.MethodPost, templatesPath(ws, "/nope/preview"), ws.Owner, `{}`), http.StatusNotFound, wagate.ENOTFOUND, `template "nope" not found`)
	if n := len(e.messages(ws)); n != 0 {
		t.Errorf("a preview stored %d messages", n)
	}
}

// TestTemplateTestSend: a test send is accepted and charged like a call of
// the inbound URL, with the rendered text, and shows in the attempt log.
func TestTemplateTestSend(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	e.account(ws, "+14155550100")
	e.createTemplate(ws, `{"name":"hello","text":"Hi {{name}}"}`)
	var m api.Message
	mustDecode(t, e.do(http.MethodPost, templatesPath(ws, "/hello/test"), ws.Owner, `{"to":"+1 415 555 2671","variables":{"name":"Jane"}}`), http.StatusOK, &m)
	if m.Text != "Hi Jane" || m.JID != "14155552671@s.whatsapp.net" || m.Status != "queued" || m.Credits != 1 {
		t.Fatalf("test message = %+v", m)
	}
	if b := e.balance(ws); b != 9 {
		t.Errorf("balance = %d, want 9", b)
	}
	if stored, err := e.db.FindMessage(t.Context(), ws.ID, m.ID); err != nil || stored.TemplateName != "hello" {
		t.Fatalf("stored = %+v, %v; want a message from template hello", stored, err)
	}
	if refs := e.waker.Refs(); len(refs) != 1 {
		t.Errorf("wakes = %v; want the account woken once", refs)
	}
	var atts struct {
		Attempts []api.Attempt `json:"attempts"`
	}
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts", ws.Owner, ""), http.StatusOK, &atts)
	if len(atts.Attempts) != 1 || atts.Attempts[0].MessageID != m.ID || !strings.Contains(atts.Attempts[0].Body, `"test":"hello"`) {
		t.Errorf("attempts = %+v; want the test send logged", atts.Attempts)
	}

	wantError(t, e.do(http.MethodPost, templatesPath(ws, "/hello/test"), ws.Owner, `{"to":"+1415","variables":{"name":"x"}}`), http.StatusBadRequest, wagate.EINVALID, `field "to"`)
	wantError(t, e.do(http.MethodPost, templatesPath(ws, "/hello/test"), ws.Owner, `{"to":"+14155552671"}`), http.StatusBadRequest, wagate.EINVALID, `variable "name"`)
	wantError(t, e.do(http.MethodPost, templatesPath(ws, "/hello/test"), ws.Owner, `{"to":"+14155552671","account_phone":"+14155550199","variables":{"name":"x"}}`), http.StatusBadRequest, wagate.EINVALID, "account_phone +14155550199 is not an account")
	mustDecode(t, e.do(http.MethodPost, templatesPath(ws, "/hello/test"), ws.Owner, `{"to":"14155552671@s.whatsapp.net","variables":{"name":"Joe"}}`), http.StatusOK, &m)
	if m.Text != "Hi Joe" {
		t.Errorf("test to a JID: text %q", m.Text)
	}
}

// TestInboundTemplate: the inbound URL renders a stored template instead
// of text; every rule of text applies to the rendered text.
func TestInboundTemplate(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	e.account(ws, "+14155550100")
	e.createTemplate(ws, `{"name":"order_shipped","text":"Hi {{name}}, order {{order | default \"?\"}} shipped","file_url":"https://example.com/label.pdf","file_name":"label.pdf"}`)
	e.createTemplate(ws, `{"name":"just_name","text":"{{name}}"}`)

	id := accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","template":"order_shipped","variables":{"name":"Jane","order":1042}}`))
	m, err := e.db.FindMessage(t.Context(), ws.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != "Hi Jane, order 1042 shipped" || m.FileName != "label.pdf" || m.Credits != 2 || m.TemplateName != "order_shipped" {
		t.Fatalf("message = text %q, file %q, credits %d, template %q", m.Text, m.FileName, m.Credits, m.TemplateName)
	}
	// The request's own file wins over the template's.
	id = accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","template":"order_shipped","variables":{"name":"Jo"},"file_url":"https://example.com/b.png","file_name":"b.png"}`))
	if m, _ = e.db.FindMessage(t.Context(), ws.ID, id); m.FileName != "b.png" || m.Text != "Hi Jo, order ? shipped" {
		t.Errorf("with its own file: file %q text %q", m.FileName, m.Text)
	}

	for _, tc := range []struct {
		body  string
		parts []string
	}{
		{`{"action":"send","phone":"+14155552671","text":"x","template":"order_shipped"}`, []string{`fields "text" and "template" are both given`}},
		{`{"action":"send","phone":"+14155552671","template":"nope"}`, []string{`field "template": "nope" is not a template of this workspace`, "GET /api/v1/workspaces/{ws}/templates"}},
		{`{"action":"send","phone":"+14155552671","template":"Bad Name"}`, []string{`field "template" "Bad Name" is not a template name`}},
		{`{"action":"send","phone":"+14155552671","template":"order_shipped","variables":{}}`, []string{`variable "name" of template "order_shipped" has no value and no default`}},
		{`{"action":"send","phone":"+14155552671","template":"order_shipped","variables":{"name":{"first":"J"}}}`, []string{`variable "name" in "variables" is an object`}},
		{`{"action":"send","phone":"+14155552671","template":"order_shipped","variables":"name=Jane"}`, []string{`field "variables" must be a JSON object`}},
		{`{"action":"send","phone":"+14155552671","template":"just_name","variables":{"name":"   "}}`, []string{`template "just_name" rendered an empty text and has no file`}},
		{fmt.Sprintf(`{"action":"send","phone":"+14155552671","template":"just_name","variables":{"name":%q}}`, strings.Repeat("x", 4097)), []string{`template "just_name" rendered a text of 4097 characters; the limit is 4096`}},
		{`{"action":"send","phone":"+14155552671","text":"x","variables":{"a":"b"}}`, []string{`field "variables" is only read with "template"`}},
		{`{"phone":"+14155552671","template":"just_name","variables":{"name":"x"}}`, []string{`missing field "action"`}},
	} {
		wantError(t, e.send(ws.Inbound, tc.body), http.StatusBadRequest, wagate.EINVALID, tc.parts...)
	}
	if b := e.balance(ws); b != 6 {
		t.Errorf("balance = %d, want 6 (two sends of 2 credits; nothing for the 400s)", b)
	}
}

// TestInboundTemplateIdempotentAndLogged: a template request is replayed
// by its Idempotency-Key like a text request, and its attempts are
// logged, refusals included.
func TestInboundTemplateIdempotentAndLogged(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	e.account(ws, "+14155550100")
	e.createTemplate(ws, `{"name":"hello","text":"Hi {{name}}"}`)
	body := `{"action":"send","phone":"+14155552671","template":"hello","variables":{"name":"Jane"}}`
	first := accepted(t, e.send(ws.Inbound, body, "Idempotency-Key", "k1"))
	rec := e.send(ws.Inbound, `{"variables":{"name":"Jane"},"template":"hello","phone":"+14155552671","action":"send"}`, "Idempotency-Key", "k1")
	if again := accepted(t, rec); again != first || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay = %s (replayed %q); want %s", again, rec.Header().Get("Idempotent-Replayed"), first)
	}
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","template":"hello"}`), http.StatusBadRequest, wagate.EINVALID, `variable "name"`)
	if b := e.balance(ws); b != 9 {
		t.Errorf("balance = %d, want 9", b)
	}
	var atts struct {
		Attempts []api.Attempt `json:"attempts"`
	}
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts", ws.Owner, ""), http.StatusOK, &atts)
	if len(atts.Attempts) != 3 || atts.Attempts[0].HTTPStatus != 400 || !strings.Contains(atts.Attempts[0].Message, `variable "name"`) || atts.Attempts[2].MessageID != first {
		raw, _ := json.Marshal(atts.Attempts)
		t.Errorf("attempts = %s; want the refusal, the replay and the first accept", raw)
	}
}
