package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wagate/wagate/gateway/openapi/openapitest"
)

// checkOpenAPI holds an answer of the running server to the OpenAPI
// document it serves, as the gateway's own tests do: the end-to-end
// helpers (call, scenario.do) run every answer through it. Paths outside
// the API (the console, a transport's webhook) are left alone; the
// router's own 404 and 405 must still be the error envelope.
func checkOpenAPI(t testing.TB, method, target string, status int, header http.Header, body []byte) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || method == http.MethodHead || !apiPath(u.Path) {
		return
	}
	v, err := openapitest.Load()
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	err = v.CheckResponse(method, u.EscapedPath(), status, header.Get("Content-Type"), body)
	if errors.Is(err, openapitest.ErrNoOperation) {
		switch status {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			err = v.CheckError(status, body)
		default:
			err = fmt.Errorf("%w, yet it answered %d", err, status)
		}
	}
	if err != nil {
		t.Errorf("OpenAPI: %v", err)
	}
}

// apiPath reports whether the OpenAPI document owns path.
func apiPath(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/inbound/")
}
