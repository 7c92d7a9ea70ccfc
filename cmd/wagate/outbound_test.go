package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// crmReceiver is the integrator's system of issue 14's walk-through: it
// answers with status and keeps every request.
type crmReceiver struct {
	mu     sync.Mutex
	status int
	reqs   []*http.Request
	bodies []string
}

func (c *crmReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, r)
	c.bodies = append(c.bodies, string(b))
	w.WriteHeader(c.status)
}

func (c *crmReceiver) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs)
}

func (c *crmReceiver) setStatus(s int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = s
}

// TestFailedMessagesReachTheCRMAcrossARestart is issue 14's "done means":
// an endpoint subscribed to message.failed with a form body and basic auth
// gets every failed message, signed; a delivery the CRM refused is retried
// after a restart with the same webhook-id.
func TestFailedMessagesReachTheCRMAcrossARestart(t *testing.T) {
	crm := &crmReceiver{status: http.StatusServiceUnavailable}
	crmSrv := httptest.NewServer(crm)
	defer crmSrv.Close()
	files := httptest.NewServer(http.NotFoundHandler()) // a file_url that cannot work
	defer files.Close()

	dir := t.TempDir()
	cfg := testConfig(dir, 20*time.Millisecond, 0)
	cfg.AllowPrivateEndpoints, cfg.AllowPrivateFileURLs = true, true
	in := start(t, cfg)
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	st, ep := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/endpoints", ws.ownerToken, map[string]any{
		"url": crmSrv.URL + "/hooks", "path": "/wa", "events": []string{"message.failed"},
		"auth": map[string]any{"type": "basic", "username": "wagate", "password": "crm-pw"},
		"body": map[string]any{"type": "form", "fields": []map[string]string{
			{"key": "phone", "value": "{{message.phone}}"},
			{"key": "reason", "value": `{{message.error | default "unknown"}}`},
		}},
	})
	mustStatus(t, "create endpoint", st, http.StatusCreated, ep)
	secret := str(ep["secret"])

	id := send(t, ws.inboundURL, map[string]any{"action": "send", "phone": "+14155552671", "text": "your invoice", "file_url": files.URL + "/invoice.pdf", "file_name": "invoice.pdf"})
	waitFor(t, "the message failed", func() bool { return messageStatus(t, in, ws, id) == "failed" })
	waitFor(t, "the first delivery, refused by the CRM", func() bool { return crm.count() == 1 })
	in.stop()

	crm.setStatus(http.StatusOK)
	in = start(t, cfg)
	waitFor(t, "the retry after the restart", func() bool { return crm.count() == 2 })
	crm.mu.Lock()
	first, second, body := crm.reqs[0], crm.reqs[1], crm.bodies[1]
	crm.mu.Unlock()
	if first.Header.Get("Webhook-Id") == "" || first.Header.Get("Webhook-Id") != second.Header.Get("Webhook-Id") {
		t.Errorf("webhook-id %q then %q: a redelivery carries the same id", first.Header.Get("Webhook-Id"), second.Header.Get("Webhook-Id"))
	}
	checkSignature(t, secret, second, body)
	if user, pw, ok := second.BasicAuth(); !ok || user != "wagate" || pw != "crm-pw" {
		t.Errorf("basic auth = %q %q %v", user, pw, ok)
	}
	form, err := url.ParseQuery(body)
	if err != nil || second.URL.Path != "/hooks/wa" || form.Get("phone") != "+14155552671" || !strings.Contains(form.Get("reason"), "404") {
		t.Errorf("request %s with form %q (%v): want phone and the download's 404 as the reason", second.URL.Path, body, err)
	}
	var last map[string]any
	waitFor(t, "the delivery recorded as succeeded", func() bool {
		code, list := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/endpoints/"+str(ep["id"])+"/deliveries", ws.ownerToken, nil)
		ds, _ := list["deliveries"].([]any)
		if code != http.StatusOK || len(ds) != 1 {
			return false
		}
		last, _ = ds[0].(map[string]any)
		return last["status"] == "succeeded"
	})
	if last["attempt"] != 2.0 {
		t.Errorf("attempt = %v, want 2", last["attempt"])
	}
}

// checkSignature verifies a Standard Webhooks signature from the scheme.
func checkSignature(t *testing.T, secret string, r *http.Request, body string) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.%s", r.Header.Get("Webhook-Id"), r.Header.Get("Webhook-Timestamp"), body)
	if want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); !strings.Contains(" "+r.Header.Get("Webhook-Signature")+" ", " "+want+" ") {
		t.Errorf("webhook-signature %q lacks %q", r.Header.Get("Webhook-Signature"), want)
	}
}

// SPEC §9 credits.low, end to end: an owner sets the threshold through
// the API, and the one charge that takes the balance below it reaches the
// endpoint, signed, once; the charges below it send nothing more.
func TestCreditsLowReachesTheEndpointOnce(t *testing.T) {
	crm := &crmReceiver{status: http.StatusOK}
	crmSrv := httptest.NewServer(crm)
	defer crmSrv.Close()
	dir := t.TempDir()
	cfg := testConfig(dir, 20*time.Millisecond, 0)
	cfg.AllowPrivateEndpoints = true
	in := start(t, cfg)
	ws := createWorkspace(t, in, operatorToken(t, dir), 5)
	wsURL := in.base + "/api/v1/workspaces/" + ws.id
	st, ep := call(t, "POST", wsURL+"/endpoints", ws.ownerToken, map[string]any{"url": crmSrv.URL, "events": []string{"credits.low"}})
	mustStatus(t, "create endpoint", st, http.StatusCreated, ep)
	st, body := call(t, "PATCH", wsURL, ws.ownerToken, map[string]any{"low_credits": 3})
	mustStatus(t, "set low_credits", st, http.StatusOK, body)

	for range 4 { // 5 → 4 → 3 → 2 (below 3: the event) → 1
		send(t, ws.inboundURL, map[string]any{"action": "send", "phone": "+14155552671", "text": "hi"})
	}
	// The event was written in the commit of the charge, so the outbox
	// is final once the 200s are in; wait for its one delivery.
	waitFor(t, "the credits.low delivery succeeded", func() bool {
		code, list := call(t, "GET", wsURL+"/endpoints/"+str(ep["id"])+"/deliveries", ws.ownerToken, nil)
		ds, _ := list["deliveries"].([]any)
		if code != http.StatusOK || len(ds) != 1 {
			return false
		}
		d, _ := ds[0].(map[string]any)
		return d["status"] == "succeeded"
	})
	crm.mu.Lock()
	defer crm.mu.Unlock()
	if len(crm.reqs) != 1 {
		t.Fatalf("the CRM got %d requests, want 1", len(crm.reqs))
	}
	checkSignature(t, str(ep["secret"]), crm.reqs[0], crm.bodies[0])
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Balance int64 `json:"balance"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(crm.bodies[0]), &ev); err != nil || ev.Type != "credits.low" || ev.Data.Balance != 2 {
		t.Errorf("body %s (%v): want a credits.low event with the balance 2", crm.bodies[0], err)
	}
}
