package gateway_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/gateway/api"
	"github.com/wagate/wagate/sender/outbound"
)

// testDeliverer is the real deliverer, for its checks and test sends,
// allowed to reach the loopback receivers the tests start.
func testDeliverer() *outbound.Deliverer {
	return outbound.New(outbound.Config{Payload: gateway.EventData, AllowPrivate: true}, nil)
}

// receiver is an integrator's system: it records every request and
// answers with status.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies []string
	status int
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, req)
		r.bodies = append(r.bodies, string(b))
		r.mu.Unlock()
		w.Header().Set("X-Crm", "seen")
		w.WriteHeader(r.status)
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(r.Close)
	return r
}

// signedBy checks the Standard Webhooks signature of a received request
// against secret, written here from the scheme rather than taken from the
// deliverer.
func signedBy(t *testing.T, secret string, req *http.Request, body string) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.%s", req.Header.Get("Webhook-Id"), req.Header.Get("Webhook-Timestamp"), body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, s := range strings.Fields(req.Header.Get("Webhook-Signature")) {
		if s == want {
			return
		}
	}
	t.Fatalf("webhook-signature %q does not hold %q", req.Header.Get("Webhook-Signature"), want)
}

func (e *env) createEndpoint(ws workspace, body string) api.EndpointCreated {
	e.t.Helper()
	var out api.EndpointCreated
	mustDecode(e.t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints", ws.Owner, body), http.StatusCreated, &out)
	return out
}

func TestEndpointCreateShowsTheSecretOnce(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	ep := e.createEndpoint(ws, `{"name":"crm","url":"https://crm.example/hooks/","path":"/wa","events":["message.failed"],
		"auth":{"type":"basic","username":"wagate","password":"pw-secret"},
		"body":{"type":"form","fields":[{"key":"phone","value":"{{message.phone}}"},{"key":"reason","value":"{{message.error | default \"unknown\"}}"}]}}`)
	if !strings.HasPrefix(ep.Secret, "whsec_") || len(ep.Secret) != len("whsec_")+32 {
		t.Fatalf("secret = %q, want whsec_ and the base64 of 24 bytes", ep.Secret)
	}
	if ep.URL != "https://crm.example/hooks" || ep.Method != "POST" || !ep.Enabled || ep.Auth.Password != api.Masked {
		t.Errorf("created = %+v", ep.Endpoint)
	}
	for _, path := range []string{"/endpoints", "/endpoints/" + ep.ID} {
		rec := e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+path, ws.Owner, "")
		mustStatus(t, rec, http.StatusOK)
		if strings.Contains(rec.Body.String(), ep.Secret) || strings.Contains(rec.Body.String(), "pw-secret") {
			t.Errorf("GET %s shows a secret: %s", path, rec.Body)
		}
	}
}

func TestEndpointErrorsNameTheField(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	for _, tc := range []struct{ body, says string }{
		{`{"events":["message.sent"]}`, `"url" is required`},
		{`{"url":"https://{{message.phone}}.example","events":["message.sent"]}`, `"url" cannot hold placeholders`},
		{`{"url":"ftp://crm.example","events":["message.sent"]}`, `"url" must start with https://`},
		{`{"url":"https://u:p@crm.example","events":["message.sent"]}`, `"auth"`},
		{`{"url":"https://crm.example","events":["message.sending"]}`, `"events" holds "message.sending"`},
		{`{"url":"https://crm.example","events":[]}`, `"events" needs at least one`},
		{`{"url":"https://crm.example","events":["message.sent"],"method":"TRACE"}`, `"method" must be one of`},
		{`{"url":"https://crm.example","events":["message.sent"],"headers":{"Webhook-Signature":"x"}}`, `sets the Webhook-Signature header itself`},
		{`{"url":"https://crm.example","events":["message.sent"],"headers":{"X-A":"a\nb"}}`, `control character`},
		{`{"url":"https://crm.example","events":["message.sent"],"path":"/{{message.text"}`, `"path": at character 2`},
		{`{"url":"https://crm.example","events":["message.sent"],"auth":{"type":"bearer"}}`, `"auth.token" is required`},
		{`{"url":"https://crm.example","events":["message.sent"],"body":{"type":"form","template":"a={{message.id}}"}}`, `takes "fields"`},
		// The deliverer's checks: a variable the event does not have, a
		// JSON template that is not JSON.
		{`{"url":"https://crm.example","events":["credits.low"],"path":"/{{message.text}}"}`, `message.text`},
		{`{"url":"https://crm.example","events":["message.sent"],"body":{"type":"json","template":"{\"a\": {{message.id}}"}}`, `body.template`},
	} {
		rec := e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints", ws.Owner, tc.body)
		wantError(t, rec, http.StatusBadRequest, wagate.EINVALID, tc.says)
	}
}

