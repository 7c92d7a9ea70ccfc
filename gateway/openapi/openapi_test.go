package openapi_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/wagate/wagate/gateway/openapi"
)

type parameter struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

type operation struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Tags        []string                   `json:"tags"`
	Security    *[]map[string][]string     `json:"security"`
	Parameters  []parameter                `json:"parameters"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

type document struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Parameters map[string]parameter `json:"parameters"`
	} `json:"components"`
}

var pathParam = regexp.MustCompile(`\{([^/}]+)\}`)

// TestDocumentIsConsistent checks what JSON Schema cannot: unique
// operation ids, every path parameter declared, a summary and a tag on
// every operation, and the answers every admin route can give (the token
// middleware's 401 and 429, a 403, a 500, a 503 while shutting down).
func TestDocumentIsConsistent(t *testing.T) {
	var doc document
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		var shared []parameter
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &shared); err != nil {
				t.Fatalf("%s parameters: %v", path, err)
			}
		}
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			where := strings.ToUpper(method) + " " + path
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if op.OperationID == "" || op.Summary == "" || len(op.Tags) == 0 {
				t.Errorf("%s: wants an operationId, a summary and a tag", where)
			}
			if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s and %s share the operationId %q", where, other, op.OperationID)
			}
			ids[op.OperationID] = where
			declared := map[string]bool{}
			for _, p := range append(append([]parameter(nil), shared...), op.Parameters...) {
				if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
					c, found := doc.Components.Parameters[name]
					if !found {
						t.Errorf("%s: parameter $ref %q refers to nothing", where, p.Ref)
					}
					p = c
				}
				if p.In == "path" {
					declared[p.Name] = true
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %q is not declared", where, m[1])
				}
			}
			public := op.Security != nil && len(*op.Security) == 0
			if strings.HasPrefix(path, "/api/v1/workspaces") == public {
				t.Errorf("%s: only admin routes need a token (security [] on the others)", where)
			}
			if !public {
				for _, status := range []string{"401", "403", "429", "500", "503"} {
					if op.Responses[status] == nil {
						t.Errorf("%s: describes no %s; every admin route can answer it", where, status)
					}
				}
			}
		}
	}
}
