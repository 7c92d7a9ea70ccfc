package cloudapi

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

// webhookSeeds adds every Cloud API payload of this package's testdata and
// of the repository's shared testdata/cloudapi to f's seed corpus, plus
// webhooks built the way the Graph fake builds them.
func webhookSeeds(f *testing.F) {
	var n int
	for _, dir := range []string{"testdata", filepath.Join("..", "..", "testdata", "cloudapi")} {
		paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			n++
		}
	}
	if n < 10 {
		f.Fatalf("only %d seed payloads found; the shared testdata/cloudapi folder is missing", n)
	}
	at := time.Unix(1750263773, 0)
	f.Add(graphfake.StatusWebhook(graphfake.DefaultPhoneNumberID, graphfake.Status{ID: "wamid.X", Status: StatusDelivered, At: at}))
	f.Add(graphfake.StatusWebhook(graphfake.DefaultPhoneNumberID, graphfake.Status{ID: "wamid.Y", Status: StatusFailed, At: at, ErrorCode: 131026, ErrorTitle: "Message undeliverable"}))
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"object":"whatsapp_business_account"}`, `{"object":"whatsapp_business_account","entry":null}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"statuses":[{"id":"w","status":"sent","timestamp":"-1"}]}}]}]}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"statuses":[{"id":"w","status":"failed","errors":[]}]}}]}]}`} {
		f.Add([]byte(s))
	}
}

// FuzzParseStatusWebhook feeds arbitrary bodies to the status webhook
// parser and to the whole signed webhook endpoint. The parser never
// panics and is deterministic; every update it returns is one wagate can
// apply (a known status, a provider id, a UTC time or none); the endpoint
// answers a correctly signed body 200 exactly when the parser accepts it
// (400 otherwise), applies exactly the parsed updates in order, and never
// reads a body whose signature is wrong.
func FuzzParseStatusWebhook(f *testing.F) {
	webhookSeeds(f)
	const secret = "fuzz-app-secret"
	f.Fuzz(func(t *testing.T, body []byte) {
		updates, err := ParseStatusWebhook(body)
		again, err2 := ParseStatusWebhook(body)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(updates, again) {
			t.Fatalf("ParseStatusWebhook is not deterministic: %v, %v", err, err2)
		}
		if err != nil && updates != nil {
			t.Fatalf("error %v with %d updates", err, len(updates))
		}
		for _, u := range updates {
			switch u.Status {
			case StatusSent, StatusDelivered, StatusRead, StatusFailed:
			default:
				t.Fatalf("update with status %q", u.Status)
			}
			if u.ProviderID == "" {
				t.Fatalf("update without a provider id: %+v", u)
			}
			if !u.At.IsZero() && (u.At.Location() != time.UTC || u.At.Unix() <= 0) {
				t.Fatalf("update time %v is not a positive UTC time", u.At)
			}
			if u.Status == StatusFailed && failureText(u) == "" {
				t.Fatalf("a failed update without a failure text: %+v", u)
			}
			if Advance(u.Status, u.Status) {
				t.Fatalf("Advance(%q, %q) = true: a duplicate would apply twice", u.Status, u.Status)
			}
		}

		var applied []wagate.DeliveryUpdate
		h := WebhookHandler(WebhookConfig{AppSecret: secret, VerifyToken: "v", Deliveries: deliveriesFunc(func(u wagate.DeliveryUpdate) error {
			applied = append(applied, u)
			return wagate.Errorf(wagate.ENOTFOUND, "no message sent with that id")
		})})
		post := func(signature string) int {
			req := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
			req.Header.Set(SignatureHeader, signature)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		if st := post(graphfake.Sign("another-secret", body)); st != http.StatusUnauthorized && st != http.StatusRequestEntityTooLarge {
			t.Fatalf("wrongly signed body answered %d, want 401", st)
		}
		if len(applied) != 0 {
			t.Fatalf("a wrongly signed body applied %d updates", len(applied))
		}
		st := post(graphfake.Sign(secret, body))
		switch {
		case len(body) > maxWebhookBody:
			if st != http.StatusRequestEntityTooLarge {
				t.Fatalf("a %d-byte body answered %d, want 413", len(body), st)
			}
			return
		case err != nil && st != http.StatusBadRequest:
			t.Fatalf("signed body the parser refuses (%v) answered %d, want 400", err, st)
		case err == nil && st != http.StatusOK:
			t.Fatalf("signed body with %d updates answered %d, want 200", len(updates), st)
		}
		if len(applied) != len(updates) {
			t.Fatalf("the endpoint applied %d updates, the parser read %d", len(applied), len(updates))
		}
		for i, u := range updates {
			if a := applied[i]; a.ProviderID != u.ProviderID || a.Status != u.Status || !a.At.Equal(u.At) {
				t.Fatalf("update %d applied as %+v, parsed as %+v", i, a, u)
			}
		}
	})
}

// deliveriesFunc is a function-field wagate.DeliveryService.
type deliveriesFunc func(u wagate.DeliveryUpdate) error

func (f deliveriesFunc) ApplyDelivery(_ context.Context, u wagate.DeliveryUpdate, _ func(current, next string) bool) (*wagate.Message, bool, error) {
	return nil, false, f(u)
}