func TestEndpointRolesAndLimit(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	support := e.token(ws, "support")
	body := `{"url":"https://crm.example","events":["message.sent"]}`
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints", support, body), http.StatusForbidden, wagate.EFORBIDDEN)
	ep := e.createEndpoint(ws, body)
	mustStatus(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID, support, ""), http.StatusOK)
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID+"/test", support, ""), http.StatusForbidden, wagate.EFORBIDDEN)
	other := e.workspace("other", 0)
	wantError(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID, other.Owner, ""), http.StatusForbidden, wagate.EFORBIDDEN)
	for i := 1; i < wagate.EndpointLimit; i++ {
		e.createEndpoint(ws, body)
	}
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints", ws.Owner, body), http.StatusConflict, wagate.ECONFLICT, "20 endpoints")
}

func TestEndpointPatchKeepsMaskedSecrets(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	rec := newReceiver(t, http.StatusOK)
	ep := e.createEndpoint(ws, `{"url":"`+rec.URL+`","events":["message.sent"],"auth":{"type":"bearer","token":"tok-1"}}`)
	// The endpoint as shown, sent back with a new name: the masked token
	// stays what it was.
	var patched api.Endpoint
	mustDecode(t, e.do(http.MethodPatch, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID, ws.Owner,
		`{"name":"renamed","auth":{"type":"bearer","token":"`+api.Masked+`"}}`), http.StatusOK, &patched)
	if patched.Name != "renamed" || patched.Auth.Token != api.Masked {
		t.Fatalf("patched = %+v", patched)
	}
	var d api.Delivery
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID+"/test", ws.Owner, ""), http.StatusOK, &d)
	if got := rec.got[0].Header.Get("Authorization"); got != "Bearer tok-1" {
		t.Errorf("Authorization = %q, want the stored token", got)
	}
	if strings.Contains(d.Request.Headers["Authorization"], "tok-1") {
		t.Errorf("the history shows the token: %v", d.Request.Headers)
	}
}

