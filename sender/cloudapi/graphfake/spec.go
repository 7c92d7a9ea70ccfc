package graphfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// SpecEnv names the environment variable that holds the path of Meta's
// OpenAPI description (business-messaging-api_v23.0.yaml). .ci/run sets it
// to ../shared/cloudapi/business-messaging-api_v23.0.yaml; a relative path
// is read from the working directory, else from the module root.
const SpecEnv = "WAGATE_CLOUDAPI_SPEC"

// DefaultSpecPath is where the description is looked for, relative to the
// module root, when SpecEnv is unset: the project's shared folder beside the
// repository. So a plain `make test` in a checkout with ../shared runs the
// contract tests without anyone knowing the variable.
const DefaultSpecPath = "../shared/cloudapi/business-messaging-api_v23.0.yaml"

// specURL is the name the OpenAPI document is known by inside the schema
// compiler; $refs like "#/components/schemas/MediaObject" resolve in it.
const specURL = "urn:wagate:cloudapi-openapi.json"

// Spec checks JSON payloads against schemas of Meta's OpenAPI description of
// the Cloud API. It is safe for concurrent use.
type Spec struct {
	Path string // the file it was read from

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
}

var specs struct {
	sync.Mutex
	byPath map[string]*Spec
}

// LoadSpec reads the OpenAPI description at path (YAML). The file is large
// (about 1 MB), so each path is read once per process and the Spec shared.
//
// As published, the description puts "additionalProperties: false" on the
// branches of allOf schemas (TextMessage is BaseMessageProperties plus a
// closed object holding only "type" and "text"), so each branch forbids the
// other's properties and no valid send passes. LoadSpec drops that keyword
// from every allOf branch (shared/cloudapi/README.md); nested closed objects,
// such as text's, stay closed.
func LoadSpec(path string) (*Spec, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	specs.Lock()
	defer specs.Unlock()
	if s := specs.byPath[abs]; s != nil {
		return s, nil
	}
	s, err := loadSpec(abs, true)
	if err != nil {
		return nil, err
	}
	if specs.byPath == nil {
		specs.byPath = map[string]*Spec{}
	}
	specs.byPath[abs] = s
	return s, nil
}

// loadSpec reads and compiles the description; open says whether to drop
// additionalProperties from allOf branches (false only in the test that
// shows why it is needed).
func loadSpec(abs string, open bool) (*Spec, error) {
	raw, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("graphfake: read the Cloud API OpenAPI description: %w", err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("graphfake: %s is not YAML: %w", abs, err)
	}
	doc = jsonValue(doc)
	if open {
		openAllOfBranches(doc)
	}
	// Through JSON text, so the compiler sees the number types it expects.
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("graphfake: convert %s to JSON: %w", abs, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("graphfake: convert %s to JSON: %w", abs, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020) // OpenAPI 3.1 schemas are JSON Schema 2020-12
	if err := c.AddResource(specURL, inst); err != nil {
		return nil, fmt.Errorf("graphfake: load %s: %w", abs, err)
	}
	s := &Spec{Path: abs, compiler: c, schemas: map[string]*jsonschema.Schema{}}
	// Compile the send schema now: a description that lacks it is not the
	// file the tests mean, and should fail at once.
	if _, err := s.schema("Message"); err != nil {
		return nil, err
	}
	return s, nil
}

// schema compiles #/components/schemas/<name> once.
func (s *Spec) schema(name string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch := s.schemas[name]; sch != nil {
		return sch, nil
	}
	sch, err := s.compiler.Compile(specURL + "#/components/schemas/" + name)
	if err != nil {
		return nil, fmt.Errorf("graphfake: compile schema %s of %s: %w", name, s.Path, err)
	}
	s.schemas[name] = sch
	return sch, nil
}

// Validate checks the JSON document body against the schema
// #/components/schemas/<name> ("Message" for a send, "MessageResponsePayload"
// for its answer). The error names the failing keyword and location.
func (s *Spec) Validate(name string, body []byte) error {
	sch, err := s.schema(name)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("does not match the OpenAPI schema %s: %s", name, ve.Error())
		}
		return err
	}
	return nil
}

