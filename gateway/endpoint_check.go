package gateway

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
	"github.com/wagate/wagate/placeholder"
)

// The shape rules of an endpoint (SPEC §9) that need no knowledge of the
// deliverer: lengths, URL, method, events, filter, auth, header names.
// Whether its placeholders name variables of its events and whether a JSON
// or XML template is well-formed is the deliverer's check
// (EndpointRules.Check), run after these.

// Bounds of an endpoint's parts: enough for any real integration, small
// enough that 20 endpoints per workspace stay cheap to store and show.
const (
	maxEndpointName   = 100
	maxEndpointURL    = 2048
	maxEndpointFields = 50   // query parameters, headers, body fields: each
	maxFieldKey       = 256  // bytes of a key or header name
	maxFieldValue     = 4096 // bytes of a value (placeholders included)
)

// endpointMethods are the methods an endpoint may use, POST first (the default).
var endpointMethods = []string{"POST", "PUT", "PATCH", "DELETE", "GET"}

var bodyTypes = []string{wagate.BodyJSON, wagate.BodyForm, wagate.BodyMultipart, wagate.BodyXML, wagate.BodyYAML, wagate.BodyPlain, wagate.BodyNone}

var authTypes = []string{wagate.AuthNone, wagate.AuthBasic, wagate.AuthBearer, wagate.AuthHeader}

var filterSources = []string{wagate.SourceInbound, wagate.SourceAPI, wagate.SourceConsole}

// reservedHeaders are set by wagate on every delivery; an endpoint may not
// set them, or a template could forge the signature or the framing.
var reservedHeaders = []string{"webhook-id", "webhook-timestamp", "webhook-signature", "content-length", "content-type", "host", "transfer-encoding", "connection", "accept-encoding", "authorization"}

// applyEndpointInput copies the fields present in in onto e, checking each.
// On create e starts from newEndpointDefaults.
func applyEndpointInput(e *wagate.Endpoint, in *api.EndpointInput) error {
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if err := oneLine("name", name, maxEndpointName); err != nil {
			return err
		}
		e.Name = name
	}
	if in.Enabled != nil {
		e.Enabled = *in.Enabled
		if e.Enabled {
			e.DisabledReason = ""
		}
	}
	if in.URL != nil {
		u, err := endpointURL(*in.URL)
		if err != nil {
			return err
		}
		e.URL = u
	}
	if in.Path != nil {
		p := *in.Path
		if p != "" && !strings.HasPrefix(p, "/") {
			return wagate.Errorf(wagate.EINVALID, `field "path" must start with "/", as in "/hooks/{{message.id}}" (or be "")`)
		}
		if err := checkTemplateField("path", p, maxEndpointURL); err != nil {
			return err
		}
		e.Path = p
	}
	if in.Method != nil {
		m := strings.ToUpper(strings.TrimSpace(*in.Method))
		if !slices.Contains(endpointMethods, m) {
			return wagate.Errorf(wagate.EINVALID, `field "method" must be one of %s, not %q`, strings.Join(endpointMethods, ", "), cut(*in.Method, 20))
		}
		e.Method = m
	}
	if in.Events != nil {
		events, err := endpointEvents(*in.Events)
		if err != nil {
			return err
		}
		e.Events = events
	}
	if in.Filter != nil {
		if in.Filter.Source != "" && !slices.Contains(filterSources, in.Filter.Source) {
			return wagate.Errorf(wagate.EINVALID, `field "filter.source" must be one of %s (or "" for all), not %q`, strings.Join(filterSources, ", "), cut(in.Filter.Source, 20))
		}
		phone := strings.TrimSpace(in.Filter.AccountPhone)
		if phone != "" {
			p, err := wagate.NormalizePhone(phone, wagate.PhoneCheckPossible)
			if err != nil {
				return wagate.Errorf(wagate.EINVALID, `field "filter.account_phone" must be an account's phone in international format, such as "+14155550100" (or "" for all)`)
			}
			phone = p
		}
		e.Filter = wagate.EndpointFilter{AccountPhone: phone, Source: in.Filter.Source}
	}
	if in.Query != nil {
		q, err := fieldMap("query", *in.Query, false)
		if err != nil {
			return err
		}
		e.Query = q
	}
	if in.Headers != nil {
		h, err := fieldMap("headers", *in.Headers, true)
		if err != nil {
			return err
		}
		e.Headers = h
	}
	if in.Auth != nil {
		a, err := endpointAuth(*in.Auth, e.Auth)
		if err != nil {
			return err
		}
		e.Auth = a
	}
	if in.Body != nil {
		b, err := endpointBody(*in.Body)
		if err != nil {
			return err
		}
		e.Body = b
	}
	if e.URL == "" {
		return wagate.Errorf(wagate.EINVALID, `field "url" is required: the base URL of the receiver, such as "https://crm.example/hooks"`)
	}
	if len(e.Events) == 0 {
		return wagate.Errorf(wagate.EINVALID, `field "events" needs at least one event, such as ["message.failed"]; GET /api/v1/events lists them`)
	}
	return nil
}

