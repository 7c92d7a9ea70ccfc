package cloudapi_test

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/cloudapi"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
	"github.com/wagate/wagate/store"
)

const (
	appSecret   = "app-secret-never-logged"
	verifyToken = "verify-token-0123"
	// phoneNumberID is the account's business number at Meta.
	phoneNumberID = "106540352242922"
)

// webhookEnv is the status endpoint on a real store with sent messages.
type webhookEnv struct {
	t   *testing.T
	db  *store.DB
	srv *httptest.Server
	ws  string
}

func newWebhookEnv(t *testing.T) *webhookEnv {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "wagate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	ws := &wagate.Workspace{ID: "ws_1", Name: "Acme", Credits: 10, Webhook: wagate.Webhook{Token: "inbound", Enabled: true}}
	if err := db.CreateWorkspace(ctx, ws, &wagate.Token{Hash: wagate.HashToken("owner"), WorkspaceID: ws.ID, Role: wagate.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	acct := &wagate.Account{WorkspaceID: ws.ID, Phone: "+15105566777", Transport: wagate.TransportCloudAPI, Active: true, ConnectedAt: time.Now(),
		Settings: map[string]string{cloudapi.SettingPhoneNumberID: phoneNumberID, cloudapi.SettingAccessToken: "EAAG-token"}}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cloudapi.WebhookHandler(cloudapi.WebhookConfig{AppSecret: appSecret, VerifyToken: verifyToken, Deliveries: db, Logger: zaptest.NewLogger(t)}))
	t.Cleanup(srv.Close)
	return &webhookEnv{t: t, db: db, srv: srv, ws: ws.ID}
}

// sent accepts a 1-credit message and records it sent as wamid.
func (e *webhookEnv) sent(id, wamid string) {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.db.Accept(ctx, &wagate.Accept{
		WorkspaceID: e.ws,
		BodyHash:    sha256.Sum256([]byte(id)),
		Message:     &wagate.Message{ID: id, AccountPhone: "+15105566777", JID: "14155552671@s.whatsapp.net", Text: "hi", Credits: 1},
		Attempt:     &wagate.Attempt{},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.MarkSending(ctx, id, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.MarkSent(ctx, id, wagate.Try{At: time.Now(), ProviderID: wamid}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *webhookEnv) post(body []byte, signature string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+cloudapi.WebhookPath, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set(cloudapi.SignatureHeader, signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *webhookEnv) message(id string) *wagate.Message {
	e.t.Helper()
	m, err := e.db.FindMessage(context.Background(), e.ws, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *webhookEnv) balance() int64 {
	e.t.Helper()
	ws, err := e.db.FindWorkspace(context.Background(), e.ws)
	if err != nil {
		e.t.Fatal(err)
	}
	return ws.Credits
}

func TestWebhookHandshake(t *testing.T) {
	e := newWebhookEnv(t)
	get := func(mode, token string) (int, string) {
		q := url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}
		resp, err := http.Get(e.srv.URL + cloudapi.WebhookPath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get("subscribe", verifyToken); st != http.StatusOK || body != "1158201444" {
		t.Errorf("good handshake = %d %q, want 200 and the challenge", st, body)
	}
	if st, body := get("subscribe", "wrong"); st != http.StatusForbidden || strings.Contains(body, verifyToken) {
		t.Errorf("wrong verify token = %d %q, want 403 without the token", st, body)
	}
	if st, _ := get("unsubscribe", verifyToken); st != http.StatusForbidden {
		t.Errorf("mode unsubscribe = %d, want 403", st)
	}
}

func TestWebhookAppliesSignedStatuses(t *testing.T) {
	e := newWebhookEnv(t)
	e.sent("wa_backend:00000000000000000001", "wamid.one")
	e.sent("wa_backend:00000000000000000002", "wamid.two")
	at := time.Unix(1_760_000_000, 0)
	statuses := func(st ...graphfake.Status) []byte { return graphfake.StatusWebhook(phoneNumberID, st...) }

	// A known wamid reported from another business number (or none) is
	// not ours: matched by the pair, never by the wamid alone (SPEC §8).
	for _, other := range []string{"999999999999999", ""} {
		body := graphfake.StatusWebhook(other, graphfake.Status{ID: "wamid.two", Status: "failed", At: at, ErrorCode: 131026, ErrorTitle: "Message undeliverable"})
		if st, answer := e.post(body, graphfake.Sign(appSecret, body)); st != http.StatusOK {
			t.Fatalf("status from another number = %d %s; want 200 (ignored, not redelivered)", st, answer)
		}
		if m := e.message("wa_backend:00000000000000000002"); m.Status != wagate.StatusSent || m.Delivery != "" {
			t.Fatalf("status from phone_number_id %q changed the message: %q, delivery %q", other, m.Status, m.Delivery)
		}
	}
	if got := e.balance(); got != 8 {
		t.Fatalf("balance = %d after statuses from another number, want 8 (no refund)", got)
	}

	// A bad or missing signature changes nothing and says nothing secret.
	body := statuses(graphfake.Status{ID: "wamid.one", Status: "read", At: at})
	for _, sig := range []string{"", graphfake.Sign("another-secret", body), "sha256=zz", graphfake.Sign(appSecret, append(body, ' '))} {
		st, answer := e.post(body, sig)
		if st != http.StatusUnauthorized || strings.Contains(answer, graphfake.Sign(appSecret, body)) || strings.Contains(answer, appSecret) {
			t.Errorf("signature %q: %d %s; want 401 without the expected signature", sig, st, answer)
		}
	}
	if m := e.message("wa_backend:00000000000000000001"); m.Delivery != "" {
		t.Fatalf("unsigned status applied: delivery %q", m.Delivery)
	}

	// Out of order and duplicated: read wins over a late delivered.
	body = statuses(
		graphfake.Status{ID: "wamid.one", Status: "read", At: at.Add(2 * time.Second)},
		graphfake.Status{ID: "wamid.one", Status: "delivered", At: at.Add(time.Second)},
		graphfake.Status{ID: "wamid.one", Status: "read", At: at.Add(2 * time.Second)},
		graphfake.Status{ID: "wamid.not-ours", Status: "read", At: at},
	)
	if st, answer := e.post(body, graphfake.Sign(appSecret, body)); st != http.StatusOK {
		t.Fatalf("signed statuses = %d %s", st, answer)
	}
	if m := e.message("wa_backend:00000000000000000001"); m.Delivery != "read" || m.Status != wagate.StatusSent || !m.DeliveryAt.Equal(at.Add(2*time.Second)) {
		t.Errorf("message one = delivery %q at %v, status %q; want read at %v, sent", m.Delivery, m.DeliveryAt, m.Status, at.Add(2*time.Second))
	}

	// A late failure refunds once, however often Meta repeats it.
	failed := statuses(graphfake.Status{ID: "wamid.two", Status: "failed", At: at, ErrorCode: 131026, ErrorTitle: "Message undeliverable", ErrorDetails: "not on WhatsApp"})
	for i := 0; i < 3; i++ {
		if st, answer := e.post(failed, graphfake.Sign(appSecret, failed)); st != http.StatusOK {
			t.Fatalf("failed status %d = %d %s", i, st, answer)
		}
	}
	m := e.message("wa_backend:00000000000000000002")
	if m.Status != wagate.StatusFailed || !strings.Contains(m.Error, "Message undeliverable (code 131026): not on WhatsApp") || !strings.Contains(m.Error, "check the number") {
		t.Errorf("message two = %q %q; want failed with Meta's reason and advice", m.Status, m.Error)
	}
	if got := e.balance(); got != 9 {
		t.Errorf("balance = %d, want 9: 10 - 2 sent + 1 refunded once", got)
	}
	if problems, err := e.db.Audit(context.Background()); err != nil || len(problems) > 0 {
		t.Errorf("audit: %v %v", problems, err)
	}
}

func TestWebhookStorageFailureAsksForRedelivery(t *testing.T) {
	e := newWebhookEnv(t)
	e.sent("wa_backend:00000000000000000003", "wamid.three")
	e.db.Close()
	body := graphfake.StatusWebhook("1", graphfake.Status{ID: "wamid.three", Status: "delivered", At: time.Now()})
	if st, _ := e.post(body, graphfake.Sign(appSecret, body)); st != http.StatusServiceUnavailable {
		t.Errorf("status with a closed store = %d, want 503 so Meta delivers again", st)
	}
}
