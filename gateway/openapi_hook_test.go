package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wagate/wagate/gateway/openapi/openapitest"
)

// checkOpenAPI holds an answer to the OpenAPI document the gateway serves:
// the helpers run every answer the tests receive through it, so a handler
// that answers an undescribed status, or a body the document does not
// describe, fails the test that met it.
func checkOpenAPI(t testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	openapitest.CheckAnswer(t, req.Method, req.URL.String(), rec.Code, rec.Header(), rec.Body.Bytes())
}
