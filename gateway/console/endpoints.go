package console

import (
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// The endpoints pages (SPEC §9): the outbound event webhooks of the
// workspace, one page each with its settings, an enable switch, a test-send
// form and its deliveries with request and response. Support staff read
// them; owners change them. Every write goes through the gateway's use
// cases, so the checks and their messages are the admin API's.

// endpointForm is an endpoint as the form's fields: filled from a stored
// endpoint, or from a submitted form that failed, so nothing typed is lost.
type endpointForm struct {
	Name, URL, Path, Method  string
	Events                   []string
	Account, Source          string
	BodyType, Template       string
	Fields, Query, Headers   string // "key=value" lines
	AuthType                 string
	Username, Password       string
	Token, AuthName, AuthVal string
}

type endpointsPage struct {
	Endpoints []*wagate.Endpoint
	Form      endpointForm
	Problem   string // why the submitted form was refused
	Created   *wagate.Endpoint
	Secret    string // shown once, with Created or after a rotation
	Options   endpointOptions
}

type endpointPage struct {
	Endpoint   *wagate.Endpoint
	Form       endpointForm
	Problem    string
	Secret     string
	Deliveries []*wagate.EndpointDelivery
	Tested     *wagate.EndpointDelivery
	// TestProblem is why the test-send form was refused.
	TestProblem string
	Options     endpointOptions
}

// endpointOptions are the choices of the form's lists.
type endpointOptions struct {
	Events    []string
	Methods   []string
	BodyTypes []string
	AuthTypes []string
	Sources   []string
}

var formOptions = endpointOptions{
	Events:    wagate.EventTypes,
	Methods:   []string{"POST", "PUT", "PATCH", "DELETE", "GET"},
	BodyTypes: []string{wagate.BodyJSON, wagate.BodyForm, wagate.BodyMultipart, wagate.BodyXML, wagate.BodyYAML, wagate.BodyPlain, wagate.BodyNone},
	AuthTypes: []string{wagate.AuthNone, wagate.AuthBasic, wagate.AuthBearer, wagate.AuthHeader},
	Sources:   []string{wagate.SourceInbound, wagate.SourceAPI, wagate.SourceConsole},
}

// formOf fills the form from a stored endpoint; secrets show as api.Masked,
// which the gateway reads back as "unchanged".
func formOf(e *wagate.Endpoint) endpointForm {
	mask := func(v string) string {
		if v == "" {
			return ""
		}
		return api.Masked
	}
	return endpointForm{
		Name: e.Name, URL: e.URL, Path: e.Path, Method: e.Method,
		Events:  e.Events,
		Account: e.Filter.AccountPhone, Source: e.Filter.Source,
		BodyType: e.Body.Type, Template: e.Body.Template,
		Fields:   fieldLines(e.Body.Fields),
		Query:    fieldLines(e.Query),
		Headers:  fieldLines(e.Headers),
		AuthType: e.Auth.Type, Username: e.Auth.Username, Password: mask(e.Auth.Password),
		Token: mask(e.Auth.Token), AuthName: e.Auth.Name, AuthVal: mask(e.Auth.Value),
	}
}

func fieldLines(fs []wagate.Field) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Key + "=" + f.Value + "\n")
	}
	return b.String()
}

// formFrom reads a submitted form.
func formFrom(r *http.Request) endpointForm {
	f := r.PostForm
	return endpointForm{
		Name: f.Get("name"), URL: f.Get("url"), Path: f.Get("path"), Method: f.Get("method"),
		Events:  f["events"],
		Account: f.Get("account"), Source: f.Get("source"),
		BodyType: f.Get("body_type"), Template: f.Get("template"),
		Fields: f.Get("fields"), Query: f.Get("query"), Headers: f.Get("headers"),
		AuthType: f.Get("auth_type"), Username: f.Get("username"), Password: f.Get("password"),
		Token: f.Get("token"), AuthName: f.Get("auth_name"), AuthVal: f.Get("auth_value"),
	}
}

// input turns the form into the API's input: every field is given, as a
// form always sends them all.
func (f endpointForm) input() (*api.EndpointInput, error) {
	fields, err := parseLines("body fields", f.Fields)
	if err != nil {
		return nil, err
	}
	query, err := parseLines("query parameters", f.Query)
	if err != nil {
		return nil, err
	}
	headers, err := parseLines("headers", f.Headers)
	if err != nil {
		return nil, err
	}
	toMap := func(fs []api.Field) *map[string]string {
		m := make(map[string]string, len(fs))
		for _, x := range fs {
			m[x.Key] = x.Value
		}
		return &m
	}
	events := append([]string{}, f.Events...)
	// A template box left with only whitespace means "no template": a
	// textarea cannot be empty-vs-absent.
	tpl := f.Template
	if strings.TrimSpace(tpl) == "" {
		tpl = ""
	}
	return &api.EndpointInput{
		Name: &f.Name, URL: &f.URL, Path: &f.Path, Method: &f.Method,
		Events:  &events,
		Filter:  &api.EndpointFilter{AccountPhone: f.Account, Source: f.Source},
		Query:   toMap(query),
		Headers: toMap(headers),
		Auth: &api.EndpointAuth{Type: f.AuthType, Username: f.Username, Password: f.Password,
			Token: f.Token, Name: f.AuthName, Value: f.AuthVal},
		Body: &api.EndpointBody{Type: f.BodyType, Template: tpl, Fields: fields},
	}, nil
}

