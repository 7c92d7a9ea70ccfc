package graphfake

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const miniSpec = "testdata/mini-openapi.yaml"

const validText = `{"messaging_product":"whatsapp","to":"14155552671","type":"text","text":{"body":"hi"}}`

// TestLoadSpecOpensAllOfBranches shows why LoadSpec drops
// additionalProperties from allOf branches: as written, the closed branch
// forbids messaging_product and to, so a valid send fails.
func TestLoadSpecOpensAllOfBranches(t *testing.T) {
	abs, _ := filepath.Abs(miniSpec)
	raw, err := loadSpec(abs, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Validate("Message", []byte(validText)); err == nil {
		t.Error("the description as published accepted a valid send; the workaround is not needed?")
	}
	s, err := LoadSpec(miniSpec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate("Message", []byte(validText)); err != nil {
		t.Errorf("a valid send failed: %v", err)
	}
	// Nested closed objects stay closed, and $refs resolve.
	for _, bad := range []string{
		`{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi","x":1}}`,
		`{"messaging_product":"whatsapp","type":"text","text":{"body":"hi"}}`,
		`{"messaging_product":"whatsapp","to":"1","type":"image","text":{"body":"hi"}}`,
		`not json`,
	} {
		if err := s.Validate("Message", []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if _, err := s.schema("NoSuchSchema"); err == nil {
		t.Error("compiled a schema that does not exist")
	}
	if again, _ := LoadSpec(abs); again != s {
		t.Error("the description was read twice")
	}
}

func TestSpecFromEnv(t *testing.T) {
	t.Setenv(SpecEnv, filepath.Join(t.TempDir(), "missing.yaml"))
	if _, err := SpecFromEnv(); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
	t.Setenv(SpecEnv, "no/such/dir/spec.yaml")
	if _, err := SpecFromEnv(); err == nil {
		t.Error("missing relative file: no error")
	}
	// A path relative to the module root, as .ci/run writes it, works from
	// the package's directory too.
	t.Setenv(SpecEnv, "sender/cloudapi/graphfake/"+miniSpec)
	if s, err := SpecFromEnv(); err != nil || s == nil {
		t.Errorf("path from the module root: %v", err)
	}
}

// TestSpecPathDefault: with SpecEnv unset, the description is found in the
// shared folder beside the module root, from any package below the root;
// without that file there is none (and no error); with SpecEnv set, the
// default is never a fallback for a missing file.
func TestSpecPathDefault(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "wagate")
	pkg := filepath.Join(root, "sender", "cloudapi")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := specPath("", pkg); p != "" || err != nil {
		t.Errorf("no shared folder: specPath = %q, %v; want none and no error", p, err)
	}
	if p, err := specPath("", top); p != "" || err != nil {
		t.Errorf("outside any module: specPath = %q, %v; want none and no error", p, err)
	}

	shared := filepath.Join(top, "shared", "cloudapi", "business-messaging-api_v23.0.yaml")
	if err := os.MkdirAll(filepath.Dir(shared), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shared, []byte("openapi: 3.1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, wd := range []string{root, pkg} {
		if p, err := specPath("", wd); err != nil || p != shared {
			t.Errorf("from %s: specPath = %q, %v; want %s", wd, p, err, shared)
		}
	}
	if p, err := specPath("missing.yaml", pkg); err == nil || !strings.Contains(err.Error(), SpecEnv+"=missing.yaml") {
		t.Errorf("variable naming a missing file: specPath = %q, %v; want an error naming %s", p, err, SpecEnv)
	}
	if p, err := specPath(filepath.Join(top, "missing.yaml"), pkg); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("variable naming a missing absolute file: specPath = %q, %v; want an error", p, err)
	}
}

func post(t *testing.T, url, token, contentType string, body []byte) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(data, &m)
	return resp.StatusCode, m, resp.Header
}

// form builds an upload; partType "" leaves the part's Content-Type as Go's
// CreateFormFile sets it (application/octet-stream).
func form(t *testing.T, fields map[string]string, partType string, data []byte) ([]byte, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	var p io.Writer
	if partType == "" {
		p, _ = w.CreateFormFile("file", "f.bin")
	} else {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="f"`)
		h.Set("Content-Type", partType)
		p, _ = w.CreatePart(h)
	}
	p.Write(data)
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

func code(m map[string]any) int {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return int(c)
}

func TestFakeRules(t *testing.T) {
	s := Start(t, Options{NoSpec: true})
	base := s.URL + "/v23.0/" + s.PhoneNumberID

	// Upload rules.
	body, ct := form(t, map[string]string{"messaging_product": "whatsapp", "type": "image/png"}, "", []byte("png"))
	if st, m, _ := post(t, base+"/media", s.Token, ct, body); st != 400 || code(m) != 100 {
		t.Errorf("octet-stream part: %d %v", st, m)
	}
	body, ct = form(t, map[string]string{"type": "image/png"}, "image/png", []byte("png"))
	if st, _, _ := post(t, base+"/media", s.Token, ct, body); st != 400 {
		t.Errorf("no messaging_product: %d", st)
	}
	body, ct = form(t, map[string]string{"messaging_product": "whatsapp", "type": "image/jpeg"}, "image/png", []byte("png"))
	if st, _, _ := post(t, base+"/media", s.Token, ct, body); st != 400 {
		t.Errorf("type differs from the part: %d", st)
	}
	body, ct = form(t, map[string]string{"messaging_product": "whatsapp", "type": "image/gif"}, "image/gif", []byte("gif"))
	if st, m, _ := post(t, base+"/media", s.Token, ct, body); st != 400 || !strings.Contains(m["error"].(map[string]any)["error_data"].(map[string]any)["details"].(string), "Received file of type 'image/gif'") {
		t.Errorf("gif: %d %v", st, m)
	}
	body, ct = form(t, map[string]string{"messaging_product": "whatsapp", "type": "audio/ogg"}, "audio/ogg", []byte("OggS"))
	st, m, _ := post(t, base+"/media", s.Token, ct, body)
	audioID, _ := m["id"].(string)
	if st != 200 || audioID == "" {
		t.Fatalf("good upload: %d %v", st, m)
	}

	// Send rules.
	send := func(msg string) (int, map[string]any) {
		st, m, _ := post(t, base+"/messages", s.Token, "application/json", []byte(msg))
		return st, m
	}
	if st, m := send(validText); st != 400 {
		t.Errorf("no recipient_type: %d %v", st, m)
	}
	if st, m := send(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"text","text":{"body":"hi"}}`); st != 200 {
		t.Errorf("good text: %d %v", st, m)
	}
	if st, _ := send(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"audio","audio":{"id":"` + audioID + `","caption":"c"}}`); st != 400 {
		t.Errorf("caption on audio: %d", st)
	}
	if st, _ := send(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"image","image":{"id":"` + audioID + `"}}`); st != 400 {
		t.Errorf("audio sent as image: %d", st)
	}
	if st, _ := send(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"audio","audio":{"id":"999"}}`); st != 400 {
		t.Errorf("unknown media id: %d", st)
	}
	if st, m := send(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"audio","audio":{"id":"` + audioID + `"}}`); st != 200 {
		t.Errorf("good audio: %d %v", st, m)
	}

	// Token and path.
	if st, m, _ := post(t, base+"/messages", "wrong", "application/json", []byte(validText)); st != 401 || code(m) != 190 {
		t.Errorf("wrong token: %d %v", st, m)
	}
	if st, m, _ := post(t, s.URL+"/v23.0/1/messages", s.Token, "application/json", []byte(validText)); st != 400 || code(m) != 100 {
		t.Errorf("unknown phone number id: %d %v", st, m)
	}

	reqs := s.Requests()
	if len(reqs) != 13 {
		t.Errorf("%d requests recorded, want 13", len(reqs))
	}
	if n := len(s.Invalid()); n != 9 {
		t.Errorf("%d invalid requests recorded, want 9", n)
	}
	if reqs[len(reqs)-2].Authorized {
		t.Error("the wrong token was recorded as authorized")
	}
}

