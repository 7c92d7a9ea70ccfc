package outbound_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/outbound"
)

// hostile are message texts that try to leave the place they are put in:
// a JSON string, an XML element, a form value, a YAML scalar, a header, a
// path segment or the host.
var hostile = []string{
	`plain text`,
	`say "hi"`,
	`": 1, "credits": 9`,
	`"}, "credits": 9, "x": {"`,
	`</text><credits>9</credits><text>`,
	`]]><credits>9</credits>`,
	`a & b &amp; <c>`,
	"line one\nline two\r\nX-Injected: 1",
	"credits: 9\nphone: evil",
	`a=1&credits=9`,
	`#frag ?q=1`,
	`/../../admin`,
	`..`,
	`%2F%2e%2e`,
	`@evil.example`,
	`evil.example/x`,
	`\u0022 \" \\`,
	`{{message.id}}`,
	"tab\there \x00 nul \x7f del \u2028 sep",
	"émoji 🎉 ünïcode",
	`true`,
	``,
}

func sampleEvent(text string) *wagate.Event {
	at := time.Date(2026, 12, 4, 13, 46, 30, 0, time.UTC)
	return &wagate.Event{
		ID: "evt_01HZY3R8Q5J0W7ZK4N2B6C9D1E", WorkspaceID: "ws_1", Type: wagate.EventMessageFailed, At: at,
		AccountPhone: "+4915112345678", Source: wagate.SourceInbound, Credits: 1,
		Message: &wagate.Message{
			ID: "wa_backend:0123456789ABCDEF0123", WorkspaceID: "ws_1", Status: wagate.StatusFailed,
			AccountPhone: "+4915112345678", ChatID: 7, JID: "14155552671@s.whatsapp.net", Text: text,
			Credits: 1, Error: "number not on WhatsApp", CreatedAt: at.Add(-10 * time.Second),
		},
	}
}

func endpoint(body wagate.EndpointBody) *wagate.Endpoint {
	return &wagate.Endpoint{
		ID: "ep_1", WorkspaceID: "ws_1", Enabled: true, URL: "https://crm.example/base",
		Events: []string{wagate.EventMessageFailed}, Body: body, Secret: vectors[0].secret,
	}
}

func build(t *testing.T, e *wagate.Endpoint, ev *wagate.Event) *outbound.Request {
	t.Helper()
	if err := outbound.Validate(e, nil); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	r, err := outbound.Build(e, ev, nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return r
}

func header(r *outbound.Request, name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Key, name) {
			return h.Value
		}
	}
	return ""
}

func TestVariables(t *testing.T) {
	v := outbound.Variables(sampleEvent("hello"))
	want := map[string]string{
		"event.id": "evt_01HZY3R8Q5J0W7ZK4N2B6C9D1E", "event.type": "message.failed",
		"event.timestamp": "2026-12-04T13:46:30Z", "message.phone": "+14155552671",
		"message.account_phone": "+4915112345678", "message.text": "hello", "message.status": "failed",
		"message.error": "number not on WhatsApp", "message.credits": "1", "credits.refunded": "1",
		"message.created_at": "2026-12-04T13:46:20Z", "message.sent_at": "", "message.chat_id": "7",
	}
	for k, w := range want {
		if got, ok := v[k]; !ok || got != w {
			t.Errorf("Variables()[%q] = %q, %v; want %q", k, got, ok, w)
		}
	}
	for _, name := range []string{"message.text", "credits.refunded"} {
		if !outbound.IsVariable(wagate.EventMessageFailed, name) {
			t.Errorf("IsVariable(message.failed, %s) = false", name)
		}
	}
	if outbound.IsVariable(wagate.EventMessageSent, "credits.refunded") || outbound.IsVariable(wagate.EventAccountConnected, "message.text") {
		t.Error("IsVariable lists a variable for an event type that does not have it")
	}
	// Every event type lists its variables, and Variables fills each of them.
	for _, typ := range wagate.EventTypes {
		vs := outbound.EventVariables(typ)
		if len(vs) == 0 {
			t.Errorf("EventVariables(%s) is empty", typ)
		}
		got := outbound.Variables(&wagate.Event{Type: typ})
		for _, vr := range vs {
			if _, ok := got[vr.Name]; !ok {
				t.Errorf("Variables of a %s event lack %s", typ, vr.Name)
			}
		}
	}
	group := sampleEvent("x")
	group.Message.JID = "120363025246125486@g.us"
	if p := outbound.Variables(group)["message.phone"]; p != "" {
		t.Errorf("message.phone of a group message = %q; want empty", p)
	}
}

