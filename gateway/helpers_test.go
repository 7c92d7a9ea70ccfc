package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/store"
)

// t0 is the tests' fixed start time. The clock only moves when a test moves
// it, so the rate limiter never refills behind a test's back.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// clock is a settable clock shared by the gateway and the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// waker records Wake and AccountChanged calls.
type waker struct {
	mu      sync.Mutex
	refs    []wagate.AccountRef
	changed []wagate.AccountRef
}

func (w *waker) AccountChanged(ref wagate.AccountRef) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed = append(w.changed, ref)
}

func (w *waker) Changed() []wagate.AccountRef {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wagate.AccountRef(nil), w.changed...)
}

func (w *waker) Wake(ref wagate.AccountRef) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refs = append(w.refs, ref)
}

func (w *waker) Refs() []wagate.AccountRef {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wagate.AccountRef(nil), w.refs...)
}

// env is one gateway on a real bbolt store in a temporary folder.
type env struct {
	t        testing.TB
	db       *store.DB
	srv      *gateway.Server
	clock    *clock
	waker    *waker
	operator string
	ready    func() error
	// cfg and svc made srv; withServices makes it again with other services.
	cfg gateway.Config
	svc gateway.Services
}

// withServices makes the env's server again with edit applied to its
// services (same store, same tokens).
func (e *env) withServices(edit func(*gateway.Services)) {
	edit(&e.svc)
	e.cfg.Registry = nil
	e.srv = gateway.New(e.cfg, e.svc)
}

type option func(*gateway.Config)

func withBurst(n int) option { return func(c *gateway.Config) { c.InboundBurst = n } }

func withLogger(l *zap.Logger) option { return func(c *gateway.Config) { c.Logger = l } }

func newEnv(t testing.TB, opts ...option) *env {
	t.Helper()
	return newEnvStore(t, store.Options{}, opts...)
}

// newEnvStore is newEnv on a store opened with so (its Logger and Now are
// the env's).
func newEnvStore(t testing.TB, so store.Options, opts ...option) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{now: t0}, waker: &waker{}}
	cfg := gateway.Config{
		PublicURL:    "http://wagate.test/",
		InboundRate:  1,
		InboundBurst: 1000, // tests of the limit set their own
		Logger:       zaptest.NewLogger(t),
		Now:          e.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	so.Logger, so.Now = cfg.Logger, e.clock.Now
	db, err := store.Open(filepath.Join(t.TempDir(), "wagate.db"), so)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	e.db = db
	e.cfg = cfg
	e.svc = gateway.Services{
		Workspaces: db, Accounts: db, Chats: db, Messages: db, Attempts: db, Tokens: db,
		Templates: db, Windows: db, Endpoints: db,
		Deliverer:  testDeliverer(),
		Waker:      e.waker,
		Transports: testTransports,
		Ready: func() error {
			if e.ready != nil {
				return e.ready()
			}
			return nil
		},
	}
	e.srv = gateway.New(cfg, e.svc)
	e.operator, err = wagate.NewToken(strings.NewReader(strings.Repeat("operator-token-seed-bytes-000000", 2)))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(context.Background(), &wagate.Token{Hash: wagate.HashToken(e.operator), Role: wagate.RoleOperator, CreatedAt: t0}); err != nil {
		t.Fatalf("creating operator token: %v", err)
	}
	return e
}

// do sends one request through the whole echo stack. headers are
// name, value pairs.
func (e *env) do(method, path, token, body string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	checkOpenAPI(e.t, req, rec)
	return rec
}

// send calls an inbound URL by its token.
func (e *env) send(token, body string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(http.MethodPost, "/inbound/"+token, "", body, headers...)
}

// sendChunked calls an inbound URL without a Content-Length, as a chunked
// request would.
func (e *env) sendChunked(token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/inbound/"+token, io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	checkOpenAPI(e.t, req, rec)
	return rec
}

// workspace is a workspace made through the admin API.
type workspace struct {
	ID      string
	Inbound string // the inbound token
	Owner   string // an owner token
}

func (e *env) workspace(name string, credits int64) workspace {
	e.t.Helper()
	rec := e.do(http.MethodPost, "/api/v1/workspaces", e.operator, fmt.Sprintf(`{"name":%q,"credits":%d}`, name, credits))
	var out struct {
		ID         string `json:"id"`
		OwnerToken string `json:"owner_token"`
		Webhook    struct {
			URL string `json:"url"`
		} `json:"webhook"`
	}
	mustDecode(e.t, rec, http.StatusCreated, &out)
	tok, ok := strings.CutPrefix(out.Webhook.URL, "http://wagate.test/inbound/")
	if !ok {
		e.t.Fatalf("webhook url %q does not start with the public URL", out.Webhook.URL)
	}
	return workspace{ID: out.ID, Inbound: tok, Owner: out.OwnerToken}
}

