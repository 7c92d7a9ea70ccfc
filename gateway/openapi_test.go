package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate/gateway/openapi"
	"github.com/wagate/wagate/gateway/openapi/openapitest"
)

// TestOpenAPIIsServedToAnyone: the description is public (it holds no
// secret; tools fetch it without a token) and is the embedded document.
func TestOpenAPIIsServedToAnyone(t *testing.T) {
	e := newEnv(t)
	rec := e.do(http.MethodGet, "/api/v1/openapi.json", "", "")
	mustStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), openapi.Document()) {
		t.Errorf("the answer is not the embedded document")
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, %v; want 3.1.0", doc.OpenAPI, err)
	}
}

// documentedAhead are operations of SPEC §4 that the document describes
// while other branches still build them. Empty this list as they land:
// the test then holds the route table and the document equal both ways.
var documentedAhead = map[string]bool{}

// notOperations are routes of the gateway that are no API of their own:
// the catch-alls that answer an unknown inbound URL's 404, which the
// document describes under POST /inbound/{token}.
var notOperations = map[string]bool{
	echo.RouteNotFound + " /inbound/{}/*": true,
	"POST /inbound/":                      true,
}

// TestOpenAPICoversEveryRoute: every route of the gateway is in the
// document and every operation of the document is a route, so neither a
// new route nor a removed one goes undescribed.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	v, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, r := range e.srv.Handler().(*echo.Echo).Routes() {
		if k := r.Method + " " + paramsOf(r.Path, ":"); !notOperations[k] {
			routes[k] = true
		}
	}
	ops := map[string]bool{}
	for _, op := range v.Operations() {
		ops[op.Method+" "+paramsOf(op.Path, "{")] = true
	}
	var missing, extra []string
	for k := range routes {
		if !ops[k] {
			missing = append(missing, k)
		}
	}
	for k := range ops {
		if !routes[k] && !documentedAhead[k] {
			extra = append(extra, k)
		}
	}
	for k := range documentedAhead {
		if routes[k] {
			t.Errorf("%s is a route now: remove it from documentedAhead", k)
		}
		if !ops[k] {
			t.Errorf("%s is in documentedAhead but not in the document", k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, k := range missing {
		t.Errorf("route %s is not in gateway/openapi/openapi.json: describe it", k)
	}
	for _, k := range extra {
		t.Errorf("the document describes %s, which is no route of the gateway", k)
	}
}

var (
	echoParam    = regexp.MustCompile(`:[^/]+`)
	openAPIParam = regexp.MustCompile(`\{[^/}]+\}`)
)

// paramsOf writes a path template with its parameters as {}, so echo's
// /a/:ws and the document's /a/{ws} compare equal (names may differ).
func paramsOf(path, style string) string {
	if style == ":" {
		return echoParam.ReplaceAllString(path, "{}")
	}
	return openAPIParam.ReplaceAllString(path, "{}")
}
