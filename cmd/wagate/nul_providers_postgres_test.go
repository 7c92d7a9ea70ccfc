package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

// On PostgreSQL, whose text and jsonb cannot hold a NUL character: what
// the Cloud API says with a NUL in it is stored with U+FFFD in its place
// instead of its write being refused — a template synced from Meta (its
// name and category) and Meta's error of a refused send (the message
// fails with the text; before, its write failed again and again and the
// message stayed in sending).
func TestPostgresCloudAPITextWithNULIsStored(t *testing.T) {
	fake := graphfake.Start(t, graphfake.Options{WABAID: "102290129340398", Templates: []graphfake.Template{
		{Name: "order\x00shipped", Language: "en_US", Category: "UTI\x00LITY", Body: "Hi {{1}}"},
	}})
	url := newPGDatabase(t)
	cfg := testConfig(t.TempDir(), 10*time.Millisecond, 0)
	cfg.DatabaseURL, cfg.Replica = url, "r1"
	cfg.CloudAPIAppSecret, cfg.CloudAPIVerifyToken = "app-secret-nul", "verify-nul"
	cfg.CloudAPIBaseURLs = []string{fake.URL}
	in, logs := startPG(t, cfg)
	ws := createWorkspace(t, in, operatorToken(t, cfg.DataDir), 10)
	settings := map[string]any{}
	for k, v := range fake.Settings() {
		settings[k] = v
	}
	base := in.base + "/api/v1/workspaces/" + ws.id
	st, acct := call(t, "POST", base+"/accounts", ws.ownerToken, map[string]any{"phone": "+14155550123", "transport": "cloudapi", "settings": settings})
	mustStatus(t, "connect cloudapi account", st, http.StatusCreated, acct)

	st, list := call(t, "POST", base+"/accounts/14155550123/templates/sync", ws.ownerToken, nil)
	mustStatus(t, "sync account templates", st, http.StatusOK, list)
	st, list = call(t, "GET", base+"/accounts/14155550123/templates", ws.ownerToken, nil)
	mustStatus(t, "list account templates", st, http.StatusOK, list)
	ts, _ := list["templates"].([]any)
	if len(ts) != 1 {
		t.Fatalf("account templates = %v, want the synced one", list)
	}
	if tpl, _ := ts[0].(map[string]any); str(tpl["name"]) != "order\uFFFDshipped" || str(tpl["category"]) != "UTI\uFFFDLITY" {
		t.Errorf("synced template = %v, want name and category with U+FFFD for the NUL", tpl)
	}

	fake.FailNext(1, graphfake.Failure{Edge: graphfake.EdgeMessages, Code: 131026, Message: "Message undeliverable\x00 here"})
	id := send(t, ws.inboundURL, map[string]any{"action": "send", "whatsapp_account_phone": "+14155550123", "phone": "+14155552671", "text": "hello"})
	waitFor(t, "the refused send to fail", func() bool { return messageStatus(t, in, ws, id) == "failed" })
	_, m := call(t, "GET", base+"/messages/"+id, ws.ownerToken, nil)
	if e := str(m["error"]); !strings.Contains(e, "Message undeliverable\uFFFD here") {
		t.Errorf("the failed message's error = %q, want Meta's text with U+FFFD for the NUL", e)
	}
	if strings.Contains(logs.String(), "unsupported Unicode escape") || strings.Contains(logs.String(), "invalid byte sequence") {
		t.Errorf("a write was refused by PostgreSQL:\n%s", logs.String())
	}
}
