package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/sender/cloudapi"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

// TestTemplateEndToEndDryrun: a template stored over the admin API and
// named on the inbound URL reaches the dryrun outbox as its rendered text.
func TestTemplateEndToEndDryrun(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, 10*time.Millisecond, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	st, tpl := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/templates", ws.ownerToken,
		map[string]any{"name": "order_shipped", "text": "Hi {{name}}, order {{order | default \"#?\"}} has shipped"})
	mustStatus(t, "create template", st, http.StatusCreated, tpl)

	id := send(t, ws.inboundURL, map[string]any{"action": "send", "phone": "+14155552671", "template": "order_shipped", "variables": map[string]any{"name": "Jane", "order": 1042}})
	waitFor(t, "the templated message sent", func() bool { return messageStatus(t, in, ws, id) == "sent" })
	lines := readOutbox(t, dir)
	if len(lines) != 1 || lines[0].MessageID != id || lines[0].Text != "Hi Jane, order 1042 has shipped" {
		t.Fatalf("outbox = %+v; want the rendered text of message %s", lines, id)
	}

	st, refused := call(t, "POST", ws.inboundURL, "", map[string]any{"action": "send", "phone": "+14155552671", "template": "order_shipped"})
	if st != http.StatusBadRequest || str(refused["message"]) == "" {
		t.Fatalf("missing variable = %d %v; want a 400", st, refused)
	}
}

// TestTemplateEndToEndCloudAPI is the "done": a Cloud API number
// with an approved template; the templates are read when the account is
// connected; a customer who wrote more than 24 hours ago (a signed
// webhook) gets no free-form text (400 naming the template), and the
// mapped template goes out as a template message at the fake.
func TestTemplateEndToEndCloudAPI(t *testing.T) {
	fake := graphfake.Start(t, graphfake.Options{WABAID: "102290129340398", Templates: []graphfake.Template{
		{Name: "order_shipped", Language: "en_US", ParameterFormat: "NAMED", Body: "Hi {{name}}, your order {{order}} has shipped"},
	}})
	dir := t.TempDir()
	cfg := testConfig(dir, 20*time.Millisecond, 0)
	cfg.CloudAPIAppSecret, cfg.CloudAPIVerifyToken = "app-secret-e2e", "verify-e2e"
	cfg.CloudAPIBaseURLs = []string{fake.URL}
	in := start(t, cfg)
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	settings := map[string]any{}
	for k, v := range fake.Settings() {
		settings[k] = v
	}
	base := in.base + "/api/v1/workspaces/" + ws.id
	st, acct := call(t, "POST", base+"/accounts", ws.ownerToken, map[string]any{"phone": "+14155550123", "transport": "cloudapi", "settings": settings})
	mustStatus(t, "connect cloudapi account", st, http.StatusCreated, acct)
	st, list := call(t, "GET", base+"/accounts/14155550123/templates", ws.ownerToken, nil)
	mustStatus(t, "list account templates", st, http.StatusOK, list)
	if ts, _ := list["templates"].([]any); len(ts) != 1 {
		t.Fatalf("account templates after connecting = %v; want the approved one", list)
	}
	st, tpl := call(t, "POST", base+"/templates", ws.ownerToken, map[string]any{
		"name": "order_shipped", "text": "Hi {{name}}, your order {{order}} has shipped",
		"cloudapi": map[string]any{"account_phone": "+14155550123", "name": "order_shipped", "language": "en_US", "parameters": []string{"name", "order"}},
	})
	mustStatus(t, "create mapped template", st, http.StatusCreated, tpl)

	// The customer last wrote a month ago.
	body := graphfake.CustomerWebhook(fake.PhoneNumberID, "14155552671", time.Now().Add(-30*24*time.Hour), "thanks")
	req, _ := http.NewRequest(http.MethodPost, in.base+cloudapi.WebhookPath, bytes.NewReader(body))
	req.Header.Set(cloudapi.SignatureHeader, graphfake.Sign(cfg.CloudAPIAppSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed customer webhook = %d", resp.StatusCode)
	}
	st, refused := call(t, "POST", ws.inboundURL, "", map[string]any{"action": "send", "whatsapp_account_phone": "+14155550123", "phone": "+14155552671", "text": "Your order has shipped"})
	if st != http.StatusBadRequest || !strings.Contains(str(refused["message"]), `"template":"order_shipped"`) {
		t.Fatalf("free-form past the window = %d %v; want a 400 naming the template", st, refused)
	}

	id := send(t, ws.inboundURL, map[string]any{"action": "send", "whatsapp_account_phone": "+14155550123", "phone": "+14155552671", "template": "order_shipped", "variables": map[string]any{"name": "Jane", "order": 1042}})
	waitFor(t, "the template message sent through the Graph fake", func() bool { return messageStatus(t, in, ws, id) == "sent" })
	sends := fake.Messages()
	if len(sends) != 1 || sends[0].Invalid != "" || sends[0].Message.Type != "template" || sends[0].Message.Template.Name != "order_shipped" {
		t.Fatalf("Graph fake got %+v; want one valid template send", sends)
	}
	if p := sends[0].Message.Template.Components[0].Parameters; len(p) != 2 || p[0].ParameterName != "name" || p[0].Text != "Jane" || p[1].Text != "1042" {
		t.Errorf("parameters = %s", sends[0].Body)
	}
}
