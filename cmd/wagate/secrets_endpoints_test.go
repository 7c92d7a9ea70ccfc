package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

// SPEC §9 safety, with the real binary at debug level: an endpoint's
// signing secret, auth values (bearer token, basic password, custom header
// value) and the values of its URL's query never appear in the log or in
// an API error, through a create, a refused create, a failing test send
// and a failing queued delivery; the history shows the auth masked.
func TestEndpointSecretsStayOutOfLogsAndErrors(t *testing.T) {
	bearer, password, headerValue := randomSecret(t, "bearer"), randomSecret(t, "pw"), randomSecret(t, "hdr")
	urlKey, queryKey := randomSecret(t, "urlkey"), randomSecret(t, "qkey")
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":"down"}`)
	}))
	defer crm.Close()

	bin := buildBinary(t)
	dir := t.TempDir()
	p := startLogged(t, bin, nil, "--data", dir, "--log-level", "debug", "--send-interval", "20ms", "--send-jitter", "0s", "--allow-private-endpoints")
	in := &instance{t: t, base: "http://" + p.addr}
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	epURL := in.base + "/api/v1/workspaces/" + ws.id + "/endpoints"

	var answers []string
	keep := func(body map[string]any) map[string]any {
		answers = append(answers, str(body["error"])+" "+str(body["message"]))
		return body
	}
	// A refused create (a query in the url) that holds every secret: the
	// error names the field, never a value.
	st, body := call(t, "POST", epURL, ws.ownerToken, map[string]any{
		"url": crm.URL + "/hooks?key=" + urlKey, "events": []string{"message.queued"},
		"query": map[string]string{"token": queryKey}, "auth": map[string]any{"type": "bearer", "token": bearer},
	})
	mustStatus(t, "refused create", st, http.StatusBadRequest, keep(body))
	st, bearerEP := call(t, "POST", epURL, ws.ownerToken, map[string]any{
		"url": crm.URL + "/hooks", "events": []string{"message.queued"},
		"query": map[string]string{"token": queryKey}, "auth": map[string]any{"type": "bearer", "token": bearer},
	})
	mustStatus(t, "bearer endpoint", st, http.StatusCreated, bearerEP)
	secret := str(bearerEP["secret"])
	st, body = call(t, "POST", epURL, ws.ownerToken, map[string]any{
		"url": crm.URL, "events": []string{"message.queued"}, "auth": map[string]any{"type": "basic", "username": "wagate", "password": password},
		"headers": map[string]string{"X-Api-Key": "{{message.id}}"},
	})
	mustStatus(t, "basic endpoint", st, http.StatusCreated, body)
	st, body = call(t, "POST", epURL, ws.ownerToken, map[string]any{
		"url": crm.URL, "events": []string{"message.queued"}, "auth": map[string]any{"type": "header", "name": "X-Crm-Key", "value": headerValue},
	})
	mustStatus(t, "header endpoint", st, http.StatusCreated, body)

	// A failing test send, then a failing queued delivery.
	st, test := call(t, "POST", epURL+"/"+str(bearerEP["id"])+"/test", ws.ownerToken, map[string]any{"event": "message.queued"})
	mustStatus(t, "test send", st, http.StatusOK, test)
	send(t, ws.inboundURL, map[string]any{"action": "send", "phone": "+14155552671", "text": "hello"})
	var list map[string]any
	waitFor(t, "the queued delivery's failed attempt", func() bool {
		_, list = call(t, "GET", epURL+"/"+str(bearerEP["id"])+"/deliveries", ws.ownerToken, nil)
		ds, _ := list["deliveries"].([]any)
		for _, d := range ds {
			if m, _ := d.(map[string]any); m["event"] == "message.queued" && m["attempt"] == 1.0 {
				return true
			}
		}
		return false
	})
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	history, errs := string(b), strings.Join(answers, " ")
	if !strings.Contains(history, "Bearer ••••••") {
		t.Errorf("the history does not show the bearer token masked: %s", history)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exit

	logs := strings.Join(p.logLines(), "\n")
	if !strings.Contains(logs, "delivery attempt failed") {
		t.Fatalf("the log has no failed delivery; the scenario did not run:\n%s", logs)
	}
	for name, s := range map[string]string{"signing secret": strings.TrimPrefix(secret, "whsec_"), "bearer token": bearer, "basic password": password,
		"auth header value": headerValue, "url query value": urlKey, "query value": queryKey} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the %s", name)
		}
		if strings.Contains(errs, s) {
			t.Errorf("an API error holds the %s", name)
		}
		// The history shows the request's URL with its query (SPEC §9
		// masks auth there, not the query); the rest never.
		if strings.Contains(history, s) && name != "url query value" && name != "query value" {
			t.Errorf("the delivery history holds the %s", name)
		}
	}
}