func TestFakeFailures(t *testing.T) {
	s := Start(t, Options{NoSpec: true})
	base := s.URL + "/v23.0/" + s.PhoneNumberID
	text := []byte(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"text","text":{"body":"hi"}}`)

	s.FailNext(1, Failure{Edge: EdgeMedia, Code: 131053})
	s.FailNext(2, Failure{Code: 130429, RetryAfter: "7"})
	s.FailNext(1, Failure{HTTPStatus: 503})

	// The media failure waits for an upload; the others go in order.
	st, m, h := post(t, base+"/messages", s.Token, "application/json", text)
	if st != 400 || code(m) != 130429 || h.Get("Retry-After") != "7" || !strings.HasPrefix(m["error"].(map[string]any)["message"].(string), "(#130429) Rate limit hit") {
		t.Errorf("1st: %d %v %v", st, m, h)
	}
	post(t, base+"/messages", s.Token, "application/json", text)
	st, m, _ = post(t, base+"/messages", s.Token, "application/json", text)
	if st != 503 || m != nil {
		t.Errorf("bare 503: %d %v", st, m)
	}
	st, m, _ = post(t, base+"/messages", s.Token, "application/json", text)
	if st != 200 || !strings.HasPrefix(m["messages"].([]any)[0].(map[string]any)["id"].(string), "wamid.") {
		t.Errorf("after the failures: %d %v", st, m)
	}
	body, ct := form(t, map[string]string{"messaging_product": "whatsapp", "type": "application/pdf"}, "application/pdf", []byte("%PDF"))
	if st, m, _ := post(t, base+"/media", s.Token, ct, body); st != 400 || code(m) != 131053 {
		t.Errorf("upload failure: %d %v", st, m)
	}
	injected := 0
	for _, r := range s.Requests() {
		if r.Injected {
			injected++
		}
	}
	if injected != 4 {
		t.Errorf("%d injected answers, want 4", injected)
	}
}

// TestFakeHangEndsAtClose: a hanging request is let go when the fake
// closes, so a test that forgot its client timeout does not hang forever.
func TestFakeHangEndsAtClose(t *testing.T) {
	s := Start(t, Options{NoSpec: true})
	s.FailNext(1, Failure{Hang: true})
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v23.0/"+s.PhoneNumberID+"/messages",
			strings.NewReader(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"1","type":"text","text":{"body":"hi"}}`))
		req.Header.Set("Authorization", "Bearer "+s.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Wait until the fake holds the request, then close it.
	select {
	case err := <-done:
		t.Fatalf("the request ended before Close: %v", err)
	case <-s.hung:
	}
	s.Close()
	<-done
	s.Close() // twice is harmless
}
