package outbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/placeholder"
)

// reservedHeaders are set by wagate on every delivery; an endpoint's
// headers may not replace them (the signature would no longer be ours, or
// the request would no longer be one request).
var reservedHeaders = []string{
	"Host", "Content-Length", "Transfer-Encoding", "Connection", "Te", "Trailer", "Upgrade",
	"Accept-Encoding", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
}

// Methods lists the methods an endpoint may use.
var Methods = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodGet}

// BodyTypes lists the body types, in the order the API documents them.
var BodyTypes = []string{wagate.BodyJSON, wagate.BodyForm, wagate.BodyMultipart, wagate.BodyXML, wagate.BodyYAML, wagate.BodyPlain, wagate.BodyNone}

// Validate checks an endpoint's request settings when it is saved, so a
// mistake is a 400 naming the field instead of a failed delivery later: the
// URL (absolute http(s), no placeholders, no credentials), the method, the
// events, the filter's source, header and query names, auth, the body
// type with its template or fields (a json template must be valid JSON
// with every placeholder inside a string, an xml one well-formed, a yaml
// one valid YAML, a form one a valid query), and that every placeholder
// names a variable of at least one subscribed event. known says whether
// name is a variable of event; nil means IsVariable. Errors are EINVALID
// and start with the field's name as the API writes it.
func Validate(e *wagate.Endpoint, known func(event, name string) bool) error {
	if known == nil {
		known = IsVariable
	}
	if e.URL == "" {
		return invalid("url", "is required; write e.g. https://crm.example/hooks")
	}
	if _, err := parseBaseURL(e.URL); err != nil {
		return invalid("url", "%v", err)
	}
	if strings.ContainsAny(e.Path, "?#") {
		return invalid("path", "contains ? or #; put query parameters in query, and a fragment is never sent")
	}
	if !slices.Contains(Methods, method(e)) {
		return invalid("method", "%q is not supported; use POST, PUT, PATCH, DELETE or GET", cutText(e.Method, 20))
	}
	if len(e.Events) == 0 {
		return invalid("events", "is empty; subscribe to at least one of %s", strings.Join(wagate.EventTypes, ", "))
	}
	for i, ev := range e.Events {
		if !slices.Contains(wagate.EventTypes, ev) {
			return invalid(fmt.Sprintf("events[%d]", i), "%q is not an event type; use one of %s", cutText(ev, 40), strings.Join(wagate.EventTypes, ", "))
		}
		if slices.Index(e.Events, ev) != i {
			return invalid(fmt.Sprintf("events[%d]", i), "%s is listed twice; list each event once", ev)
		}
	}
	switch e.Filter.Source {
	case "", wagate.SourceInbound, wagate.SourceAPI, wagate.SourceConsole:
	default:
		return invalid("filter.source", "%q is not a source; use inbound, api, console, or leave it empty for all", cutText(e.Filter.Source, 20))
	}

	v := &validator{events: e.Events, known: known}
	v.template("path", e.Path)
	for _, q := range e.Query {
		if q.Key == "" {
			return invalid("query", "has an empty name; give every query parameter a name")
		}
		v.template("query."+q.Key, q.Value)
	}
	for _, h := range e.Headers {
		field := "headers." + h.Key
		if err := checkHeaderName(field, h.Key); err != nil {
			return err
		}
		if e.Auth.Type != "" && e.Auth.Type != wagate.AuthNone && strings.EqualFold(h.Key, "Authorization") {
			return invalid(field, "conflicts with auth; set the credentials in auth only")
		}
		if !validHeaderValue(h.Value) {
			return invalid(field, "contains a line break or a control character; a header value is one line")
		}
		v.template(field, h.Value)
	}
	if err := checkAuth(e.Auth); err != nil {
		return err
	}
	if err := v.body(e); err != nil {
		return err
	}
	if v.err != nil {
		return v.err
	}
	// Last, the request of each subscribed event, built from its sample
	// data: whatever the rules above miss (a literal %zz in the path) fails
	// here, when saved, not at every delivery.
	for _, typ := range e.Events {
		ev, err := SampleEvent(e.WorkspaceID, typ, sampleTime, nil)
		if err != nil {
			return err
		}
		if _, err := Build(e, ev, nil); err != nil {
			return wagate.Errorf(wagate.EINVALID, "%v (building a sample %s request)", err, typ)
		}
	}
	return nil
}

