package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// fakeWABAs are the templates the cloudapi stand-in of testTransports
// "reads" for a waba_id: each test uses its own ids, so tests in parallel
// do not meet.
var fakeWABAs sync.Map // waba_id → []wagate.ProviderTemplate

const cloudPhone = "+14155550123"

// cloudAccount connects a cloudapi account whose WABA has ts.
func (e *env) cloudAccount(ws workspace, waba string, ts ...wagate.ProviderTemplate) {
	e.t.Helper()
	fakeWABAs.Store(waba, ts)
	rec := e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner,
		fmt.Sprintf(`{"phone":%q,"transport":"cloudapi","settings":{"phone_number_id":"106540352242922","access_token":"t","waba_id":%q}}`, cloudPhone, waba))
	mustStatus(e.t, rec, http.StatusCreated)
}

var (
	tplShipped = wagate.ProviderTemplate{Name: "order_shipped", Language: "en_US", Status: "APPROVED", BodyParameters: []string{"1", "2"}}
	tplNamed   = wagate.ProviderTemplate{Name: "greeting", Language: "en_US", Status: "APPROVED", Named: true, BodyParameters: []string{"name"}}
	tplPhoto   = wagate.ProviderTemplate{Name: "with_photo", Language: "en_US", Status: "APPROVED", BodyParameters: []string{"1"}, HeaderFormat: "IMAGE"}
	tplPending = wagate.ProviderTemplate{Name: "promo", Language: "en_US", Status: "PENDING"}
	tplGerman  = wagate.ProviderTemplate{Name: "order_shipped", Language: "de", Status: "APPROVED", BodyParameters: []string{"1", "2"}}
)

func accountTemplatesPath(ws workspace) string {
	return "/api/v1/workspaces/" + ws.ID + "/accounts/" + strings.TrimPrefix(cloudPhone, "+") + "/templates"
}

// TestAccountTemplatesSync: a cloudapi account's templates are read when
// it is connected and on sync, and listed; without waba_id a sync says
// what to set.
func TestAccountTemplatesSync(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	e.cloudAccount(ws, "waba-sync", tplShipped, tplNamed)
	var list api.AccountTemplateList
	mustDecode(t, e.do(http.MethodGet, accountTemplatesPath(ws), ws.Owner, ""), http.StatusOK, &list)
	if len(list.Templates) != 2 || list.SyncedAt == nil || list.Templates[1].ParameterFormat != "NAMED" || strings.Join(list.Templates[0].Parameters, ",") != "1,2" {
		t.Fatalf("after connecting: %+v", list)
	}
	fakeWABAs.Store("waba-sync", []wagate.ProviderTemplate{tplPending})
	e.clock.Advance(time.Minute)
	mustDecode(t, e.do(http.MethodPost, accountTemplatesPath(ws)+"/sync", ws.Owner, ""), http.StatusOK, &list)
	if len(list.Templates) != 1 || list.Templates[0].Status != "PENDING" || !list.SyncedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after sync: %+v", list)
	}
	support := e.createToken(ws, "support", "desk").Token
	mustStatus(t, e.do(http.MethodGet, accountTemplatesPath(ws), support, ""), http.StatusOK)
	wantError(t, e.do(http.MethodPost, accountTemplatesPath(ws)+"/sync", support, ""), http.StatusForbidden, wagate.EFORBIDDEN)

	// Hourly round: every active account with templates.
	fakeWABAs.Store("waba-sync", []wagate.ProviderTemplate{tplShipped})
	e.srv.SyncAllTemplates(t.Context())
	mustDecode(t, e.do(http.MethodGet, accountTemplatesPath(ws), ws.Owner, ""), http.StatusOK, &list)
	if len(list.Templates) != 1 || list.Templates[0].Name != "order_shipped" {
		t.Fatalf("after the hourly round: %+v", list)
	}

	other := e.workspace("other", 0)
	rec := e.do(http.MethodPost, "/api/v1/workspaces/"+other.ID+"/accounts", other.Owner, fmt.Sprintf(`{"phone":%q,"transport":"cloudapi","settings":{"phone_number_id":"1","access_token":"t"}}`, cloudPhone))
	mustStatus(t, rec, http.StatusCreated) // no waba_id: connected all the same
	mustDecode(t, e.do(http.MethodGet, accountTemplatesPath(other), other.Owner, ""), http.StatusOK, &list)
	if len(list.Templates) != 0 || list.SyncedAt != nil {
		t.Errorf("never synced: %+v; want [] and synced_at null", list)
	}
	wantError(t, e.do(http.MethodPost, accountTemplatesPath(other)+"/sync", other.Owner, ""), http.StatusBadRequest, wagate.EINVALID, "waba_id")
	e.account(other, "+14155550100")
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+other.ID+"/accounts/14155550100/templates/sync", other.Owner, ""), http.StatusBadRequest, wagate.EINVALID, `sends through "dryrun"`)
	wantError(t, e.do(http.MethodGet, "/api/v1/workspaces/"+other.ID+"/accounts/14155550199/templates", other.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND, "+14155550199")
}