func TestDefaultJSONPayload(t *testing.T) {
	e := endpoint(wagate.EndpointBody{})
	ev := sampleEvent(`": 1, "credits": 9`)
	injected := func(ev *wagate.Event) (json.RawMessage, error) {
		return json.Marshal(map[string]any{"id": ev.Message.ID, "text": ev.Message.Text})
	}
	r, err := outbound.Build(e, ev, injected)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	if got.Type != "message.failed" || got.Timestamp != "2026-12-04T13:46:30Z" || got.Data["text"] != ev.Message.Text || len(got.Data) != 2 {
		t.Errorf("default payload = %+v; want type, timestamp and the injected data", got)
	}
	if ct := header(r, "Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.Method != "POST" || r.URL.String() != "https://crm.example/base" {
		t.Errorf("request = %s %s; want POST https://crm.example/base", r.Method, r.URL)
	}
	failing := func(*wagate.Event) (json.RawMessage, error) { return nil, errors.New("boom") }
	if _, err := outbound.Build(e, ev, failing); err == nil {
		t.Error("Build with a failing payload: no error")
	}
	// Without an injected renderer, data still carries the message.
	r = build(t, e, ev)
	if !bytes.Contains(r.Body, []byte(`"status":"failed"`)) {
		t.Errorf("built-in payload %s lacks the message status", r.Body)
	}
}

func TestURLHostNeverChanges(t *testing.T) {
	for _, text := range hostile {
		checkURL(t, text)
	}
}

func checkURL(t *testing.T, text string) {
	t.Helper()
	text = strings.ToValidUTF8(text, "\uFFFD")
	{
		e := endpoint(wagate.EndpointBody{Type: wagate.BodyNone})
		e.Path = "/hooks/{{message.text}}/x"
		e.Query = []wagate.Field{{Key: "t", Value: "{{message.text}}"}, {Key: "id", Value: "{{message.id}}"}}
		r := build(t, e, sampleEvent(text))
		u, err := url.Parse(r.URL.String())
		if err != nil {
			t.Fatalf("%q: the URL %s does not parse: %v", text, r.URL, err)
		}
		if u.Scheme != "https" || u.Host != "crm.example" || u.User != nil || u.Fragment != "" {
			t.Errorf("%q: URL %s; want the host crm.example kept", text, r.URL)
		}
		segs := strings.Split(u.EscapedPath(), "/")
		if len(segs) != 5 || segs[1] != "base" || segs[2] != "hooks" || segs[4] != "x" {
			t.Errorf("%q: path %s; want /base/hooks/<one segment>/x", text, u.EscapedPath())
		} else if seg, _ := url.PathUnescape(segs[3]); seg != text {
			t.Errorf("%q: the path segment decodes to %q", text, seg)
		} else if segs[3] == ".." || segs[3] == "." {
			t.Errorf("%q: the path segment is a dot segment", text)
		}
		q := u.Query()
		if len(q) != 2 || q.Get("t") != text || q.Get("id") != "wa_backend:0123456789ABCDEF0123" {
			t.Errorf("%q: query %q; want exactly t and id, t the text", text, u.RawQuery)
		}
	}
}

func TestHeaderValueCannotAddALine(t *testing.T) {
	e := endpoint(wagate.EndpointBody{Type: wagate.BodyNone})
	e.Headers = []wagate.Field{{Key: "X-Text", Value: "{{message.text}}"}}
	r := build(t, e, sampleEvent("a\r\nX-Injected: 1\nb"))
	if got := header(r, "X-Text"); got != "a  X-Injected: 1 b" {
		t.Errorf("X-Text = %q; want the line breaks as spaces", got)
	}
	if header(r, "X-Injected") != "" {
		t.Error("a header line was added")
	}
}

