package gateway_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wagate/wagate/gateway/openapi/openapitest"
)

// checkOpenAPI holds an answer to the OpenAPI document the gateway serves:
// the helpers run every answer the tests receive through it, so a handler
// that answers an undocumented status, or a body the document does not
// describe, fails the test that met it. Answers of the router itself (no
// route, wrong method) match no operation; they must still be the error
// envelope. It reports with Errorf: helpers also run on other goroutines.
func checkOpenAPI(t testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	if req.Method == http.MethodHead || !documented(req.URL.Path) {
		return
	}
	v, err := openapitest.Load()
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	body := rec.Body.Bytes()
	err = v.CheckResponse(req.Method, req.URL.EscapedPath(), rec.Code, rec.Header().Get("Content-Type"), body)
	if errors.Is(err, openapitest.ErrNoOperation) {
		switch rec.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			err = v.CheckError(rec.Code, body)
		default:
			err = fmt.Errorf("%w, yet it answered %d", err, rec.Code)
		}
	}
	if err != nil {
		t.Errorf("OpenAPI: %v", err)
	}
}

// documented reports whether the OpenAPI document owns path: the inbound
// URL, the admin API, health and metrics. Paths a transport mounts (its
// provider's status webhook) and the web console are not wagate's API.
func documented(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/inbound/") || path == "/inbound"
}
