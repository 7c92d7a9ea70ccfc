package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// crm is an integrator's receiver that counts its requests.
func crm(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fmt.Fprint(w, `{"crm":"thanks"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

var secretRe = regexp.MustCompile(`id="endpoint-secret" value="(whsec_[^"]+)"`)

// TestEndpointsPagesOwnerAndSupport: an owner adds an endpoint (its secret
// shown once), a refused form keeps what was typed and names the field,
// and support staff see the pages without any form that writes.
func TestEndpointsPagesOwnerAndSupport(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	srv, _ := crm(t)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	mustContain(t, "endpoints page", b.get(base+"endpoints"), "No endpoints yet", "Add an endpoint") // and the session's form token

	bad := b.post(base+"endpoints", url.Values{"csrf": {b.csrf}, "name": {"crm"}, "url": {srv.URL}, "method": {"POST"},
		"events": {"message.failed"}, "body_type": {"form"}, "fields": {"phone {{message.phone}}"}, "auth_type": {"none"}})
	mustStatus(t, "a bad form", bad, http.StatusBadRequest)
	mustContain(t, "a bad form", bad, "Body fields, line 1", "phone {{message.phone}}")

	p := b.post(base+"endpoints", url.Values{"csrf": {b.csrf}, "name": {"crm"}, "url": {srv.URL}, "method": {"POST"},
		"events": {"message.failed", "message.sent"}, "body_type": {"form"}, "fields": {"phone={{message.phone}}\nreason={{message.error | default \"unknown\"}}"},
		"auth_type": {"basic"}, "username": {"wagate"}, "password": {"pw-secret"}})
	mustStatus(t, "add an endpoint", p, http.StatusCreated)
	m := secretRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the create answer does not show the secret:\n%s", p.body)
	}
	list, err := e.db.ListEndpoints(context.Background(), ws.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("endpoints = %v, %v", list, err)
	}
	ep := list[0]
	if ep.Secret != html.UnescapeString(m[1]) || ep.Auth.Password != "pw-secret" || len(ep.Body.Fields) != 2 || ep.Body.Fields[0].Key != "phone" {
		t.Fatalf("stored endpoint = %+v", ep)
	}
	page := b.get(base + "endpoints/" + ep.ID)
	mustStatus(t, "endpoint page", page, http.StatusOK)
	if strings.Contains(page.body, ep.Secret) || strings.Contains(page.body, "pw-secret") {
		t.Fatal("the endpoint page shows a secret")
	}
	// Saving the form as shown keeps the masked password.
	saved := b.post(base+"endpoints/"+ep.ID, url.Values{"csrf": {b.csrf}, "name": {"crm 2"}, "url": {srv.URL}, "method": {"PUT"},
		"events": {"message.failed"}, "body_type": {"form"}, "fields": {"phone={{message.phone}}"}, "auth_type": {"basic"},
		"username": {"wagate"}, "password": {api.Masked}})
	mustStatus(t, "save", saved, http.StatusSeeOther)
	after, err := e.db.FindEndpoint(context.Background(), wagate.EndpointRef{WorkspaceID: ws.ID, ID: ep.ID})
	if err != nil || after.Name != "crm 2" || after.Method != "PUT" || after.Auth.Password != "pw-secret" {
		t.Fatalf("after save = %+v, %v", after, err)
	}
	off := b.post(base+"endpoints/"+ep.ID+"/enabled", url.Values{"csrf": {b.csrf}, "enabled": {"false"}})
	mustStatus(t, "switch off", off, http.StatusSeeOther)
	mustContain(t, "switched off", b.get(off.location()), "none is dropped", "Switch on")

	s := e.browser()
	s.mustSignIn(ws.Support)
	ro := s.get(base + "endpoints/" + ep.ID) // and the session's form token
	mustStatus(t, "support's endpoint page", ro, http.StatusOK)
	mustContain(t, "support's endpoint page", ro, "crm 2", "<fieldset disabled")
	for _, form := range []string{`id="test-form"`, `id="endpoint-switch"`, `id="endpoint-delete"`} {
		if strings.Contains(ro.body, form) {
			t.Errorf("support sees %s", form)
		}
	}
	mustStatus(t, "support cannot test", s.post(base+"endpoints/"+ep.ID+"/test", url.Values{"csrf": {s.csrf}}), http.StatusForbidden)
}

// TestBrowserEndpointTestSend is the integrator's first minutes in a real
// browser: add an endpoint, press Test, see the request and the CRM's
// answer, then find it in the deliveries.
func TestBrowserEndpointTestSend(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme", 10)
	srv, hits := crm(t)
	ctx := withTimeout(t, newBrowser(t))
	base := e.srv.URL
	do(t, ctx, "sign in", chromedp.Navigate(base+"/ui/signin"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), ws.Owner), chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("webhook")))
	do(t, ctx, "endpoints tab", chromedp.Click(chromedp.ID("nav-endpoints")), chromedp.WaitVisible(chromedp.ID("no-endpoints")))
	do(t, ctx, "fill in the form",
		chromedp.SendKeys(chromedp.ID("ep-name"), "CRM"),
		chromedp.SendKeys(chromedp.ID("ep-url"), srv.URL+"/hooks"),
		chromedp.SetValue(chromedp.ID("ep-body"), "form"),
		chromedp.SendKeys(chromedp.ID("ep-fields"), "phone={{message.phone}}\nreason={{message.error | default \"unknown\"}}"))
	clickToLoad(t, ctx, "add", chromedp.ID("endpoint-save"))
	waitJS(t, ctx, "the secret, once", `document.getElementById('endpoint-secret').value.startsWith('whsec_')`)
	clickToLoad(t, ctx, "open the endpoint", chromedp.ID("open-new-endpoint"))
	do(t, ctx, "a variable", chromedp.SendKeys(chromedp.ID("test-vars"), "message.error=not on WhatsApp"))
	clickToLoad(t, ctx, "send a test", chromedp.ID("test-button"))
	waitJS(t, ctx, "the request and the answer", `(() => {
		const r = document.getElementById('test-result');
		return r && r.textContent.includes('succeeded') && r.textContent.includes('reason=not+on+WhatsApp')
			&& r.textContent.includes('200') && r.textContent.includes('{"crm":"thanks"}');
	})()`)
	waitJS(t, ctx, "the delivery in the history", `document.querySelectorAll('#deliveries tbody tr[id^="delivery-"]').length === 1`)
	if hits.Load() != 1 {
		t.Fatalf("the CRM got %d requests, want 1", hits.Load())
	}
}