// endpointURL checks the base URL: absolute http or https with a host, no
// credentials (use auth), no query or fragment (use query). Placeholders
// are not allowed here, so no value can ever change the host.
func endpointURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", wagate.Errorf(wagate.EINVALID, `field "url" is required: the base URL of the receiver, such as "https://crm.example/hooks"`)
	}
	if len(raw) > maxEndpointURL {
		return "", wagate.Errorf(wagate.EINVALID, `field "url" is longer than %d characters`, maxEndpointURL)
	}
	if strings.Contains(raw, "{{") {
		return "", wagate.Errorf(wagate.EINVALID, `field "url" cannot hold placeholders, so that no value can change the host; put them in "path" or "query"`)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", wagate.Errorf(wagate.EINVALID, `field "url" must be an absolute URL such as "https://crm.example/hooks"`)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", wagate.Errorf(wagate.EINVALID, `field "url" must start with https:// or http://`)
	case u.User != nil:
		return "", wagate.Errorf(wagate.EINVALID, `field "url" must not hold a user name or password; use "auth" with type "basic"`)
	case u.RawQuery != "" || u.ForceQuery:
		return "", wagate.Errorf(wagate.EINVALID, `field "url" must not hold a query string; put the parameters in "query"`)
	case u.Fragment != "":
		return "", wagate.Errorf(wagate.EINVALID, `field "url" must not hold a fragment ("#…"): it is never sent`)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// endpointEvents checks the subscribed events: known, each once.
func endpointEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, wagate.Errorf(wagate.EINVALID, `field "events" needs at least one event, such as ["message.failed"]; GET /api/v1/events lists them`)
	}
	out := make([]string, 0, len(events))
	for _, ev := range events {
		if !slices.Contains(wagate.EventTypes, ev) {
			return nil, wagate.Errorf(wagate.EINVALID, `field "events" holds %q, which is not an event; use one of %s`, cut(ev, 40), strings.Join(wagate.EventTypes, ", "))
		}
		if slices.Contains(out, ev) {
			return nil, wagate.Errorf(wagate.EINVALID, `field "events" lists %q twice`, ev)
		}
		out = append(out, ev)
	}
	return out, nil
}