// parseLines reads "key=value" lines; blank lines are skipped.
func parseLines(what, s string) ([]api.Field, error) {
	var out []api.Field
	for i, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, wagate.Errorf(wagate.EINVALID, "%s, line %d: write each as key=value, e.g. phone={{message.phone}}", what, i+1)
		}
		out = append(out, api.Field{Key: strings.TrimSpace(k), Value: v})
	}
	return out, nil
}

// GET /ui/w/{ws}/endpoints (owner, support)
func (c *Console) endpoints(w http.ResponseWriter, r *http.Request, q *request) {
	c.renderEndpoints(w, r, q, http.StatusOK, endpointsPage{Form: endpointForm{Method: "POST", BodyType: wagate.BodyJSON, AuthType: wagate.AuthNone, Events: []string{wagate.EventMessageFailed}}})
}

func (c *Console) renderEndpoints(w http.ResponseWriter, r *http.Request, q *request, status int, p endpointsPage) {
	list, err := c.svc.Endpoints.ListEndpoints(r.Context(), q.ws.ID)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	p.Endpoints, p.Options = list, formOptions
	v := c.view(q, "Endpoints", "endpoints")
	v.Flash = flashes[r.URL.Query().Get("done")]
	v.Data = p
	c.render(w, status, "endpoints", v)
}

// POST /ui/w/{ws}/endpoints (owner). The answer is the page with the new
// secret, never a redirect: a secret must not travel in a URL.
func (c *Console) createEndpoint(w http.ResponseWriter, r *http.Request, q *request) {
	form := formFrom(r)
	in, err := form.input()
	if err == nil {
		var e *wagate.Endpoint
		if e, err = c.gw.CreateEndpoint(r.Context(), q.ws.ID, in); err == nil {
			c.log.Info("console: endpoint created", zap.String("workspace", q.ws.ID), zap.String("endpoint", e.ID), zap.String("role", string(q.sess.role)))
			c.renderEndpoints(w, r, q, http.StatusCreated, endpointsPage{Created: e, Secret: e.Secret, Form: endpointForm{Method: "POST", BodyType: wagate.BodyJSON, AuthType: wagate.AuthNone}})
			return
		}
	}
	if wagate.ErrorCode(err) != wagate.EINVALID && wagate.ErrorCode(err) != wagate.ECONFLICT {
		c.fail(w, r, q, err)
		return
	}
	c.renderEndpoints(w, r, q, http.StatusBadRequest, endpointsPage{Form: form, Problem: sentence(wagate.ErrorMessage(err))})
}

// GET /ui/w/{ws}/endpoints/{id} (owner, support)
func (c *Console) endpoint(w http.ResponseWriter, r *http.Request, q *request) {
	c.renderEndpoint(w, r, q, http.StatusOK, endpointPage{})
}

func (c *Console) renderEndpoint(w http.ResponseWriter, r *http.Request, q *request, status int, p endpointPage) {
	ref := wagate.EndpointRef{WorkspaceID: q.ws.ID, ID: r.PathValue("id")}
	e, err := c.svc.Endpoints.FindEndpoint(r.Context(), ref)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			err = wagate.Errorf(wagate.ENOTFOUND, "endpoint %q not found in this workspace; it may have been deleted", cut(ref.ID, 40))
		}
		c.fail(w, r, q, err)
		return
	}
	ds, _, err := c.svc.Endpoints.ListDeliveries(r.Context(), ref, wagate.DeliveryHistoryLimit, "")
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	p.Endpoint, p.Deliveries, p.Options = e, ds, formOptions
	if p.Problem == "" {
		p.Form = formOf(e)
	}
	name := e.Name
	if name == "" {
		name = e.URL
	}
	v := c.view(q, "Endpoint "+name, "endpoints")
	v.Flash = flashes[r.URL.Query().Get("done")]
	v.Data = p
	c.render(w, status, "endpoint", v)
}

// POST /ui/w/{ws}/endpoints/{id} (owner): save the settings.
func (c *Console) saveEndpoint(w http.ResponseWriter, r *http.Request, q *request) {
	ref := wagate.EndpointRef{WorkspaceID: q.ws.ID, ID: r.PathValue("id")}
	form := formFrom(r)
	in, err := form.input()
	if err == nil {
		if _, err = c.gw.UpdateEndpoint(r.Context(), ref, in); err == nil {
			c.log.Info("console: endpoint changed", zap.String("workspace", q.ws.ID), zap.String("endpoint", ref.ID), zap.String("role", string(q.sess.role)))
			http.Redirect(w, r, endpointPath(ref)+"?done=saved", http.StatusSeeOther)
			return
		}
	}
	if wagate.ErrorCode(err) != wagate.EINVALID {
		c.fail(w, r, q, err)
		return
	}
	c.renderEndpoint(w, r, q, http.StatusBadRequest, endpointPage{Form: form, Problem: sentence(wagate.ErrorMessage(err))})
}

