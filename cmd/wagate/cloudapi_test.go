package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/sender/cloudapi"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

// TestCloudAPIEndToEnd sends through a cloudapi account whose base_url is a
// local fake of the Graph API (checking each body against Meta's schema
// when graphfake.SpecFromEnv finds it), then feeds a signed status callback to
// /webhooks/cloudapi and reads the delivery on the message.
func TestCloudAPIEndToEnd(t *testing.T) {
	fake := graphfake.Start(t, graphfake.Options{})
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
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken,
		map[string]any{"phone": "+14155550123", "transport": "cloudapi", "settings": settings})
	mustStatus(t, "connect cloudapi account", st, http.StatusCreated, acct)
	for _, path := range []string{"/accounts", ""} {
		st, answer := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+path, ws.ownerToken, nil)
		raw, _ := json.Marshal(answer)
		if st != http.StatusOK || bytes.Contains(raw, []byte(fake.Token)) || bytes.Contains(raw, []byte("access_token")) {
			t.Errorf("GET …%s = %d %s; want the account without its settings", path, st, raw)
		}
	}
	raw, _ := json.Marshal(acct)
	if bytes.Contains(raw, []byte(fake.Token)) {
		t.Fatal("the account answer shows the access token")
	}

	// Another base_url than Meta's or the operator's is refused: no owner
	// can aim the token and the requests at an internal address.
	bad := map[string]any{"phone": "+14155550124", "transport": "cloudapi", "settings": map[string]any{"phone_number_id": "1", "access_token": "t", "base_url": "http://127.0.0.1:6379"}}
	if st, body := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, bad); st != http.StatusBadRequest || !strings.Contains(str(body["message"]), "not allowed on this server") {
		t.Errorf("an internal base_url = %d %v; want 400 not allowed", st, body)
	}

	// A group cannot be reached through the Cloud API: refused at once.
	st, refused := call(t, "POST", ws.inboundURL, "", map[string]any{"action": "send", "whatsapp_account_phone": "+14155550123", "jid": "120363025246125486@g.us", "text": "hi"})
	if st != http.StatusBadRequest || !strings.Contains(str(refused["message"]), "cloudapi") {
		t.Errorf("group through cloudapi = %d %v; want a 400 naming the transport", st, refused)
	}

	id := send(t, ws.inboundURL, map[string]any{"action": "send", "whatsapp_account_phone": "+14155550123", "phone": "+14155552671", "text": "Your order has shipped"})
	waitFor(t, "the message sent through the Graph fake", func() bool { return messageStatus(t, in, ws, id) == "sent" })
	sends := fake.Messages()
	if len(sends) != 1 || sends[0].Message == nil || sends[0].Invalid != "" || !strings.Contains(string(sends[0].Body), `"to":"14155552671"`) {
		t.Fatalf("Graph fake got %+v; want one valid text send to 14155552671", sends)
	}
	wamid := sends[0].ID

	_, m := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/messages/"+id, ws.ownerToken, nil)
	tries, _ := m["tries"].([]any)
	if len(tries) != 1 || tries[0].(map[string]any)["provider_id"] != wamid {
		t.Fatalf("tries = %v; want one with provider id %s", m["tries"], wamid)
	}

	body := graphfake.StatusWebhook(fake.PhoneNumberID, graphfake.Status{ID: wamid, Status: "delivered", At: time.Now()})
	post := func(signature string) int {
		req, _ := http.NewRequest(http.MethodPost, in.base+cloudapi.WebhookPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(cloudapi.SignatureHeader, signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(graphfake.Sign("wrong-secret", body)); st != http.StatusUnauthorized {
		t.Errorf("badly signed callback = %d, want 401", st)
	}
	if st := post(graphfake.Sign(cfg.CloudAPIAppSecret, body)); st != http.StatusOK {
		t.Fatalf("signed callback = %d, want 200", st)
	}
	_, m = call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/messages/"+id, ws.ownerToken, nil)
	if m["delivery"] != "delivered" || m["status"] != "sent" {
		t.Errorf("message after the callback = %v; want delivery delivered, status sent", m)
	}
}
