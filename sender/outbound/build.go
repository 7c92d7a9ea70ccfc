package outbound

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/placeholder"
)

// PayloadFunc renders the data of an event for the default JSON body
// (SPEC §9: for message events the message object of §4). The command
// injects the gateway's renderer, so the data is exactly what the admin
// API answers for the same message; this package must not import the
// gateway. See Config.Payload.
type PayloadFunc func(*wagate.Event) (json.RawMessage, error)

// The Content-Type of each body type.
var contentTypes = map[string]string{
	wagate.BodyJSON:  "application/json",
	wagate.BodyForm:  "application/x-www-form-urlencoded",
	wagate.BodyXML:   "application/xml; charset=utf-8",
	wagate.BodyYAML:  "application/yaml; charset=utf-8",
	wagate.BodyPlain: "text/plain; charset=utf-8",
	// multipart's carries its boundary and is set where the body is written.
}

// userAgent names wagate to the receiver.
const userAgent = "wagate-webhooks/1 (+https://github.com/wagate/wagate)"

// masked replaces a secret in the history.
const masked = "••••••"

// Request is one delivery's request as built from an endpoint and an
// event, before it is signed: what Send sends and, masked, what the
// history shows.
type Request struct {
	Method  string
	URL     *url.URL
	Headers []wagate.Field // in sending order, auth included
	Body    []byte

	// secretHeaders names (canonical) the headers whose values are auth
	// secrets, masked in the history.
	secretHeaders map[string]bool
}

// Masked returns the request as the history keeps it: the auth values
// masked, the body cut at wagate.DeliveryBodyLimit. headers are added
// after the request's own (the signature headers of the attempt).
func (r *Request) Masked(extra ...wagate.Field) wagate.DeliveryRequest {
	hs := make([]wagate.Field, 0, len(r.Headers)+len(extra))
	for _, h := range append(append([]wagate.Field(nil), r.Headers...), extra...) {
		if r.secretHeaders[http.CanonicalHeaderKey(h.Key)] {
			h.Value = maskAuth(h.Value)
		}
		hs = append(hs, h)
	}
	return wagate.DeliveryRequest{Method: r.Method, URL: r.URL.String(), Headers: hs, Body: capBody(r.Body)}
}

// maskAuth keeps the scheme of an Authorization value ("Basic ••••••"), so
// the history says which auth went out without showing it.
func maskAuth(v string) string {
	if scheme, _, ok := strings.Cut(v, " "); ok && (scheme == "Basic" || scheme == "Bearer") {
		return scheme + " " + masked
	}
	return masked
}

// capBody cuts a body for the history at wagate.DeliveryBodyLimit bytes,
// on a rune boundary, so the kept text is valid UTF-8 when the body was.
func capBody(b []byte) string {
	if len(b) <= wagate.DeliveryBodyLimit {
		return string(b)
	}
	cut := wagate.DeliveryBodyLimit
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut])
}

// BuildError is an endpoint setting that cannot make a request for an
// event (a template that renders to invalid JSON, say). Another attempt
// would fail the same way, so the delivery fails at once; the text names
// the field and never a secret.
type BuildError struct{ msg string }

func (e *BuildError) Error() string { return e.msg }

func buildErrorf(format string, args ...any) error {
	return &BuildError{msg: fmt.Sprintf(format, args...)}
}

// bodyType is the body type in effect: an empty one is json, except for
// GET and DELETE, which send no body unless the body type says so.
func bodyType(e *wagate.Endpoint) string {
	if e.Body.Type != "" {
		return e.Body.Type
	}
	switch method(e) {
	case http.MethodGet, http.MethodDelete:
		return wagate.BodyNone
	}
	return wagate.BodyJSON
}

// method is the endpoint's method, POST when unset.
func method(e *wagate.Endpoint) string {
	if e.Method == "" {
		return http.MethodPost
	}
	return strings.ToUpper(e.Method)
}