func TestAuthAndMasking(t *testing.T) {
	tests := []struct {
		auth       wagate.EndpointAuth
		name, want string
		shown      string
	}{
		{wagate.EndpointAuth{Type: wagate.AuthBasic, Username: "crm", Password: "s3cret-pw"}, "Authorization", "Basic Y3JtOnMzY3JldC1wdw==", "Basic ••••••"},
		{wagate.EndpointAuth{Type: wagate.AuthBearer, Token: "tok-s3cret"}, "Authorization", "Bearer tok-s3cret", "Bearer ••••••"},
		{wagate.EndpointAuth{Type: wagate.AuthHeader, Name: "X-Api-Key", Value: "key-s3cret"}, "X-Api-Key", "key-s3cret", "••••••"},
	}
	for _, tt := range tests {
		e := endpoint(wagate.EndpointBody{})
		e.Auth = tt.auth
		r := build(t, e, sampleEvent("x"))
		if got := header(r, tt.name); got != tt.want {
			t.Errorf("%s: %s = %q; want %q", tt.auth.Type, tt.name, got, tt.want)
		}
		m := r.Masked()
		for _, h := range m.Headers {
			if strings.Contains(h.Value, "s3cret") || strings.Contains(h.Value, "Y3Jt") {
				t.Errorf("%s: the history shows %s: %s", tt.auth.Type, h.Key, h.Value)
			}
			if strings.EqualFold(h.Key, tt.name) && h.Value != tt.shown {
				t.Errorf("%s: history %s = %q; want %q", tt.auth.Type, h.Key, h.Value, tt.shown)
			}
		}
	}
}

func TestAuthorizationHeaderIsMaskedAnyway(t *testing.T) {
	e := endpoint(wagate.EndpointBody{})
	e.Headers = []wagate.Field{{Key: "authorization", Value: "Token s3cret"}}
	r := build(t, e, sampleEvent("x"))
	if got := header(r, "Authorization"); got != "Token s3cret" {
		t.Errorf("sent Authorization = %q", got)
	}
	for _, h := range r.Masked().Headers {
		if strings.Contains(h.Value, "s3cret") {
			t.Errorf("the history shows %s: %s", h.Key, h.Value)
		}
	}
}

func TestMaskedCapsBody(t *testing.T) {
	e := endpoint(wagate.EndpointBody{Type: wagate.BodyPlain, Template: "{{message.text}}"})
	r := build(t, e, sampleEvent(strings.Repeat("é", wagate.DeliveryBodyLimit)))
	m := r.Masked()
	if len(m.Body) > wagate.DeliveryBodyLimit || len(m.Body) < wagate.DeliveryBodyLimit-1 || !strings.HasPrefix(m.Body, "éé") {
		t.Errorf("history body is %d bytes; want cut at %d on a character boundary", len(m.Body), wagate.DeliveryBodyLimit)
	}
}

func TestGetSendsNoBodyUnlessTold(t *testing.T) {
	e := endpoint(wagate.EndpointBody{})
	e.Method = "GET"
	r := build(t, e, sampleEvent("x"))
	if r.Body != nil || header(r, "Content-Type") != "" {
		t.Errorf("GET with no body type sent %q (%s)", r.Body, header(r, "Content-Type"))
	}
	e.Body.Type = wagate.BodyJSON
	if r := build(t, e, sampleEvent("x")); len(r.Body) == 0 {
		t.Error("GET with body type json sent no body")
	}
}

// Each body type carries every hostile text as data: a parser of that
// type finds exactly the keys the owner wrote, the text among the values.
func TestBodyTypesKeepTextAsData(t *testing.T) {
	for _, text := range hostile {
		checkBodies(t, text)
	}
}

// FuzzBodies feeds any text through every body type and the URL: it must
// always arrive as data.
func FuzzBodies(f *testing.F) {
	for _, text := range hostile {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkBodies(t, text)
	})
}

