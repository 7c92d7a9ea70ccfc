package main

import (
	"net/http"
	"testing"

	"github.com/wagate/wagate/gateway/openapi/openapitest"
)

// checkOpenAPI holds an answer of the running server to the OpenAPI
// document it serves, as the gateway's own tests do: the end-to-end
// helpers (call, scenario.do) run every answer through it.
func checkOpenAPI(t testing.TB, method, target string, status int, header http.Header, body []byte) {
	t.Helper()
	openapitest.CheckAnswer(t, method, target, status, header, body)
}