// Build makes the request that delivers ev to e. payload renders the
// default JSON body's data (nil: a built-in rendering of the variables,
// for tests and tools). Errors are *BuildError.
func Build(e *wagate.Endpoint, ev *wagate.Event, payload PayloadFunc) (*Request, error) {
	vars := Variables(ev)
	r := &Request{Method: method(e), secretHeaders: map[string]bool{}}
	u, err := buildURL(e, vars)
	if err != nil {
		return nil, err
	}
	r.URL = u

	r.Headers = append(r.Headers, wagate.Field{Key: "User-Agent", Value: userAgent})
	body, ctype, err := buildBody(e, ev, vars, payload)
	if err != nil {
		return nil, err
	}
	r.Body = body
	if ctype != "" {
		r.Headers = append(r.Headers, wagate.Field{Key: "Content-Type", Value: ctype})
	}
	for i, h := range e.Headers {
		v, err := render(h.Value, vars, headerValue)
		if err != nil {
			return nil, buildErrorf("headers[%d] (%s): %v", i, h.Key, err)
		}
		r.setHeader(h.Key, v)
	}
	// An Authorization header is masked in the history even when an owner
	// wrote it among the headers instead of in auth.
	r.secretHeaders["Authorization"] = true
	switch e.Auth.Type {
	case wagate.AuthBasic:
		cred := base64Std(e.Auth.Username + ":" + e.Auth.Password)
		r.setHeader("Authorization", "Basic "+cred)
	case wagate.AuthBearer:
		r.setHeader("Authorization", "Bearer "+e.Auth.Token)
	case wagate.AuthHeader:
		r.setHeader(e.Auth.Name, e.Auth.Value)
		r.secretHeaders[http.CanonicalHeaderKey(e.Auth.Name)] = true
	}
	for _, h := range r.Headers {
		if !validHeaderName(h.Key) || !validHeaderValue(h.Value) {
			// Validate refuses these at save; an endpoint stored before a
			// rule existed still arrives here.
			return nil, buildErrorf("header %q has a name or value that cannot be sent; fix the endpoint's headers or auth", h.Key)
		}
	}
	return r, nil
}

// setHeader sets a header, replacing one of the same name (an owner's
// Content-Type replaces the body type's).
func (r *Request) setHeader(key, value string) {
	for i, h := range r.Headers {
		if strings.EqualFold(h.Key, key) {
			r.Headers[i].Value = value
			return
		}
	}
	r.Headers = append(r.Headers, wagate.Field{Key: key, Value: value})
}

// buildURL is the endpoint's URL with the rendered path appended and the
// query added. The scheme and host are the base URL's, set as fields and
// never parsed from rendered text, so no value can change them; path
// values are escaped per segment.
func buildURL(e *wagate.Endpoint, vars map[string]string) (*url.URL, error) {
	base, err := parseBaseURL(e.URL)
	if err != nil {
		return nil, buildErrorf("url: %v", err)
	}
	u := &url.URL{Scheme: base.Scheme, Host: base.Host, RawQuery: base.RawQuery}
	p, err := render(e.Path, vars, pathValue)
	if err != nil {
		return nil, buildErrorf("path: %v", err)
	}
	// Join on the escaped form, so a %2F the path holds stays data.
	escaped := strings.TrimSuffix(base.EscapedPath(), "/")
	if p != "" {
		escaped += "/" + strings.TrimPrefix(p, "/")
	} else if escaped == "" {
		escaped = "/"
	}
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, buildErrorf("path: %q is not a valid URL path; write %%25 for a literal %%", e.Path)
	}
	u.Path, u.RawPath = path, escaped
	if u.EscapedPath() != escaped {
		// RawPath was not a valid encoding of Path (a literal "?" or "#"
		// in the owner's path): keep Go's escaping of the decoded path,
		// which still cannot reach the query or the host.
		u.RawPath = ""
	}
	var q strings.Builder
	q.WriteString(u.RawQuery)
	for i, f := range e.Query {
		v, err := render(f.Value, vars, nil)
		if err != nil {
			return nil, buildErrorf("query[%d] (%s): %v", i, f.Key, err)
		}
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(url.QueryEscape(f.Key) + "=" + url.QueryEscape(v))
	}
	u.RawQuery = q.String()
	return u, nil
}

// parseBaseURL reads an endpoint's base URL: absolute http(s) with a
// host, no user name or password (auth has its own fields), no fragment.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		return nil, errors.New("not an absolute URL; write e.g. https://crm.example/hooks")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme %q is not supported; use http:// or https://", cutText(u.Scheme, 20))
	case u.Hostname() == "":
		return nil, errors.New("has no host; write e.g. https://crm.example/hooks")
	case u.User != nil:
		return nil, errors.New("contains a user name or password; put them in auth (type basic) instead")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("has a #fragment, which is never sent; remove it")
	case strings.ContainsAny(raw, "{}"):
		return nil, errors.New("contains { or }; placeholders belong in path, query, headers or body, never in url, so no value can change the host")
	}
	return u, nil
}