// fieldMap turns a JSON object of query parameters or headers into fields
// sorted by key (JSON objects have no order), checking keys and values.
func fieldMap(field string, m map[string]string, headers bool) ([]wagate.Field, error) {
	if len(m) > maxEndpointFields {
		return nil, wagate.Errorf(wagate.EINVALID, "field %q has %d entries; at most %d are allowed", field, len(m), maxEndpointFields)
	}
	out := make([]wagate.Field, 0, len(m))
	for k, v := range m {
		name := fmt.Sprintf("%s.%s", field, cut(k, 40))
		if k == "" || len(k) > maxFieldKey {
			return nil, wagate.Errorf(wagate.EINVALID, "field %q has a key that is empty or longer than %d bytes", field, maxFieldKey)
		}
		if headers {
			if err := headerName(name, k); err != nil {
				return nil, err
			}
		}
		if err := checkTemplateField(name, v, maxFieldValue); err != nil {
			return nil, err
		}
		out = append(out, wagate.Field{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// headerName checks an HTTP header name: a token, not one wagate sets.
func headerName(field, k string) error {
	for _, r := range k {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return wagate.Errorf(wagate.EINVALID, "field %q: %q is not a valid header name (letters, digits and - only)", field, cut(k, 40))
		}
	}
	if slices.Contains(reservedHeaders, strings.ToLower(k)) {
		return wagate.Errorf(wagate.EINVALID, "field %q: wagate sets the %s header itself; use \"auth\" for credentials", field, k)
	}
	return nil
}

// endpointAuth checks the auth settings; a secret sent back as api.Masked
// keeps the stored one.
func endpointAuth(in api.EndpointAuth, old wagate.EndpointAuth) (wagate.EndpointAuth, error) {
	keep := func(v, stored string) string {
		if v == api.Masked {
			return stored
		}
		return v
	}
	a := wagate.EndpointAuth{Type: in.Type}
	if a.Type == "" {
		a.Type = wagate.AuthNone
	}
	switch a.Type {
	case wagate.AuthNone:
	case wagate.AuthBasic:
		a.Username, a.Password = in.Username, keep(in.Password, old.Password)
		if a.Username == "" || strings.Contains(a.Username, ":") {
			return a, wagate.Errorf(wagate.EINVALID, `field "auth.username" is required for basic auth and must not contain ":"`)
		}
	case wagate.AuthBearer:
		a.Token = keep(in.Token, old.Token)
		if a.Token == "" {
			return a, wagate.Errorf(wagate.EINVALID, `field "auth.token" is required for bearer auth`)
		}
	case wagate.AuthHeader:
		a.Name, a.Value = in.Name, keep(in.Value, old.Value)
		if a.Name == "" {
			return a, wagate.Errorf(wagate.EINVALID, `field "auth.name" is required for header auth: the header's name, such as "X-Api-Key"`)
		}
		if err := headerName("auth.name", a.Name); err != nil {
			return a, err
		}
	default:
		return a, wagate.Errorf(wagate.EINVALID, `field "auth.type" must be one of %s, not %q`, strings.Join(authTypes, ", "), cut(in.Type, 20))
	}
	for name, v := range map[string]string{"auth.username": a.Username, "auth.password": a.Password, "auth.token": a.Token, "auth.value": a.Value} {
		if err := oneLine(name, v, maxFieldValue); err != nil {
			return a, err
		}
	}
	return a, nil
}

// endpointBody checks the body settings and every placeholder in them.
func endpointBody(in api.EndpointBody) (wagate.EndpointBody, error) {
	b := wagate.EndpointBody{Type: in.Type, Template: in.Template}
	if b.Type == "" {
		b.Type = wagate.BodyJSON
	}
	if !slices.Contains(bodyTypes, b.Type) {
		return b, wagate.Errorf(wagate.EINVALID, `field "body.type" must be one of %s, not %q`, strings.Join(bodyTypes, ", "), cut(in.Type, 20))
	}
	if len(in.Fields) > maxEndpointFields {
		return b, wagate.Errorf(wagate.EINVALID, `field "body.fields" has %d entries; at most %d are allowed`, len(in.Fields), maxEndpointFields)
	}
	if b.Template != "" && len(in.Fields) > 0 {
		return b, wagate.Errorf(wagate.EINVALID, `fields "body.template" and "body.fields" exclude each other: give one`)
	}
	switch b.Type {
	case wagate.BodyNone:
		if b.Template != "" || len(in.Fields) > 0 {
			return b, wagate.Errorf(wagate.EINVALID, `body type "none" takes no template and no fields`)
		}
	case wagate.BodyPlain:
		if len(in.Fields) > 0 {
			return b, wagate.Errorf(wagate.EINVALID, `body type "plain" takes a "template", not "fields"`)
		}
	case wagate.BodyForm, wagate.BodyMultipart:
		if b.Template != "" {
			return b, wagate.Errorf(wagate.EINVALID, `body type %q takes "fields", not a "template"`, b.Type)
		}
	}
	if err := checkTemplateField("body.template", b.Template, placeholder.MaxTemplate); err != nil {
		return b, err
	}
	for i, f := range in.Fields {
		name := fmt.Sprintf("body.fields[%d]", i)
		if f.Key == "" || len(f.Key) > maxFieldKey {
			return b, wagate.Errorf(wagate.EINVALID, "field %q needs a key of 1 to %d bytes", name+".key", maxFieldKey)
		}
		if err := checkTemplateField(name+".value", f.Value, maxFieldValue); err != nil {
			return b, err
		}
		b.Fields = append(b.Fields, wagate.Field{Key: f.Key, Value: f.Value})
	}
	return b, nil
}

// checkTemplateField checks a value that may hold placeholders: length,
// one line unless it is the body template, and the placeholder syntax.
func checkTemplateField(field, v string, max int) error {
	if field != "body.template" {
		if err := oneLine(field, v, max); err != nil {
			return err
		}
	} else if len(v) > max {
		return wagate.Errorf(wagate.EINVALID, "field %q is longer than %d bytes", field, max)
	}
	if _, err := placeholder.Parse(v); err != nil {
		return wagate.Errorf(wagate.EINVALID, "field %q: %s", field, err)
	}
	return nil
}

// oneLine checks a value that ends up in a URL or a header: valid UTF-8,
// at most max bytes, and no control character, so it can never start a
// new header line.
func oneLine(field, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return wagate.Errorf(wagate.EINVALID, "field %q is not valid UTF-8", field)
	case len(v) > max:
		return wagate.Errorf(wagate.EINVALID, "field %q is longer than %d bytes", field, max)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return wagate.Errorf(wagate.EINVALID, "field %q contains a control character (a line break or tab); use one line of text", field)
	}
	return nil
}
