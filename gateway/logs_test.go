package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestNoSecretsInLogs runs a scenario of inbound and admin calls, successful
// and not, with every log line captured at debug level, and checks that no
// inbound token and no admin token appears in any of them.
func TestNoSecretsInLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	e := newEnv(t, withLogger(zap.New(core)))
	ws := e.workspace("Acme", 10)
	e.account(ws, acctPhone)
	secrets := []string{e.operator, ws.Owner, ws.Inbound}

	var tok struct {
		Token string `json:"token"`
	}
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"support"}`), http.StatusCreated, &tok)
	secrets = append(secrets, tok.Token)

	ok := `{"action":"send","phone":"+14155552671","text":"hi"}`
	accepted(t, e.send(ws.Inbound, ok))
	e.send(ws.Inbound, `{"action":"send","phone_number":"+14155552671","text":"hi"}`)
	e.send(ws.Inbound, `not json`)
	e.send(ws.Inbound+"x", ok)                                     // unknown token, 404
	e.send(ws.Inbound[:42]+"Z", ok)                                // unknown token of the right shape
	e.do(http.MethodGet, "/inbound/"+ws.Inbound, "", "")           // 405
	e.do(http.MethodPost, "/inbound/"+ws.Inbound+"/extra", "", ok) // no route
	e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID, tok.Token+"x", "")
	e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", tok.Token, `{"phone":"+14155550100"}`) // 403
	e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, `{"phone":"+14155550101","transport":"cloudapi","settings":{"phone_number_id":"1","access_token":"EAAG-cloud-secret"}}`)
	secrets = append(secrets, "EAAG-cloud-secret")

	var hook struct {
		URL string `json:"url"`
	}
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/webhook/regenerate", ws.Owner, ""), http.StatusOK, &hook)
	newInbound := strings.TrimPrefix(hook.URL, "http://wagate.test/inbound/")
	secrets = append(secrets, newInbound)
	e.send(ws.Inbound, ok) // the old token, now 404
	accepted(t, e.send(newInbound, ok))
	// The panic path logs too: its line must carry the route, not the raw path.
	e.ready = func() error { panic("boom") }
	e.do(http.MethodGet, "/readyz", "", "")
	e.ready = nil

	entries := logs.All()
	if len(entries) < 15 {
		t.Fatalf("only %d log lines captured", len(entries))
	}
	sawRoute := false
	for _, entry := range entries {
		fields, err := json.Marshal(entry.ContextMap())
		if err != nil {
			t.Fatal(err)
		}
		line := entry.Message + " " + string(fields)
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line contains a secret: %s", line)
			}
		}
		if strings.Contains(line, "Bearer") || strings.Contains(line, `"text":"hi"`) {
			t.Errorf("log line contains a header or a body: %s", line)
		}
		if entry.Message == "request" && entry.ContextMap()["route"] == "/inbound/:token" {
			sawRoute = true
		}
	}
	if !sawRoute {
		t.Errorf("no request line with route /inbound/:token")
	}
}
