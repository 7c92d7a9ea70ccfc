package gateway_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

func TestStatusTable(t *testing.T) {
	for code, status := range map[string]int{
		"":                   200,
		wagate.EINVALID:      400,
		wagate.EUNAUTHORIZED: 401,
		wagate.ECREDITS:      402,
		wagate.EDISABLED:     403,
		wagate.EFORBIDDEN:    403,
		wagate.ENOTFOUND:     404,
		wagate.ECONFLICT:     409,
		wagate.ETOOLARGE:     413,
		wagate.EMEDIATYPE:    415,
		wagate.EIDEMPOTENCY:  422,
		wagate.ERATELIMIT:    429,
		wagate.EINTERNAL:     500,
		wagate.EUNAVAILABLE:  503,
		"no_such_code":       500,
	} {
		if got := gateway.StatusFor(code); got != status {
			t.Errorf("StatusFor(%q) = %d, want %d", code, got, status)
		}
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e, ws := setup(t, 10)
	var body map[string]string
	mustDecode(t, e.do(http.MethodGet, "/healthz", "", ""), http.StatusOK, &body)
	if body["status"] != "ok" {
		t.Errorf("healthz = %v", body)
	}
	mustStatus(t, e.do(http.MethodGet, "/readyz", "", ""), http.StatusOK)

	// A domain reason is shown; any other error is hidden behind "not ready".
	e.ready = func() error { return wagate.Errorf(wagate.EUNAVAILABLE, "sender not running") }
	wantError(t, e.do(http.MethodGet, "/readyz", "", ""), http.StatusServiceUnavailable, wagate.EUNAVAILABLE, "not ready: sender not running")
	e.ready = func() error { return errors.New("open /secret/path: permission denied") }
	b := wantError(t, e.do(http.MethodGet, "/readyz", "", ""), http.StatusServiceUnavailable, wagate.EUNAVAILABLE)
	if b.Message != "not ready" {
		t.Errorf("message = %q, want the cause hidden", b.Message)
	}
	e.ready = nil

	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi"}`))
	wantError(t, e.send(ws.Inbound, `{}`), http.StatusBadRequest, wagate.EINVALID)
	rec := e.do(http.MethodGet, "/metrics", "", "")
	mustStatus(t, rec, http.StatusOK)
	text := rec.Body.String()
	for _, want := range []string{
		`wagate_http_requests_total{code="200",route="/inbound/:token"} 1`,
		`wagate_http_requests_total{code="400",route="/inbound/:token"} 1`,
		`wagate_inbound_accepted_total 1`,
		`wagate_inbound_rejected_total{error="invalid"} 1`,
		`wagate_http_request_duration_seconds_count{route="/healthz"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, ws.Inbound) {
		t.Errorf("metrics contain the inbound token")
	}
}

func TestRegistryShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	gateway.New(gateway.Config{Registry: reg}, gateway.Services{})
	gateway.New(gateway.Config{Registry: reg}, gateway.Services{}) // must not panic
}

func TestPanicBecomes500(t *testing.T) {
	e := newEnv(t)
	e.ready = func() error { panic("boom") }
	rec := e.do(http.MethodGet, "/readyz", "", "")
	wantError(t, rec, http.StatusInternalServerError, wagate.EINTERNAL, "internal error (request id ")
	if rec.Header().Get("X-Request-ID") == "" {
		t.Errorf("no X-Request-ID")
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	rec := e.do(http.MethodGet, "/healthz", "", "", "X-Request-ID", "abc-123")
	if got := rec.Header().Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("X-Request-ID = %q, want the client's", got)
	}
	rec = e.do(http.MethodGet, "/healthz", "", "", "X-Request-ID", "bad id\twith spaces")
	if got := rec.Header().Get("X-Request-ID"); len(got) != 24 {
		t.Errorf("X-Request-ID = %q, want a fresh 24-character id", got)
	}
}

// TestMount: a mounted handler answers on its path, and its log lines carry
// the path as the route.
func TestMount(t *testing.T) {
	e := newEnv(t)
	e.srv.Mount("/webhooks/test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}), http.MethodPost)
	if rec := e.do(http.MethodPost, "/webhooks/test", "", "{}"); rec.Code != http.StatusAccepted {
		t.Errorf("POST /webhooks/test = %d, want 202", rec.Code)
	}
	wantError(t, e.do(http.MethodGet, "/webhooks/test", "", ""), http.StatusMethodNotAllowed, "method_not_allowed")
}