// TestEndpointTestSend is seed 004's test send: a sample event with the
// owner's variables, signed, its request and the answer in the history.
func TestEndpointTestSend(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	rec := newReceiver(t, http.StatusOK)
	ep := e.createEndpoint(ws, `{"url":"`+rec.URL+`","path":"/hooks/{{message.id}}","events":["message.failed"],
		"auth":{"type":"basic","username":"wagate","password":"pw"},
		"body":{"type":"form","fields":[{"key":"phone","value":"{{message.phone}}"},{"key":"reason","value":"{{message.error | default \"unknown\"}}"}]}}`)
	var d api.Delivery
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID+"/test", ws.Owner,
		`{"event":"message.failed","variables":{"message.error":"not on WhatsApp & more"}}`), http.StatusOK, &d)
	if d.Status != wagate.DeliverySucceeded || d.Response.Status != http.StatusOK || d.Response.Body != `{"ok":true}` || d.ID == "" {
		t.Fatalf("delivery = %+v", d)
	}
	if len(rec.got) != 1 {
		t.Fatalf("receiver got %d requests", len(rec.got))
	}
	req, body := rec.got[0], rec.bodies[0]
	signedBy(t, ep.Secret, req, body)
	if user, pw, ok := req.BasicAuth(); !ok || user != "wagate" || pw != "pw" {
		t.Errorf("basic auth = %q %q %v", user, pw, ok)
	}
	if !strings.HasPrefix(req.URL.Path, "/hooks/") || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("request %s %s", req.URL.Path, req.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, "reason=not+on+WhatsApp+%26+more") || !strings.HasPrefix(body, "phone=%2B") {
		t.Errorf("form body = %q: the variable must be one escaped field", body)
	}
	var list api.DeliveryList
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID+"/deliveries", ws.Owner, ""), http.StatusOK, &list)
	if len(list.Deliveries) != 1 || list.Deliveries[0].ID != d.ID || list.Deliveries[0].Request.Body != body {
		t.Fatalf("history = %+v", list.Deliveries)
	}
	if strings.Contains(list.Deliveries[0].Request.Headers["Authorization"], base64.StdEncoding.EncodeToString([]byte("wagate:pw"))) {
		t.Errorf("the history shows the basic auth: %v", list.Deliveries[0].Request.Headers)
	}
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID+"/test", ws.Owner, `{"event":"message.nope"}`),
		http.StatusBadRequest, wagate.EINVALID, `"event"`)
	// A succeeded delivery cannot be retried.
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID+"/deliveries/"+d.ID+"/retry", ws.Owner, ""),
		http.StatusConflict, wagate.ECONFLICT, "has not failed")
}

func TestEndpointRotateSignsWithBothSecrets(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	rec := newReceiver(t, http.StatusOK)
	ep := e.createEndpoint(ws, `{"url":"`+rec.URL+`","events":["message.sent"]}`)
	// The deliverer signs at the real time: bring the gateway's clock,
	// which sets the overlap's end, to it.
	e.clock.Advance(time.Since(e.clock.Now()))
	rotatedAt := e.clock.Now()
	var rot api.SecretRotated
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID+"/secret/rotate", ws.Owner, ""), http.StatusOK, &rot)
	if rot.Secret == ep.Secret || !strings.HasPrefix(rot.Secret, "whsec_") || rot.PreviousExpire == nil || !rot.PreviousExpire.Equal(rotatedAt.Add(24*time.Hour)) {
		t.Fatalf("rotated = %+v", rot)
	}
	mustStatus(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID+"/test", ws.Owner, ""), http.StatusOK)
	signedBy(t, ep.Secret, rec.got[0], rec.bodies[0])
	signedBy(t, rot.Secret, rec.got[0], rec.bodies[0])
	var payload struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(rec.bodies[0]), &payload); err != nil || payload.Type != "message.sent" || !strings.Contains(string(payload.Data), `"status":"sent"`) {
		t.Errorf("default payload = %s (%v)", rec.bodies[0], err)
	}
}

func TestEndpointDeleteAndEvents(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	ep := e.createEndpoint(ws, `{"url":"https://crm.example","events":["message.sent"]}`)
	mustStatus(t, e.do(http.MethodDelete, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID, ws.Owner, ""), http.StatusNoContent)
	wantError(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+ep.ID, ws.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND, ep.ID)
	var events api.EventTypeList
	mustDecode(t, e.do(http.MethodGet, "/api/v1/events", ws.Owner, ""), http.StatusOK, &events)
	if len(events.Events) != len(wagate.EventTypes) {
		t.Fatalf("events = %+v", events)
	}
	for _, ev := range events.Events {
		if ev.Description == "" || len(ev.Variables) == 0 {
			t.Errorf("event %s: no description or variables", ev.Type)
		}
		if strings.HasPrefix(ev.Type, "message.") && !strings.Contains(strings.Join(ev.Variables, " "), "message.text") {
			t.Errorf("%s lacks message.text: %v", ev.Type, ev.Variables)
		}
	}
}

// token makes a workspace token of role through the API.
func (e *env) token(ws workspace, role string) string {
	e.t.Helper()
	var out api.TokenCreated
	mustDecode(e.t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"`+role+`"}`), http.StatusCreated, &out)
	return out.Token
}