// TestTemplateMappingChecks: a cloudapi mapping is checked against the
// synced template when saved.
func TestTemplateMappingChecks(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 10)
	e.account(ws, "+14155550100")
	e.cloudAccount(ws, "waba-map", tplShipped, tplNamed, tplPhoto, tplPending, tplGerman)
	mapping := func(name, lang, params string) string {
		return fmt.Sprintf(`"cloudapi":{"account_phone":%q,"name":%q,"language":%q,"parameters":%s}`, cloudPhone, name, lang, params)
	}
	text := `"text":"Hi {{name}}, order {{order}} shipped"`
	for _, tc := range []struct {
		body string
		want string
	}{
		{`{"name":"a",` + text + `,` + mapping("nope", "en_US", `["name","order"]`) + `}`, `account +14155550123 has no template "nope"`},
		{`{"name":"a",` + text + `,` + mapping("order_shipped", "fr", `["name","order"]`) + `}`, `has no language "fr"; it has en_US, de`},
		{`{"name":"a",` + text + `,` + mapping("promo", "en_US", `[]`) + `}`, `is PENDING, not APPROVED`},
		{`{"name":"a",` + text + `,` + mapping("order_shipped", "en_US", `["name"]`) + `}`, `lists 1 variables, but template "order_shipped" (en_US) has 2 body parameters`},
		{`{"name":"a",` + text + `,` + mapping("order_shipped", "en_US", `["name","zip"]`) + `}`, `"zip" is not a variable of the text`},
		{`{"name":"a",` + text + `,` + mapping("greeting", "en_US", `["order"]`) + `}`, `"order" is not a parameter of the named template "greeting"`},
		{`{"name":"a",` + text + `,"file_url":"https://example.com/a.pdf","file_name":"a.pdf",` + mapping("order_shipped", "en_US", `["name","order"]`) + `}`, `has no media header`},
		{`{"name":"a",` + text + `,"cloudapi":{"account_phone":"+14155550100","name":"x","language":"en_US"}}`, `account +14155550100 sends through "dryrun"`},
		{`{"name":"a",` + text + `,"cloudapi":{"account_phone":"` + cloudPhone + `","language":"en_US"}}`, `missing field "cloudapi.name"`},
	} {
		wantError(t, e.do(http.MethodPost, templatesPath(ws, ""), ws.Owner, tc.body), http.StatusBadRequest, wagate.EINVALID, tc.want)
	}
	got := e.createTemplate(ws, `{"name":"shipped",`+text+`,`+mapping("order_shipped", "en_US", `["name","order"]`)+`}`)
	if got.CloudAPI == nil || got.CloudAPI.Name != "order_shipped" || got.CloudAPI.AccountPhone != cloudPhone {
		t.Fatalf("mapped template = %+v", got)
	}
	// Removing the mapping with PATCH.
	var one api.Template
	mustDecode(t, e.do(http.MethodPatch, templatesPath(ws, "/shipped"), ws.Owner, `{"remove_cloudapi":true}`), http.StatusOK, &one)
	if one.CloudAPI != nil {
		t.Errorf("after remove_cloudapi: %+v", one.CloudAPI)
	}
}