// pathValue escapes a placeholder value for a URL path: as one segment
// (a "/" is %2F, "?" %3F, "#" %23), and a value that is exactly "." or
// ".." has its dots escaped too, so it cannot climb out of the path.
func pathValue(v string) string {
	v = url.PathEscape(v)
	if v == "." || v == ".." {
		v = strings.ReplaceAll(v, ".", "%2E")
	}
	return v
}

// headerValue makes a placeholder value safe in a header: CR, LF and the
// other control characters (tab excepted) become spaces. Stripping rather
// than refusing: a message text with a newline is ordinary data, and
// failing every delivery of it would punish the receiver for the sender's
// text; either way no value can start a header line of its own.
func headerValue(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || (r >= 0x20 && r != 0x7f) {
			return r
		}
		return ' '
	}, v)
}

// buildBody writes the body of the endpoint's body type and its
// Content-Type ("" for none).
func buildBody(e *wagate.Endpoint, ev *wagate.Event, vars map[string]string, payload PayloadFunc) ([]byte, string, error) {
	bt := bodyType(e)
	b := e.Body
	switch bt {
	case wagate.BodyNone:
		return nil, "", nil
	case wagate.BodyJSON:
		var out []byte
		switch {
		case b.Template != "":
			s, err := render(b.Template, vars, jsonValue)
			if err != nil {
				return nil, "", buildErrorf("body.template: %v", err)
			}
			out = []byte(s)
		case len(b.Fields) > 0:
			var buf bytes.Buffer
			buf.WriteByte('{')
			for i, f := range b.Fields {
				v, err := render(f.Value, vars, nil)
				if err != nil {
					return nil, "", buildErrorf("body.fields[%d] (%s): %v", i, f.Key, err)
				}
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.WriteString(`"` + jsonValue(f.Key) + `":"` + jsonValue(v) + `"`)
			}
			buf.WriteByte('}')
			out = buf.Bytes()
		default:
			var err error
			out, err = defaultPayload(ev, payload)
			if err != nil {
				return nil, "", err
			}
		}
		if !json.Valid(out) {
			return nil, "", buildErrorf("body.template: this event makes it invalid JSON; keep every placeholder inside a JSON string")
		}
		return out, contentTypes[bt], nil
	case wagate.BodyForm:
		if b.Template != "" {
			s, err := render(b.Template, vars, url.QueryEscape)
			if err != nil {
				return nil, "", buildErrorf("body.template: %v", err)
			}
			return []byte(s), contentTypes[bt], nil
		}
		var buf strings.Builder
		for i, f := range b.Fields {
			v, err := render(f.Value, vars, nil)
			if err != nil {
				return nil, "", buildErrorf("body.fields[%d] (%s): %v", i, f.Key, err)
			}
			if i > 0 {
				buf.WriteByte('&')
			}
			buf.WriteString(url.QueryEscape(f.Key) + "=" + url.QueryEscape(v))
		}
		return []byte(buf.String()), contentTypes[bt], nil
	case wagate.BodyMultipart:
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for i, f := range b.Fields {
			v, err := render(f.Value, vars, nil)
			if err != nil {
				return nil, "", buildErrorf("body.fields[%d] (%s): %v", i, f.Key, err)
			}
			if err := w.WriteField(f.Key, v); err != nil {
				return nil, "", buildErrorf("body.fields[%d] (%s): %v", i, f.Key, err)
			}
		}
		if err := w.Close(); err != nil {
			return nil, "", buildErrorf("body: %v", err)
		}
		return buf.Bytes(), w.FormDataContentType(), nil
	case wagate.BodyXML:
		var out []byte
		if b.Template != "" {
			s, err := render(b.Template, vars, xmlValue)
			if err != nil {
				return nil, "", buildErrorf("body.template: %v", err)
			}
			out = []byte(s)
		} else {
			var buf bytes.Buffer
			buf.WriteString(xml.Header + "<event>")
			for i, f := range b.Fields {
				v, err := render(f.Value, vars, nil)
				if err != nil {
					return nil, "", buildErrorf("body.fields[%d] (%s): %v", i, f.Key, err)
				}
				if !xmlName(f.Key) {
					return nil, "", buildErrorf("body.fields[%d].key %q is not an XML element name; rename the field", i, cutText(f.Key, 40))
				}
				buf.WriteString("<" + f.Key + ">" + xmlValue(v) + "</" + f.Key + ">")
			}
			buf.WriteString("</event>")
			out = buf.Bytes()
		}
		if err := wellFormedXML(out); err != nil {
			return nil, "", buildErrorf("body: this event makes ill-formed XML (%v); keep placeholders in element text or attribute values", err)
		}
		return out, contentTypes[bt], nil
	case wagate.BodyYAML:
		if b.Template != "" {
			s, err := render(b.Template, vars, yamlValue)
			if err != nil {
				return nil, "", buildErrorf("body.template: %v", err)
			}
			return []byte(s), contentTypes[bt], nil
		}
		doc := &yaml.Node{Kind: yaml.MappingNode}
		for i, f := range b.Fields {
			v, err := render(f.Value, vars, nil)
			if err != nil {
				return nil, "", buildErrorf("body.fields[%d] (%s): %v", i, f.Key, err)
			}
			doc.Content = append(doc.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Key},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Style: yaml.DoubleQuotedStyle})
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			return nil, "", buildErrorf("body: %v", err)
		}
		return out, contentTypes[bt], nil
	case wagate.BodyPlain:
		s, err := render(b.Template, vars, nil)
		if err != nil {
			return nil, "", buildErrorf("body.template: %v", err)
		}
		return []byte(s), contentTypes[bt], nil
	}
	return nil, "", buildErrorf("body.type %q is not known; use json, form, multipart, xml, yaml, plain or none", bt)
}