// account connects a dryrun account.
func (e *env) account(ws workspace, phone string) {
	e.t.Helper()
	rec := e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, fmt.Sprintf(`{"phone":%q}`, phone))
	mustStatus(e.t, rec, http.StatusCreated)
}

// chat creates a chat and returns its id.
func (e *env) chat(ws workspace, accountPhone, phone, name string) string {
	e.t.Helper()
	rec := e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/chats", ws.Owner, fmt.Sprintf(`{"account_phone":%q,"phone":%q,"name":%q}`, accountPhone, phone, name))
	var out struct {
		ID string `json:"id"`
	}
	mustDecode(e.t, rec, http.StatusCreated, &out)
	return out.ID
}

func (e *env) balance(ws workspace) int64 {
	e.t.Helper()
	var out struct {
		Credits int64 `json:"credits"`
	}
	mustDecode(e.t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID, ws.Owner, ""), http.StatusOK, &out)
	return out.Credits
}

// messages lists a workspace's messages straight from the store.
func (e *env) messages(ws workspace) []*wagate.Message {
	e.t.Helper()
	list, err := e.db.ListMessages(context.Background(), ws.ID, "", 1000)
	if err != nil {
		e.t.Fatalf("ListMessages: %v", err)
	}
	return list
}

// accepted checks a 200 of the inbound URL and returns its message id.
func accepted(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			MessageID string `json:"message_id"`
		} `json:"data"`
	}
	mustDecode(t, rec, http.StatusOK, &out)
	if out.Status != "success" || !strings.HasPrefix(out.Data.MessageID, "wa_backend:") || len(out.Data.MessageID) != len("wa_backend:")+20 {
		t.Fatalf("accepted body = %s", rec.Body)
	}
	return out.Data.MessageID
}

// errorBody is the error envelope.
type errorBody struct {
	Status  int             `json:"status"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
	Error   string          `json:"error"`
}

// wantError checks an error answer: status, envelope, machine code, and
// that the message contains each of parts.
func wantError(t testing.TB, rec *httptest.ResponseRecorder, status int, code string, parts ...string) errorBody {
	t.Helper()
	var b errorBody
	mustDecode(t, rec, status, &b)
	if b.Status != status || string(b.Data) != "{}" || b.Error != code {
		t.Fatalf("error body = %s; want status %d, data {}, error %q", rec.Body, status, code)
	}
	for _, p := range parts {
		if !strings.Contains(b.Message, p) {
			t.Errorf("message %q does not contain %q", b.Message, p)
		}
	}
	return b
}

func mustStatus(t testing.TB, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
}

func mustDecode(t testing.TB, rec *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	mustStatus(t, rec, status)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
}

// testTransports are dryrun and a stand-in for cloudapi's rules: settings
// phone_number_id and access_token required, groups and @lid refused.
var testTransports = map[string]gateway.TransportRules{
	wagate.TransportDryrun: {},
	// whatsapp as cmd/wagate wires it: groups and @lid allowed.
	wagate.TransportWhatsApp: {},
	wagate.TransportCloudAPI: {
		ValidateSettings: func(settings map[string]string) error {
			var missing []string
			for _, k := range []string{"phone_number_id", "access_token"} {
				if settings[k] == "" {
					missing = append(missing, k)
				}
			}
			if len(missing) > 0 {
				return wagate.Errorf(wagate.EINVALID, "transport \"cloudapi\" needs the settings phone_number_id and access_token; missing: %s", strings.Join(missing, ", "))
			}
			return nil
		},
		CheckRecipient: func(jid string) error {
			if strings.HasSuffix(jid, "@g.us") || strings.HasSuffix(jid, "@lid") {
				return wagate.Errorf(wagate.EINVALID, "the cloudapi transport cannot send to %s", jid)
			}
			return nil
		},
		// The templates of the WABA the waba_id setting names, from
		// fakeWABAs (templates_cloudapi_test.go).
		SyncTemplates: func(_ context.Context, settings map[string]string) ([]wagate.ProviderTemplate, error) {
			if settings["waba_id"] == "" {
				return nil, fmt.Errorf("%w: %w", wagate.Errorf(wagate.EINVALID, "cloudapi setting waba_id is missing"), wagate.ErrNoProviderTemplates)
			}
			list, ok := fakeWABAs.Load(settings["waba_id"])
			if !ok {
				return nil, wagate.Errorf(wagate.EINVALID, "the Graph API refused to list the templates: unknown WABA")
			}
			return list.([]wagate.ProviderTemplate), nil
		},
		Window: func(settings map[string]string, jid string) (wagate.ChatKey, bool) {
			user, _, _ := strings.Cut(jid, "@")
			return wagate.ChatKey{Transport: wagate.TransportCloudAPI, Sender: settings["phone_number_id"], Customer: user}, true
		},
	},
}
