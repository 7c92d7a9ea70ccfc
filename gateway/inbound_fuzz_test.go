package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// FuzzInbound sends arbitrary bodies and Idempotency-Keys to a real
// inbound URL (the whole echo stack, the validator, recipient resolution
// against chats and accounts, and the durable Accept on bbolt). The seeds
// are the real-shaped requests of the repository's testdata/inbound. For
// every input:
//   - the answer is one SPEC §1 allows for a valid, enabled URL (200, 400,
//     402, 413, 422), never a 5xx, always the JSON envelope whose status,
//     machine code and HTTP status agree, with a message, and never the
//     token;
//   - a 200 names a message that exists, queued, that cost 1 or 2 credits,
//     and exactly those left the balance (nothing for a replay);
//   - a refusal charged nothing.
func FuzzInbound(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "inbound", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	if len(paths) < 10 {
		f.Fatalf("only %d seed requests in ../testdata/inbound", len(paths))
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "order-"+filepath.Base(p))
	}
	f.Add([]byte(`{"action":"send","chat_name":"Twins","text":"which one?"}`), "")
	f.Add([]byte(`{"action":"send","whatsapp_account_phone":"+14155550123","jid":"120363025246125486@g.us","text":"cloudapi cannot"}`), "")
	f.Add([]byte(`{"action":"send","phone":"+14155552671","text":"same key, other body"}`), "order-spec_example_phone.json")

	// One workspace for the whole run: the store keeps what was accepted,
	// so later inputs meet idempotency records and chats made by earlier
	// ones, as a long-running server does.
	e := newEnv(f, withLogger(zap.NewNop()), withBurst(1<<30))
	ws := e.workspace("Fuzz", 1_000_000_000_000)
	e.account(ws, acctPhone)
	mustStatus(f, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner,
		`{"phone":"+14155550123","transport":"cloudapi","settings":{"phone_number_id":"1","access_token":"t"}}`), http.StatusCreated)
	e.chat(ws, acctPhone, "+14155552671", "Jane Roe")
	e.chat(ws, acctPhone, "+4915112345678", "Twins")
	e.chat(ws, acctPhone, "+447911123456", "Twins")
	ctx := context.Background()
	balance := func(t *testing.T) int64 {
		w, err := e.db.FindWorkspace(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		return w.Credits
	}

	f.Fuzz(func(t *testing.T, body []byte, key string) {
		before := balance(t)
		req := httptest.NewRequest(http.MethodPost, "/inbound/"+ws.Inbound, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if key != "" && !strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			req.Header.Set("Idempotency-Key", key)
		}
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		checkOpenAPI(t, req, rec)

		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusPaymentRequired, http.StatusUnprocessableEntity:
		case http.StatusRequestEntityTooLarge:
			if len(body) <= gateway.InboundBodyLimit {
				t.Fatalf("413 for a %d-byte body", len(body))
			}
		default:
			t.Fatalf("answer %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		if strings.Contains(rec.Body.String(), ws.Inbound) {
			t.Fatalf("the answer holds the inbound token: %s", rec.Body)
		}
		after := balance(t)

		if rec.Code != http.StatusOK {
			var b errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("error answer is not the envelope: %v: %s", err, rec.Body)
			}
			if b.Status != rec.Code || string(b.Data) != "{}" || b.Message == "" || gateway.StatusFor(b.Error) != rec.Code {
				t.Fatalf("error envelope %s does not agree with status %d", rec.Body, rec.Code)
			}
			if after != before {
				t.Fatalf("a %d answer changed the balance from %d to %d", rec.Code, before, after)
			}
			return
		}

		var ok struct {
			Status string `json:"status"`
			Data   struct {
				MessageID string `json:"message_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil || ok.Status != "success" {
			t.Fatalf("200 answer %s: %v", rec.Body, err)
		}
		m, err := e.db.FindMessage(ctx, ws.ID, ok.Data.MessageID)
		if err != nil {
			t.Fatalf("200 with message id %q, which is not stored: %v", ok.Data.MessageID, err)
		}
		if m.Status != wagate.StatusQueued || (m.Credits != 1 && m.Credits != 2) {
			t.Fatalf("accepted message is %s costing %d; want queued, 1 or 2 credits", m.Status, m.Credits)
		}
		replayed := rec.Header().Get("Idempotent-Replayed") == "true"
		switch {
		case replayed && after != before:
			t.Fatalf("a replay changed the balance from %d to %d", before, after)
		case !replayed && before-after != m.Credits:
			t.Fatalf("balance went from %d to %d for a message of %d credits", before, after, m.Credits)
		}
	})
}
