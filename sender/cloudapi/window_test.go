package cloudapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate/sender/cloudapi"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
	"github.com/wagate/wagate/store"
)

// TestWebhookRecordsCustomerMessages: a signed webhook of a customer's
// message records when the customer last wrote, per business number; an
// unsigned one records nothing; an older message does not move it back.
func TestWebhookRecordsCustomerMessages(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "wagate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := httptest.NewServer(cloudapi.WebhookHandler(cloudapi.WebhookConfig{AppSecret: appSecret, VerifyToken: verifyToken, Deliveries: db, Windows: db, Logger: zaptest.NewLogger(t)}))
	t.Cleanup(srv.Close)
	post := func(body []byte, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+cloudapi.WebhookPath, strings.NewReader(string(body)))
		req.Header.Set(cloudapi.SignatureHeader, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	key, ok := cloudapi.ChatKey(map[string]string{cloudapi.SettingPhoneNumberID: phoneNumberID}, "14155552671@s.whatsapp.net")
	if !ok {
		t.Fatal("ChatKey: no key for a person")
	}
	at := time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC)
	body := graphfake.CustomerWebhook(phoneNumberID, "14155552671", at, "where is my order?")
	if st := post(body, graphfake.Sign("wrong", body)); st != http.StatusUnauthorized {
		t.Fatalf("badly signed = %d", st)
	}
	if _, ok, _ := db.LastCustomerMessage(context.Background(), key); ok {
		t.Fatal("an unsigned webhook was recorded")
	}
	if st := post(body, graphfake.Sign(appSecret, body)); st != http.StatusOK {
		t.Fatalf("signed = %d", st)
	}
	older := graphfake.CustomerWebhook(phoneNumberID, "14155552671", at.Add(-time.Hour), "earlier")
	if st := post(older, graphfake.Sign(appSecret, older)); st != http.StatusOK {
		t.Fatalf("signed older = %d", st)
	}
	got, ok, err := db.LastCustomerMessage(context.Background(), key)
	if err != nil || !ok || !got.Equal(at) {
		t.Fatalf("last customer message = %v %v %v; want %v", got, ok, err, at)
	}
	other, _ := cloudapi.ChatKey(map[string]string{cloudapi.SettingPhoneNumberID: "999"}, "14155552671@s.whatsapp.net")
	if _, ok, _ := db.LastCustomerMessage(context.Background(), other); ok {
		t.Error("another business number shares the window")
	}
	for _, jid := range []string{"120363025246125486@g.us", "123@lid"} {
		if _, ok := cloudapi.ChatKey(map[string]string{cloudapi.SettingPhoneNumberID: phoneNumberID}, jid); ok {
			t.Errorf("ChatKey(%s) has a window", jid)
		}
	}
	if _, ok := cloudapi.ChatKey(map[string]string{}, "14155552671@s.whatsapp.net"); ok {
		t.Error("ChatKey without phone_number_id has a window")
	}
}