// SpecFromEnv loads the description named by SpecEnv or, when the variable
// is unset, the one at DefaultSpecPath. It returns (nil, nil) when the
// variable is unset and there is no file at the default path, and an error
// when the variable is set but the file cannot be read: CI sets it, so a
// missing file must fail, never skip.
func SpecFromEnv() (*Spec, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	path, err := specPath(os.Getenv(SpecEnv), wd)
	if err != nil || path == "" {
		return nil, err
	}
	return LoadSpec(path)
}

// specPath is the description's file: env (SpecEnv's value) resolved from
// wd; or, when env is "", DefaultSpecPath under the module root above wd if
// a file is there; else "".
func specPath(env, wd string) (string, error) {
	if env != "" {
		return resolveSpecPath(env, wd)
	}
	root, ok := moduleRoot(wd)
	if !ok {
		return "", nil
	}
	p := filepath.Join(root, DefaultSpecPath)
	if _, err := os.Stat(p); err != nil {
		return "", nil
	}
	return p, nil
}

// RequireSpec returns the description for a contract test: the one SpecEnv
// names, else the one at DefaultSpecPath. When neither is there the test is
// skipped with a message saying how to run it (the one skip
// shared/cloudapi/README.md asks for; `make test` prints a line saying so,
// since go test shows skips only with -v); when the variable is set but the
// file is missing or unreadable the test fails. The test log names the file.
func RequireSpec(t testing.TB) *Spec {
	t.Helper()
	s, err := SpecFromEnv()
	if err != nil {
		t.Fatalf("%s is set but unusable: %v", SpecEnv, err)
	}
	if s == nil {
		t.Skipf("%s is unset and %s (from the module root) is missing: the Cloud API contract test needs Meta's OpenAPI description; put the shared folder beside the repository or set %s to the yaml's path", SpecEnv, DefaultSpecPath, SpecEnv)
	}
	t.Logf("checking against Meta's OpenAPI description %s", s.Path)
	return s
}

// resolveSpecPath finds p as given (absolute, or relative to wd), else
// relative to the module root above wd, since `go test` runs each package
// in its own directory while .ci/run's path is relative to the root.
func resolveSpecPath(p, wd string) (string, error) {
	if filepath.IsAbs(p) {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("graphfake: %s=%s: %w", SpecEnv, p, err)
		}
		return p, nil
	}
	if _, err := os.Stat(filepath.Join(wd, p)); err == nil {
		return filepath.Join(wd, p), nil
	}
	root, ok := moduleRoot(wd)
	if !ok {
		return "", fmt.Errorf("graphfake: %s=%s: no such file in %s, and no module root above it", SpecEnv, p, wd)
	}
	q := filepath.Join(root, p)
	if _, err := os.Stat(q); err != nil {
		return "", fmt.Errorf("graphfake: %s=%s: found neither %s nor %s", SpecEnv, p, filepath.Join(wd, p), q)
	}
	return q, nil
}

// moduleRoot is the nearest folder at or above dir that holds a go.mod.
func moduleRoot(dir string) (string, bool) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// jsonValue turns what the YAML decoder produced into values encoding/json
// accepts: maps with non-string keys (a status code written as 200) get
// string keys.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonValue(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonValue(e)
		}
		return v
	}
	return v
}

// openAllOfBranches deletes "additionalProperties": false from each direct
// branch of every allOf in the document (see LoadSpec).
func openAllOfBranches(v any) {
	switch v := v.(type) {
	case map[string]any:
		if branches, ok := v["allOf"].([]any); ok {
			for _, b := range branches {
				if bm, ok := b.(map[string]any); ok && bm["additionalProperties"] == false {
					delete(bm, "additionalProperties")
				}
			}
		}
		for _, e := range v {
			openAllOfBranches(e)
		}
	case []any:
		for _, e := range v {
			openAllOfBranches(e)
		}
	}
}
