package openapitest_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wagate/wagate/gateway/openapi/openapitest"
)

// recordingTB keeps what CheckAnswer reports instead of failing the test.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCheckAnswer: the helpers' hook reports an answer the document does
// not describe, checks the router's own 404 and 405 for the envelope, and
// leaves paths outside the API (console, transport webhooks) alone.
func TestCheckAnswer(t *testing.T) {
	envelope := `{"status":404,"data":{},"message":"no such endpoint","error":"not_found"}`
	for _, tc := range []struct {
		name, method, path string
		status             int
		contentType, body  string
		want               string // in the report; "" for none
	}{
		{"documented", "GET", "/healthz", 200, "application/json", `{"status":"ok"}`, ""},
		{"undescribed status", "GET", "/healthz", 418, "application/json", `{"status":"ok"}`, "GET /healthz answered 418: the status is not described"},
		{"wrong body", "GET", "/readyz", 200, "application/json", `{"status":"up"}`, "GET /readyz answered 200: the body does not match"},
		{"router 404", "GET", "/api/v1/nothing", 404, "application/json", envelope, ""},
		{"router 404 without envelope", "GET", "/api/v1/nothing", 404, "application/json", `{"error":"nope"}`, "error answer 404"},
		{"unknown path, other status", "GET", "/api/v1/nothing", 200, "application/json", `{}`, "yet it answered 200"},
		{"inbound token never reported", "POST", "/inbound/secret-token/x", 500, "application/json", `{}`, "/inbound/…, yet"},
		{"console", "GET", "/ui/", 200, "text/html", "<html>", ""},
		{"transport webhook", "POST", "/webhooks/cloudapi", 202, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if tc.contentType != "" {
				rec.Header().Set("Content-Type", tc.contentType)
			}
			rec.WriteHeader(tc.status)
			rec.WriteString(tc.body)
			r := &recordingTB{TB: t}
			openapitest.CheckAnswer(r, tc.method, tc.path, rec.Code, rec.Header(), rec.Body.Bytes())
			got := strings.Join(r.errs, "\n")
			switch {
			case tc.want == "" && got != "":
				t.Errorf("reported %q; want nothing", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("reported %q; want %q", got, tc.want)
			case strings.Contains(got, "secret-token"):
				t.Errorf("the report %q shows the inbound token", got)
			}
		})
	}
}