// TestInboundMappedTemplate: from the mapped account a templated request
// is stored as a template send (named or positional, defaults filled in,
// the header's file); from another account it is the rendered text.
func TestInboundMappedTemplate(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 20)
	e.account(ws, "+14155550100")
	e.cloudAccount(ws, "waba-send", tplShipped, tplNamed, tplPhoto)
	e.createTemplate(ws, fmt.Sprintf(`{"name":"shipped","text":"Hi {{name | default \"friend\"}}, order {{order}} shipped","cloudapi":{"account_phone":%q,"name":"order_shipped","language":"en_US","parameters":["name","order"]}}`, cloudPhone))
	e.createTemplate(ws, fmt.Sprintf(`{"name":"greeting","text":"Hello {{name}}","cloudapi":{"account_phone":%q,"name":"greeting","language":"en_US","parameters":["name"]}}`, cloudPhone))
	e.createTemplate(ws, fmt.Sprintf(`{"name":"photo","text":"See {{what}}","file_url":"https://example.com/p.png","file_name":"p.png","cloudapi":{"account_phone":%q,"name":"with_photo","language":"en_US","parameters":["what"]}}`, cloudPhone))

	find := func(id string) *wagate.Message {
		m, err := e.db.FindMessage(t.Context(), ws.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := find(accepted(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","template":"shipped","variables":{"order":"1042"}}`, cloudPhone))))
	if ts := m.Template; ts == nil || ts.Name != "order_shipped" || ts.Named || len(ts.Parameters) != 2 || ts.Parameters[0].Value != "friend" || ts.Parameters[1].Value != "1042" || m.Text != "Hi friend, order 1042 shipped" {
		t.Fatalf("positional = %+v, text %q", m.Template, m.Text)
	}
	m = find(accepted(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","template":"greeting","variables":{"name":"Jane"}}`, cloudPhone))))
	if ts := m.Template; ts == nil || !ts.Named || ts.Parameters[0] != (wagate.TemplateParameter{Name: "name", Value: "Jane"}) {
		t.Fatalf("named = %+v", m.Template)
	}
	m = find(accepted(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","template":"photo","variables":{"what":"this"}}`, cloudPhone))))
	if ts := m.Template; ts == nil || ts.HeaderMedia != "image" || m.FileName != "p.png" {
		t.Fatalf("header = %+v, file %q", m.Template, m.FileName)
	}
	// From another account: the rendered text, no template send.
	m = find(accepted(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+14155550100","phone":"+14155552671","template":"greeting","variables":{"name":"Jane"}}`)))
	if m.Template != nil || m.Text != "Hello Jane" || m.TemplateName != "greeting" {
		t.Fatalf("from dryrun = %+v, text %q", m.Template, m.Text)
	}
	wantError(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","template":"greeting","variables":{"name":"Jane"},"file_url":"https://example.com/x.png","file_name":"x.png"}`, cloudPhone)),
		http.StatusBadRequest, wagate.EINVALID, `"greeting" has no media header`)
	// A synced template that lost its approval: a 400 saying to sync or fix.
	fakeWABAs.Store("waba-send", []wagate.ProviderTemplate{tplShipped})
	mustStatus(t, e.do(http.MethodPost, accountTemplatesPath(ws)+"/sync", ws.Owner, ""), http.StatusOK)
	wantError(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","template":"greeting","variables":{"name":"Jane"}}`, cloudPhone)),
		http.StatusBadRequest, wagate.EINVALID, `no longer has approved`)
}

// TestCustomerWindow: a free-form send to a chat whose customer last
// wrote more than 24 h ago is a 400 naming a mapped template; a mapped
// template still goes; without a record, or within the window, text goes.
func TestCustomerWindow(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("shop", 20)
	e.cloudAccount(ws, "waba-window", tplNamed)
	text := fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","text":"hi"}`, cloudPhone)
	accepted(t, e.send(ws.Inbound, text)) // no record: sent, the provider decides

	key := wagate.ChatKey{Transport: wagate.TransportCloudAPI, Sender: "106540352242922", Customer: "14155552671"}
	if err := e.db.RecordCustomerMessage(t.Context(), key, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	accepted(t, e.send(ws.Inbound, text)) // within the window

	e.clock.Advance(24 * time.Hour)
	wantError(t, e.send(ws.Inbound, text), http.StatusBadRequest, wagate.EINVALID, "last wrote to account +14155550123 25h0m0s ago", "only template messages", "map a template")
	e.createTemplate(ws, fmt.Sprintf(`{"name":"greeting","text":"Hello {{name}}","cloudapi":{"account_phone":%q,"name":"greeting","language":"en_US","parameters":["name"]}}`, cloudPhone))
	wantError(t, e.send(ws.Inbound, text), http.StatusBadRequest, wagate.EINVALID, `"template":"greeting"`)
	id := accepted(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552671","template":"greeting","variables":{"name":"Jane"}}`, cloudPhone)))
	if m, _ := e.db.FindMessage(t.Context(), ws.ID, id); m.Template == nil {
		t.Fatal("the mapped template was not sent as a template")
	}
	// Another customer of the same number has no record: text goes.
	accepted(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","whatsapp_account_phone":%q,"phone":"+14155552672","text":"hi"}`, cloudPhone)))
}