// POST /ui/w/{ws}/endpoints/{id}/enabled (owner): the switch.
func (c *Console) switchEndpoint(w http.ResponseWriter, r *http.Request, q *request) {
	ref := wagate.EndpointRef{WorkspaceID: q.ws.ID, ID: r.PathValue("id")}
	on := r.PostForm.Get("enabled") == "true"
	if v := r.PostForm.Get("enabled"); v != "true" && v != "false" {
		c.fail(w, r, q, wagate.Errorf(wagate.EINVALID, "the switch sent neither on nor off; reload the page and try again"))
		return
	}
	if _, err := c.gw.UpdateEndpoint(r.Context(), ref, &api.EndpointInput{Enabled: &on}); err != nil {
		c.fail(w, r, q, err)
		return
	}
	done := "endpoint-off"
	if on {
		done = "endpoint-on"
	}
	http.Redirect(w, r, endpointPath(ref)+"?done="+done, http.StatusSeeOther)
}

// POST /ui/w/{ws}/endpoints/{id}/test (owner): send a sample now and show
// the request and the answer on the endpoint's page.
func (c *Console) testEndpoint(w http.ResponseWriter, r *http.Request, q *request) {
	ref := wagate.EndpointRef{WorkspaceID: q.ws.ID, ID: r.PathValue("id")}
	event := r.PostForm.Get("event")
	if event != "" && !slices.Contains(wagate.EventTypes, event) {
		c.fail(w, r, q, wagate.Errorf(wagate.EINVALID, "%q is not an event; pick one from the list", cut(event, 40)))
		return
	}
	vars, err := parseLines("variables", r.PostForm.Get("variables"))
	if err != nil {
		c.renderEndpoint(w, r, q, http.StatusBadRequest, endpointPage{TestProblem: sentence(wagate.ErrorMessage(err))})
		return
	}
	m := map[string]string{}
	for _, f := range vars {
		m[f.Key] = f.Value
	}
	d, err := c.gw.TestEndpoint(r.Context(), ref, event, m)
	if wagate.ErrorCode(err) == wagate.EINVALID {
		c.renderEndpoint(w, r, q, http.StatusBadRequest, endpointPage{TestProblem: sentence(wagate.ErrorMessage(err))})
		return
	}
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.renderEndpoint(w, r, q, http.StatusOK, endpointPage{Tested: d})
}

// POST /ui/w/{ws}/endpoints/{id}/rotate (owner): a new secret, shown once.
func (c *Console) rotateEndpoint(w http.ResponseWriter, r *http.Request, q *request) {
	ref := wagate.EndpointRef{WorkspaceID: q.ws.ID, ID: r.PathValue("id")}
	secret, _, err := c.gw.RotateEndpointSecret(r.Context(), ref)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: endpoint secret rotated", zap.String("workspace", q.ws.ID), zap.String("endpoint", ref.ID), zap.String("role", string(q.sess.role)))
	c.renderEndpoint(w, r, q, http.StatusOK, endpointPage{Secret: secret})
}

// POST /ui/w/{ws}/endpoints/{id}/delete (owner)
func (c *Console) deleteEndpoint(w http.ResponseWriter, r *http.Request, q *request) {
	ref := wagate.EndpointRef{WorkspaceID: q.ws.ID, ID: r.PathValue("id")}
	if err := c.svc.Endpoints.DeleteEndpoint(r.Context(), ref); err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: endpoint deleted", zap.String("workspace", q.ws.ID), zap.String("endpoint", ref.ID), zap.String("role", string(q.sess.role)))
	http.Redirect(w, r, workspacePath(q.ws.ID)+"endpoints?done=endpoint-deleted", http.StatusSeeOther)
}

// POST /ui/w/{ws}/endpoints/{id}/deliveries/{d}/retry (owner)
func (c *Console) retryDelivery(w http.ResponseWriter, r *http.Request, q *request) {
	ref := wagate.EndpointRef{WorkspaceID: q.ws.ID, ID: r.PathValue("id")}
	if _, err := c.gw.RetryDelivery(r.Context(), ref, r.PathValue("d")); err != nil {
		c.fail(w, r, q, err)
		return
	}
	http.Redirect(w, r, endpointPath(ref)+"?done=delivery-retried", http.StatusSeeOther)
}

func endpointPath(ref wagate.EndpointRef) string {
	return workspacePath(ref.WorkspaceID) + "endpoints/" + ref.ID
}