// sampleTime is when Validate's sample events happen; any time will do.
var sampleTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func invalid(field, format string, args ...any) error {
	return wagate.Errorf(wagate.EINVALID, "%s %s", field, fmt.Sprintf(format, args...))
}

func checkHeaderName(field, name string) error {
	if !validHeaderName(name) {
		return invalid(field, "is not a valid header name; use letters, digits and - only, e.g. X-Api-Key")
	}
	if slices.Contains(reservedHeaders, http.CanonicalHeaderKey(name)) {
		return invalid(field, "is set by wagate on every delivery and cannot be changed; remove it")
	}
	return nil
}

func checkAuth(a wagate.EndpointAuth) error {
	switch a.Type {
	case "", wagate.AuthNone:
	case wagate.AuthBasic:
		switch {
		case a.Username == "":
			return invalid("auth.username", "is required for basic auth")
		case strings.Contains(a.Username, ":"):
			return invalid("auth.username", "contains a colon, which basic auth cannot carry; choose a user name without one")
		case !validHeaderValue(a.Username) || !validHeaderValue(a.Password):
			return invalid("auth", "the user name or password contains a line break or a control character; remove it")
		}
	case wagate.AuthBearer:
		if a.Token == "" {
			return invalid("auth.token", "is required for bearer auth")
		}
		if !validHeaderValue(a.Token) {
			return invalid("auth.token", "contains a line break or a control character; remove it")
		}
	case wagate.AuthHeader:
		if err := checkHeaderName("auth.name", a.Name); err != nil {
			return err
		}
		if a.Value == "" {
			return invalid("auth.value", "is required for header auth")
		}
		if !validHeaderValue(a.Value) {
			return invalid("auth.value", "contains a line break or a control character; remove it")
		}
	default:
		return invalid("auth.type", "%q is not an auth type; use none, basic, bearer or header", cutText(a.Type, 20))
	}
	return nil
}

// validator collects the first placeholder error while the settings are
// walked, so the field checks above stay linear.
type validator struct {
	events []string
	known  func(event, name string) bool
	err    error
}

// template parses src and checks its names; it returns the template (nil
// when src has no placeholder or has an error, recorded in v.err).
func (v *validator) template(field, src string) *placeholder.Template {
	if v.err != nil || !strings.Contains(src, "{{") {
		return nil
	}
	t, err := placeholder.Parse(src)
	if err != nil {
		v.err = invalid(field, "%v", err)
		return nil
	}
	for _, name := range t.Names() {
		if !slices.ContainsFunc(v.events, func(ev string) bool { return v.known(ev, name) }) {
			v.err = invalid(field, "uses {{%s}}, which is not a variable of %s; see GET /api/v1/events for the variables of each event", name, strings.Join(v.events, ", "))
			return nil
		}
	}
	return t
}

// probes are the values a template is rendered with when saved: empty (so
// its defaults apply), and the characters that would break out of a
// string, an element or a scalar if escaping were missing or the
// placeholder stood in the wrong place.
var probes = []string{"", `"`, `<a>&' -- ]]>`, "a: b\n- c #d"}