func checkBodies(t *testing.T, text string) {
	t.Helper()
	checkURL(t, text)
	fields := []wagate.Field{{Key: "text", Value: "{{message.text}}"}, {Key: "phone", Value: "{{message.phone}}"}}
	want := map[string]string{"phone": "+14155552671", "text": strings.ToValidUTF8(text, "\uFFFD")}
	ev := sampleEvent(text)
	{
		cases := []struct {
			name  string
			body  wagate.EndpointBody
			parse func(r *outbound.Request) (map[string]string, error)
		}{
			{"json template", wagate.EndpointBody{Type: "json", Template: `{"text": "{{message.text}}", "phone": "{{message.phone}}"}`}, parseJSON},
			{"json fields", wagate.EndpointBody{Type: "json", Fields: fields}, parseJSON},
			{"form fields", wagate.EndpointBody{Type: "form", Fields: fields}, parseForm},
			{"form template", wagate.EndpointBody{Type: "form", Template: "text={{message.text}}&phone={{message.phone}}"}, parseForm},
			{"multipart", wagate.EndpointBody{Type: "multipart", Fields: fields}, parseMultipart},
			{"xml fields", wagate.EndpointBody{Type: "xml", Fields: fields}, parseXML},
			{"xml template", wagate.EndpointBody{Type: "xml", Template: `<event kind="{{message.status}}"><text>{{message.text}}</text><phone>{{message.phone}}</phone></event>`}, parseXML},
			{"yaml fields", wagate.EndpointBody{Type: "yaml", Fields: fields}, parseYAML},
			{"yaml template", wagate.EndpointBody{Type: "yaml", Template: "text: {{message.text}}\nphone: {{message.phone}}\n"}, parseYAML},
			{"plain", wagate.EndpointBody{Type: "plain", Template: "{{message.text}}"}, parsePlain},
		}
		for _, c := range cases {
			r := build(t, endpoint(c.body), ev)
			got, err := c.parse(r)
			if err != nil {
				t.Errorf("%s, text %q: the receiver cannot parse %q: %v", c.name, text, r.Body, err)
				continue
			}
			if len(got) != len(want) || got["phone"] != want["phone"] || got["text"] != wantText(c.name, want["text"]) {
				t.Errorf("%s, text %q: the receiver got %q from %q; want %q", c.name, text, got, r.Body, want)
			}
		}
	}
}

// wantText is the text as a parser of the body type can return it: XML
// 1.0 cannot carry NUL and most control characters (they arrive as U+FFFD),
// and an XML parser reads a CR LF as LF.
func wantText(kind, text string) string {
	if !strings.HasPrefix(kind, "xml") {
		return text
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return '\uFFFD'
		}
		return r
	}, text)
}

func parsePlain(r *outbound.Request) (map[string]string, error) {
	return map[string]string{"text": string(r.Body), "phone": "+14155552671"}, nil
}

func parseJSON(r *outbound.Request) (map[string]string, error) {
	var m map[string]string
	err := json.Unmarshal(r.Body, &m)
	return m, err
}

func parseForm(r *outbound.Request) (map[string]string, error) {
	q, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for k, v := range q {
		if len(v) != 1 {
			return nil, errors.New("a field was repeated: " + k)
		}
		m[k] = v[0]
	}
	return m, nil
}

func parseMultipart(r *outbound.Request) (map[string]string, error) {
	_, params, err := mime.ParseMediaType(header(r, "Content-Type"))
	if err != nil {
		return nil, err
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	m := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(p)
		m[p.FormName()] = string(b)
	}
}