// defaultPayload is SPEC §9's default JSON body:
// {"type","timestamp","data":{…}}.
func defaultPayload(ev *wagate.Event, payload PayloadFunc) ([]byte, error) {
	if payload == nil {
		payload = variablesPayload
	}
	data, err := payload(ev)
	if err != nil {
		return nil, buildErrorf("the %s payload could not be rendered: %v", ev.Type, err)
	}
	return json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{ev.Type, ev.At.UTC().Format(time.RFC3339Nano), data})
}

// variablesPayload is the data when no PayloadFunc is configured: the
// event's variables of its own kind, by their last name part
// ({"id","status",…} for a message). Production injects the gateway's
// renderer instead; this keeps the package usable alone.
func variablesPayload(ev *wagate.Event) (json.RawMessage, error) {
	data := map[string]string{}
	for k, v := range Variables(ev) {
		if group, name, ok := strings.Cut(k, "."); ok && group != "event" && group != "workspace" {
			data[name] = v
		}
	}
	return json.Marshal(data)
}

// jsonValue escapes a value as JSON string content (no quotes): a quote
// is \", a newline \n, so it can never end the string it sits in.
func jsonValue(v string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return string(out[1 : len(out)-1])
}

// xmlValue escapes a value for XML text or an attribute value: <, >, &,
// quotes and line breaks as references, characters XML cannot carry as
// U+FFFD.
func xmlValue(v string) string {
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(v)) // writes to a buffer: no error
	return buf.String()
}

// yamlValue writes a value as a YAML double-quoted scalar, quotes
// included, so it is one string whatever it holds (a colon, a "#", a
// newline, "true"): anything but printable characters is escaped.
func yamlValue(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError || r > unicode.MaxRune:
			b.WriteString(`\uFFFD`)
		case r < 0x80 && r >= 0x20 && r != 0x7f:
			b.WriteRune(r)
		case r >= 0x80 && unicode.IsPrint(r) && r != 0xFEFF:
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			fmt.Fprintf(&b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// wellFormedXML reads doc to its end and reports the first syntax error.
func wellFormedXML(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	roots := 0
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(tok)) > 0 {
				return errors.New("text outside the root element")
			}
		}
	}
	if roots != 1 {
		return fmt.Errorf("%d root elements; write exactly one", roots)
	}
	return nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 || c <= 0x20 || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 || c == 0x7f {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// cutText shortens s to n bytes for a message.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func base64Std(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// render renders src with vars, each substituted value passed through
// escape. A variable the event does not have renders as "" (its default
// applies): Validate has checked that every name is a variable of some
// subscribed event, and an endpoint subscribed to several types uses
// names that not every type has.
func render(src string, vars map[string]string, escape func(string) string) (string, error) {
	if !strings.Contains(src, "{{") {
		return src, nil
	}
	t, err := placeholder.Parse(src)
	if err != nil {
		return "", err
	}
	full := vars
	for _, n := range t.Names() {
		if _, ok := vars[n]; !ok {
			if full == nil || len(full) == len(vars) {
				full = maps.Clone(vars)
				if full == nil {
					full = map[string]string{}
				}
			}
			full[n] = ""
		}
	}
	return t.Render(full, escape)
}