func (v *validator) body(e *wagate.Endpoint) error {
	b := e.Body
	bt := bodyType(e)
	if !slices.Contains(BodyTypes, bt) {
		return invalid("body.type", "%q is not a body type; use json, form, multipart, xml, yaml, plain or none", cutText(b.Type, 20))
	}
	if b.Template != "" && len(b.Fields) > 0 {
		return invalid("body", "has both template and fields; give one of them")
	}
	for i, f := range b.Fields {
		field := fmt.Sprintf("body.fields[%d]", i)
		if f.Key == "" {
			return invalid(field+".key", "is empty; give every field a name")
		}
		if bt == wagate.BodyXML && !xmlName(f.Key) {
			return invalid(field+".key", "%q is not an XML element name; start with a letter or _ and use letters, digits, -, _ and . only", cutText(f.Key, 40))
		}
		v.template(field+".value", f.Value)
	}
	switch bt {
	case wagate.BodyNone:
		if b.Template != "" || len(b.Fields) > 0 {
			return invalid("body", "type none sends no body; remove the template and fields, or choose another type")
		}
	case wagate.BodyMultipart:
		if b.Template != "" {
			return invalid("body.template", "multipart sends fields as parts; give fields instead of a template")
		}
	case wagate.BodyPlain:
		if len(b.Fields) > 0 {
			return invalid("body.fields", "plain sends the template as text; give a template instead of fields")
		}
	}
	if b.Template == "" || v.err != nil {
		return nil
	}
	t := v.template("body.template", b.Template)
	if v.err != nil {
		return nil
	}
	var (
		check  func(rendered string) error
		escape func(string) string
	)
	switch bt {
	case wagate.BodyJSON:
		escape = jsonValue
		check = func(s string) error {
			if !jsonValid(s) {
				return errors.New("is not valid JSON, or a placeholder stands outside a JSON string; write placeholders inside quotes, e.g. {\"text\": \"{{message.text}}\"}")
			}
			return nil
		}
	case wagate.BodyForm:
		escape = url.QueryEscape
		check = func(s string) error {
			if _, err := url.ParseQuery(s); err != nil {
				return errors.New("is not a valid form body; write name=value pairs joined by &, e.g. phone={{message.phone}}&text={{message.text}}")
			}
			return nil
		}
	case wagate.BodyXML:
		escape = xmlValue
		check = func(s string) error {
			if err := wellFormedXML([]byte(s)); err != nil {
				return fmt.Errorf("is not well-formed XML (%v); keep placeholders in element text or attribute values", err)
			}
			return nil
		}
	case wagate.BodyYAML:
		escape = yamlValue
		check = func(s string) error {
			var doc any
			if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
				return errors.New("is not valid YAML; wagate writes each placeholder value as a quoted string, so write name: {{message.text}} without quotes around the placeholder")
			}
			return nil
		}
	default:
		return nil
	}
	if bt == wagate.BodyJSON && t != nil {
		vars := map[string]string{}
		for _, n := range t.Names() {
			vars[n] = keyProbe
		}
		if s, err := render(b.Template, vars, escape); err == nil && placeholderInKey(s) {
			return invalid("body.template", "uses a placeholder in an object key; keys are the template's own, write the placeholder in a value, e.g. {\"text\": \"{{message.text}}\"}")
		}
	}
	for _, p := range probes {
		vars := map[string]string{}
		if t != nil {
			for _, n := range t.Names() {
				vars[n] = p
			}
		}
		s, err := render(b.Template, vars, escape)
		if err != nil {
			return invalid("body.template", "%v", err)
		}
		if err := check(s); err != nil {
			return invalid("body.template", "%v", err)
		}
	}
	return nil
}

func jsonValid(s string) bool { return json.Valid([]byte(s)) }

// xmlName reports whether s can be an element name written as is: a
// conservative subset of XML's Name (ASCII, no colon, so no namespace).
func xmlName(s string) bool {
	if s == "" || strings.HasPrefix(strings.ToLower(s), "xml") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if i == 0 && !letter {
			return false
		}
		if !letter && !(c >= '0' && c <= '9') && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// keyProbe marks where placeholder values land in a JSON template.
const keyProbe = "\x01wagate\x01"

// placeholderInKey reports whether the JSON text doc (a template rendered
// with keyProbe) has keyProbe in an object key: a key made of a value
// could collide with the template's own keys, and a receiver that keeps
// the first of two equal keys would then read the value's key.
func placeholderInKey(doc string) bool {
	dec := json.NewDecoder(strings.NewReader(doc))
	type level struct{ object, wantKey bool }
	var stack []level
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if n := len(stack); n > 0 && stack[n-1].object {
					stack[n-1].wantKey = false
				}
				stack = append(stack, level{object: t == '{', wantKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				if strings.Contains(t, keyProbe) {
					return true
				}
				stack[n-1].wantKey = false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}