func parseXML(r *outbound.Request) (map[string]string, error) {
	var doc struct {
		XMLName xml.Name
		Fields  []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
			Inner   []byte `xml:",innerxml"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(r.Body, &doc); err != nil {
		return nil, err
	}
	if doc.XMLName.Local != "event" {
		return nil, errors.New("root is " + doc.XMLName.Local)
	}
	m := map[string]string{}
	for _, f := range doc.Fields {
		if bytes.Contains(f.Inner, []byte("<")) {
			return nil, errors.New("element " + f.XMLName.Local + " has child elements")
		}
		m[f.XMLName.Local] = f.Text
	}
	return m, nil
}

func parseYAML(r *outbound.Request) (map[string]string, error) {
	var m map[string]string
	err := yaml.Unmarshal(r.Body, &m)
	return m, err
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *wagate.Endpoint)
		field  string // "" = valid
	}{
		{"the default", func(e *wagate.Endpoint) {}, ""},
		{"done-means form", func(e *wagate.Endpoint) {
			e.Body = wagate.EndpointBody{Type: "form", Template: `phone={{message.phone}}&reason={{message.error | default "unknown"}}`}
			e.Auth = wagate.EndpointAuth{Type: "basic", Username: "crm", Password: "pw"}
		}, ""},
		{"no url", func(e *wagate.Endpoint) { e.URL = "" }, "url"},
		{"relative url", func(e *wagate.Endpoint) { e.URL = "/hooks" }, "url"},
		{"ftp url", func(e *wagate.Endpoint) { e.URL = "ftp://crm.example" }, "url"},
		{"url with credentials", func(e *wagate.Endpoint) { e.URL = "https://u:p@crm.example" }, "url"},
		{"placeholder in url", func(e *wagate.Endpoint) { e.URL = "https://{{message.text}}.example" }, "url"},
		{"bad escape in path", func(e *wagate.Endpoint) { e.Path = "/a%zz/{{message.id}}" }, "path:"},
		{"query in path", func(e *wagate.Endpoint) { e.Path = "/x?y=1" }, "path"},
		{"unknown variable in path", func(e *wagate.Endpoint) { e.Path = "/{{message.txt}}" }, "path"},
		{"variable of another event", func(e *wagate.Endpoint) { e.Path = "/{{account.phone}}" }, "path"},
		{"method", func(e *wagate.Endpoint) { e.Method = "TRACE" }, "method"},
		{"no events", func(e *wagate.Endpoint) { e.Events = nil }, "events"},
		{"unknown event", func(e *wagate.Endpoint) { e.Events = []string{"message.exploded"} }, "events[0]"},
		{"source", func(e *wagate.Endpoint) { e.Filter.Source = "cli" }, "filter.source"},
		{"header name", func(e *wagate.Endpoint) { e.Headers = []wagate.Field{{Key: "X Bad", Value: "1"}} }, "headers.X Bad"},
		{"reserved header", func(e *wagate.Endpoint) { e.Headers = []wagate.Field{{Key: "webhook-signature", Value: "1"}} }, "headers.webhook-signature"},
		{"header line break", func(e *wagate.Endpoint) { e.Headers = []wagate.Field{{Key: "X-A", Value: "1\r\nX-B: 2"}} }, "headers.X-A"},
		{"header variable", func(e *wagate.Endpoint) { e.Headers = []wagate.Field{{Key: "X-A", Value: "{{nope}}"}} }, "headers.X-A"},
		{"authorization besides auth", func(e *wagate.Endpoint) {
			e.Auth = wagate.EndpointAuth{Type: "bearer", Token: "t"}
			e.Headers = []wagate.Field{{Key: "Authorization", Value: "x"}}
		}, "headers.Authorization"},
		{"basic without user", func(e *wagate.Endpoint) { e.Auth = wagate.EndpointAuth{Type: "basic"} }, "auth.username"},
		{"bearer without token", func(e *wagate.Endpoint) { e.Auth = wagate.EndpointAuth{Type: "bearer"} }, "auth.token"},
		{"header auth name", func(e *wagate.Endpoint) { e.Auth = wagate.EndpointAuth{Type: "header", Name: "Host", Value: "x"} }, "auth.name"},
		{"auth type", func(e *wagate.Endpoint) { e.Auth = wagate.EndpointAuth{Type: "digest"} }, "auth.type"},
		{"body type", func(e *wagate.Endpoint) { e.Body.Type = "csv" }, "body.type"},
		{"template and fields", func(e *wagate.Endpoint) {
			e.Body = wagate.EndpointBody{Template: "{}", Fields: []wagate.Field{{Key: "a", Value: "b"}}}
		}, "body"},
		{"invalid json", func(e *wagate.Endpoint) { e.Body.Template = `{"a": }` }, "body.template"},
		{"json placeholder outside a string", func(e *wagate.Endpoint) { e.Body.Template = `{"credits": {{message.credits}}}` }, "body.template"},
		{"json placeholder next to a number", func(e *wagate.Endpoint) { e.Body.Template = `{"credits": 1{{message.credits}}}` }, "body.template"},
		{"json template with a default", func(e *wagate.Endpoint) { e.Body.Template = `{"r": "{{message.error | default "unknown"}}"}` }, ""},
		{"json placeholder in a key", func(e *wagate.Endpoint) { e.Body.Template = `{"a": {"b": [1, {"c": 2}], "x{{message.text}}": "v"}}` }, "body.template"},
		{"json placeholders in nested values", func(e *wagate.Endpoint) {
			e.Body.Template = `{"a": {"b": ["{{message.text}}", {"c": "{{message.id}}"}], "d": null, "e": "{{message.phone}}"}}`
		}, ""},
		{"json unknown variable", func(e *wagate.Endpoint) { e.Body.Template = `{"a": "{{message.nope}}"}` }, "body.template"},
		{"json syntax", func(e *wagate.Endpoint) { e.Body.Template = `{"a": "{{message.text"}` }, "body.template"},
		{"xml ill-formed", func(e *wagate.Endpoint) { e.Body = wagate.EndpointBody{Type: "xml", Template: "<a><b></a>"} }, "body.template"},
		{"xml placeholder as a tag", func(e *wagate.Endpoint) {
			e.Body = wagate.EndpointBody{Type: "xml", Template: "<{{message.status}}>x</{{message.status}}>"}
		}, "body.template"},
		{"xml placeholder in a comment", func(e *wagate.Endpoint) {
			e.Body = wagate.EndpointBody{Type: "xml", Template: "<event><!-- {{message.text}} --></event>"}
		}, "body.template"},
		{"xml placeholder in an attribute", func(e *wagate.Endpoint) {
			e.Body = wagate.EndpointBody{Type: "xml", Template: `<event text='{{message.text}}' id="{{message.id}}"/>`}
		}, ""},
		{"xml field name", func(e *wagate.Endpoint) {
			e.Body = wagate.EndpointBody{Type: "xml", Fields: []wagate.Field{{Key: "a b", Value: "x"}}}
		}, "body.fields[0].key"},
		{"yaml quoted placeholder", func(e *wagate.Endpoint) {
			e.Body = wagate.EndpointBody{Type: "yaml", Template: `text: "{{message.text}}"`}
		}, "body.template"},
		{"multipart template", func(e *wagate.Endpoint) { e.Body = wagate.EndpointBody{Type: "multipart", Template: "x"} }, "body.template"},
		{"plain fields", func(e *wagate.Endpoint) {
			e.Body = wagate.EndpointBody{Type: "plain", Fields: []wagate.Field{{Key: "a", Value: "b"}}}
		}, "body.fields"},
		{"none with a template", func(e *wagate.Endpoint) { e.Body = wagate.EndpointBody{Type: "none", Template: "x"} }, "body"},
		{"field without a name", func(e *wagate.Endpoint) {
			e.Body = wagate.EndpointBody{Type: "form", Fields: []wagate.Field{{Value: "b"}}}
		}, "body.fields[0].key"},
		{"a variable of one of two events", func(e *wagate.Endpoint) {
			e.Events = []string{wagate.EventAccountConnected, wagate.EventMessageSent}
			e.Path = "/{{account.phone}}/{{message.id}}"
		}, ""},
	}
	for _, tt := range tests {
		e := endpoint(wagate.EndpointBody{})
		tt.change(e)
		err := outbound.Validate(e, nil)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v; want valid", tt.name, err)
		case tt.field == "":
		case err == nil:
			t.Errorf("%s: valid; want an error naming %s", tt.name, tt.field)
		case wagate.ErrorCode(err) != wagate.EINVALID || !strings.HasPrefix(wagate.ErrorMessage(err), tt.field+" ") && !strings.HasSuffix(tt.field, ":"),
			strings.HasSuffix(tt.field, ":") && !strings.HasPrefix(wagate.ErrorMessage(err), tt.field):
			t.Errorf("%s: %v (%s); want EINVALID starting with %q", tt.name, err, wagate.ErrorCode(err), tt.field)
		}
	}
	// The caller's list of variables is the one used.
	e := endpoint(wagate.EndpointBody{})
	e.Path = "/{{custom.thing}}"
	if err := outbound.Validate(e, func(ev, name string) bool { return name == "custom.thing" }); err != nil {
		t.Errorf("Validate with a known func: %v", err)
	}
}

func TestEventsAreListed(t *testing.T) {
	if !slices.Equal(outbound.BodyTypes, []string{"json", "form", "multipart", "xml", "yaml", "plain", "none"}) {
		t.Errorf("BodyTypes = %v", outbound.BodyTypes)
	}
}
