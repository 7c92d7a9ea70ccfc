// Package openapitest checks HTTP answers against wagate's OpenAPI document
// (package openapi), for tests: the gateway's, the command's end-to-end
// tests, a client's. It is a package of its own so that the JSON Schema
// validator never becomes a dependency of the gateway binary.
//
// A check finds the operation by method and path (matched against the
// document's path templates), the response by status code, and validates
// the body against the response's schema. OpenAPI 3.1 schemas are JSON
// Schema 2020-12; formats (date-time) are asserted, not just annotations.
package openapitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/wagate/wagate/gateway/openapi"
)

// docURL is the name the document has inside the schema compiler; its
// "#/components/schemas/…" references resolve in it.
const docURL = "urn:wagate:openapi.json"

// lineSchemaKey is the document's extension on a media type whose body is
// one JSON value a line (application/x-ndjson): the schema of each line.
// OpenAPI 3.1 has no keyword for it (3.2's itemSchema comes later).
const lineSchemaKey = "x-line-schema"

// ErrNoOperation is wrapped by the error of a check whose method and path
// match no operation of the document. Callers that also send requests to
// paths outside the API (a 404 of the router, a 405) test for it.
var ErrNoOperation = errors.New("no operation of the OpenAPI document")

// Validator checks answers against the document. It is immutable once
// built and safe for concurrent use.
type Validator struct {
	ops       []*operation
	errSchema *jsonschema.Schema // #/components/schemas/Error
	c         *jsonschema.Compiler
	mu        sync.Mutex // guards c and named
	named     map[string]*jsonschema.Schema
}

// operation is one method of one path of the document.
type operation struct {
	method    string
	template  string   // as in the document: /api/v1/workspaces/{ws}
	segments  []string // template split at "/"; "{…}" matches any one segment
	literals  int      // segments that are not parameters, to prefer /a/b over /a/{x}
	responses map[string]*response
}

// response is one documented status of an operation.
type response struct {
	media map[string]*media // by media type, e.g. "application/json"; empty: no body
}

// media is one documented content type of a response.
type media struct {
	schema *jsonschema.Schema // nil: the body is not JSON and is not checked
	lines  bool               // schema applies to each line (x-line-schema)
}

var shared struct {
	once sync.Once
	v    *Validator
	err  error
}

// Load returns the Validator of the embedded document, compiled once per
// process: every schema the document refers to is compiled here, so a
// broken reference fails at once rather than in the one test that meets it.
func Load() (*Validator, error) {
	shared.once.Do(func() { shared.v, shared.err = New(openapi.Document()) })
	return shared.v, shared.err
}

// New compiles the OpenAPI document doc (JSON).
func New(doc []byte) (*Validator, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("openapitest: the document is not JSON: %w", err)
	}
	var d struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
		Comps   struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("openapitest: reading the document: %w", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.1.") {
		return nil, fmt.Errorf("openapitest: the document is OpenAPI %q; this validator reads 3.1 (JSON Schema 2020-12)", d.OpenAPI)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, inst); err != nil {
		return nil, fmt.Errorf("openapitest: loading the document: %w", err)
	}
	v := &Validator{c: c, named: map[string]*jsonschema.Schema{}}
	if v.errSchema, err = v.schema("Error"); err != nil {
		return nil, err
	}
	for template, item := range d.Paths {
		for method, raw := range item {
			m := strings.ToUpper(method)
			if !httpMethods[m] {
				continue // "parameters", "summary", …
			}
			op, err := v.operation(m, template, raw, d.Comps.Responses)
			if err != nil {
				return nil, err
			}
			v.ops = append(v.ops, op)
		}
	}
	// Most literal segments first: /webhook/attempts/download must win over
	// any template with a parameter in its place.
	sort.Slice(v.ops, func(i, j int) bool {
		if v.ops[i].literals != v.ops[j].literals {
			return v.ops[i].literals > v.ops[j].literals
		}
		return v.ops[i].template < v.ops[j].template
	})
	return v, nil
}

var httpMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true, http.MethodTrace: true,
}

// operation reads one operation object and compiles its response schemas.
func (v *Validator) operation(method, template string, raw json.RawMessage, shared map[string]json.RawMessage) (*operation, error) {
	var o struct {
		Responses map[string]json.RawMessage `json:"responses"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("openapitest: %s %s: %w", method, template, err)
	}
	if len(o.Responses) == 0 {
		return nil, fmt.Errorf("openapitest: %s %s describes no responses", method, template)
	}
	op := &operation{method: method, template: template, segments: strings.Split(template, "/"), responses: map[string]*response{}}
	for _, s := range op.segments {
		if !isParam(s) {
			op.literals++
		}
	}
	for status, rraw := range o.Responses {
		// Where the response object lives, as a JSON pointer: inline, or
		// behind a $ref to #/components/responses/….
		ptr := pointer("paths", template, strings.ToLower(method), "responses", status)
		var ref struct {
			Ref string `json:"$ref"`
		}
		if err := json.Unmarshal(rraw, &ref); err != nil {
			return nil, fmt.Errorf("openapitest: %s %s response %s: %w", method, template, status, err)
		}
		if ref.Ref != "" {
			name, ok := strings.CutPrefix(ref.Ref, "#/components/responses/")
			if !ok || shared[name] == nil {
				return nil, fmt.Errorf("openapitest: %s %s response %s: $ref %q is not a response of the document", method, template, status, ref.Ref)
			}
			rraw, ptr = shared[name], pointer("components", "responses", name)
		}
		var r struct {
			Content map[string]map[string]json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(rraw, &r); err != nil {
			return nil, fmt.Errorf("openapitest: %s %s response %s: %w", method, template, status, err)
		}
		resp := &response{media: map[string]*media{}}
		for mt, m := range r.Content {
			md := &media{}
			key := "schema"
			if m[lineSchemaKey] != nil {
				key, md.lines = lineSchemaKey, true
			}
			if isJSON(mt) || md.lines {
				loc := docURL + "#" + ptr + pointer("content", mt, key)
				sch, err := v.compile(loc)
				if err != nil {
					return nil, fmt.Errorf("openapitest: %s %s response %s %s: %w", method, template, status, mt, err)
				}
				md.schema = sch
			}
			resp.media[mt] = md
		}
		op.responses[status] = resp
	}
	return op, nil
}

// pointer builds a JSON pointer of tokens, escaped for a URI fragment.
func pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		t = strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
		b.WriteString("/" + url.PathEscape(t))
	}
	return b.String()
}

func (v *Validator) compile(loc string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.c.Compile(loc)
}

// schema compiles #/components/schemas/<name> once.
func (v *Validator) schema(name string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s := v.named[name]; s != nil {
		return s, nil
	}
	s, err := v.c.Compile(docURL + "#" + pointer("components", "schemas", name))
	if err != nil {
		return nil, fmt.Errorf("openapitest: schema %s: %w", name, err)
	}
	v.named[name] = s
	return s, nil
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

// isJSON reports whether a media type's body is one JSON value.
func isJSON(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// Operation is a method and path template of the document.
type Operation struct {
	Method string // GET, POST, …
	Path   string // the template: /api/v1/workspaces/{ws}
}

// Operations lists the document's operations, sorted by path then method.
func (v *Validator) Operations() []Operation {
	out := make([]Operation, 0, len(v.ops))
	for _, op := range v.ops {
		out = append(out, Operation{Method: op.method, Path: op.template})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Check validates an answer whose body is JSON (or empty): the operation
// of method and path, the response of status, the body against its
// schema. path may carry a query, which is ignored. See CheckResponse.
func (v *Validator) Check(method, path string, status int, body []byte) error {
	ct := ""
	if len(bytes.TrimSpace(body)) > 0 {
		ct = "application/json"
	}
	return v.CheckResponse(method, path, status, ct, body)
}

// CheckResponse validates an answer with its Content-Type: the status must
// be documented for the operation (or a "default" response be), the
// content type must be one of the response's, a JSON body must match the
// schema, a JSON-lines body must match it line by line, and a response
// without content must have no body. Other bodies (CSV, text) are not
// read. The error names the operation's template, never the raw path,
// which on the inbound URL is the secret token.
func (v *Validator) CheckResponse(method, path string, status int, contentType string, body []byte) error {
	op := v.find(method, path)
	if op == nil {
		return fmt.Errorf("%w: %s %s", ErrNoOperation, method, redact(path))
	}
	where := fmt.Sprintf("%s %s answered %d", op.method, op.template, status)
	resp := op.responses[strconv.Itoa(status)]
	if resp == nil {
		resp = op.responses[fmt.Sprintf("%dXX", status/100)]
	}
	if resp == nil {
		resp = op.responses["default"]
	}
	if resp == nil {
		return fmt.Errorf("%s: the status is not described in the OpenAPI document (described: %s)", where, strings.Join(op.statuses(), ", "))
	}
	if len(resp.media) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("%s: the document describes no body, but %d bytes came", where, len(body))
		}
		return nil
	}
	mt := ""
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return fmt.Errorf("%s: Content-Type %q: %w", where, contentType, err)
		}
	}
	md := resp.media[mt]
	if md == nil {
		return fmt.Errorf("%s: Content-Type %q is not described (described: %s)", where, contentType, strings.Join(resp.types(), ", "))
	}
	if md.schema == nil {
		return nil
	}
	if !md.lines {
		return validate(md.schema, body, where)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	for n := 1; sc.Scan(); n++ {
		if err := validate(md.schema, sc.Bytes(), fmt.Sprintf("%s, line %d", where, n)); err != nil {
			return err
		}
	}
	return sc.Err()
}

// CheckError validates body against the document's error envelope: for
// the answers of the router itself (no route, wrong method), which no
// operation describes.
func (v *Validator) CheckError(status int, body []byte) error {
	return validate(v.errSchema, body, fmt.Sprintf("error answer %d", status))
}

// CheckSchema validates body against #/components/schemas/<name>.
func (v *Validator) CheckSchema(name string, body []byte) error {
	s, err := v.schema(name)
	if err != nil {
		return err
	}
	return validate(s, body, "schema "+name)
}

func validate(s *jsonschema.Schema, body []byte, where string) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: the body is not JSON: %w", where, err)
	}
	if err := s.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			// The first line names the schema's URL inside the compiler,
			// which says nothing to the reader; the lines below it say
			// where in the body and what is wrong.
			msg := ve.Error()
			if _, rest, ok := strings.Cut(msg, "\n"); ok {
				msg = rest
			}
			return fmt.Errorf("%s: the body does not match the OpenAPI document:\n%s", where, msg)
		}
		return fmt.Errorf("%s: the body does not match the OpenAPI document: %w", where, err)
	}
	return nil
}

// find returns the operation of method whose template matches path.
func (v *Validator) find(method, path string) *operation {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	for _, op := range v.ops {
		if op.method == method && op.matches(segs) {
			return op
		}
	}
	return nil
}

func (op *operation) matches(segs []string) bool {
	if len(segs) != len(op.segments) {
		return false
	}
	for i, s := range op.segments {
		if isParam(s) {
			if segs[i] == "" {
				return false
			}
		} else if segs[i] != s {
			return false
		}
	}
	return true
}

func (op *operation) statuses() []string {
	out := make([]string, 0, len(op.responses))
	for s := range op.responses {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (r *response) types() []string {
	out := make([]string, 0, len(r.media))
	for t := range r.media {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// redact hides what follows /inbound/ in a path that matched no operation:
// it may be a token.
func redact(path string) string {
	if i := strings.Index(path, "/inbound/"); i >= 0 {
		return path[:i] + "/inbound/…"
	}
	return path
}
