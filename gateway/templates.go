package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
	"github.com/wagate/wagate/placeholder"
	"github.com/wagate/wagate/quota"
)

// Message templates (SPEC §11): the admin API's CRUD, preview and test
// send, and the inbound URL's "template" + "variables".
//
// Variables are strings. A JSON number is taken too, as written (12.50
// stays "12.50"): CRMs fill amounts and order numbers from numeric fields,
// and refusing them would only make every integrator quote them. null is
// the same as leaving the variable out (its default applies); booleans,
// objects and arrays are a 400 naming the variable.

// maxVariables bounds the variables of one request.
const maxVariables = 100

// decodeVariables reads a JSON object of variables. field names the
// object in errors ("variables").
func decodeVariables(raw json.RawMessage, field string) (map[string]string, error) {
	if k := jsonKind(raw); k == "null" || k == "nothing" {
		return nil, nil
	}
	if jsonKind(raw) != "object" {
		return nil, wagate.Errorf(wagate.EINVALID, `field %q must be a JSON object of names and values, e.g. %q:{"name":"Jane"}, not %s`, field, field, jsonKindArticle(raw))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, wagate.Errorf(wagate.EINVALID, `field %q is not a valid JSON object; write it as %q:{"name":"Jane"}`, field, field)
	}
	if len(m) > maxVariables {
		return nil, wagate.Errorf(wagate.EINVALID, `field %q has %d variables; the limit is %d`, field, len(m), maxVariables)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch jsonKind(v) {
		case "null":
			continue // absent: the default applies
		case "string":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, wagate.Errorf(wagate.EINVALID, `variable %q in %q is not a valid JSON string`, cut(k, 64), field)
			}
			out[k] = s
		case "number":
			out[k] = string(bytes.TrimSpace(v))
		default:
			return nil, wagate.Errorf(wagate.EINVALID, `variable %q in %q is %s; a variable's value is a string (or a number), e.g. %q:"Jane"`, cut(k, 64), field, jsonKindArticle(v), cut(k, 64))
		}
	}
	return out, nil
}

// renderText renders a template's text with vars as a message text: no
// escaping (WhatsApp text is plain), and a missing variable named.
func renderText(t *wagate.Template, vars map[string]string) (string, *placeholder.Template, error) {
	p, err := placeholder.Parse(t.Text)
	if err != nil {
		// Checked when saved: only a template stored by an older wagate
		// gets here.
		return "", nil, wagate.Errorf(wagate.EINVALID, "template %q does not parse (%s); fix its text with PATCH …/templates/%s", t.Name, err, t.Name)
	}
	text, err := p.Render(vars, nil)
	var me *placeholder.MissingError
	switch {
	case errors.As(err, &me):
		return "", nil, wagate.Errorf(wagate.EINVALID, `variable %q of template %q has no value and no default; send it in "variables", e.g. "variables":{%q:"…"}`, me.Name, t.Name, me.Name)
	case err != nil:
		return "", nil, wagate.Errorf(wagate.EINVALID, "template %q: %s", t.Name, err)
	}
	return text, p, nil
}

// expandTemplate turns a request with "template" into one with the
// rendered text, and the template's file unless the request has its own.
// The rendered text must pass every rule of "text"; its errors name the
// template. A request without "template" is left as it is.
func (s *Server) expandTemplate(ctx context.Context, ws *wagate.Workspace, r *sendRequest) (*wagate.Template, error) {
	if !r.hasTemplate {
		if r.Variables != nil {
			return nil, wagate.Errorf(wagate.EINVALID, `field "variables" is only read with "template"; name the template, e.g. "template":"order_shipped", or leave "variables" out`)
		}
		return nil, nil
	}
	if err := validateAction(r); err != nil {
		return nil, err
	}
	if r.hasText {
		return nil, wagate.Errorf(wagate.EINVALID, `fields "text" and "template" are both given; send one: "text" for your own words, or "template" with "variables" to use a stored template`)
	}
	name := strings.TrimSpace(r.Template)
	if err := wagate.CheckTemplateName(name); err != nil {
		return nil, wagate.Errorf(wagate.EINVALID, `field "template" %q is not a template name; list the templates with GET /api/v1/workspaces/{ws}/templates`, cut(r.Template, 64))
	}
	if s.svc.Templates == nil {
		return nil, wagate.Errorf(wagate.EINVALID, `field "template": this server keeps no templates; send "text" instead`)
	}
	t, err := s.svc.Templates.FindTemplate(ctx, ws.ID, name)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return nil, wagate.Errorf(wagate.EINVALID, `field "template": %q is not a template of this workspace; list the templates with GET /api/v1/workspaces/{ws}/templates (or wagate template list)`, name)
		}
		return nil, err
	}
	text, _, err := renderText(t, r.Variables)
	if err != nil {
		return nil, err
	}
	if r.FileURL == "" && t.FileURL != "" {
		r.FileURL, r.FileName = t.FileURL, t.FileName
	}
	if r.FileURL == "" && strings.TrimSpace(text) == "" {
		return nil, wagate.Errorf(wagate.EINVALID, `template %q rendered an empty text and has no file; give its variables values (or defaults), or send a file with "file_url" and "file_name"`, t.Name)
	}
	if n := utf8.RuneCountInString(text); n > maxTextRunes {
		return nil, wagate.Errorf(wagate.EINVALID, `template %q rendered a text of %d characters; the limit is %d, so shorten the variables' values or the template`, t.Name, n, maxTextRunes)
	}
	r.Text, r.hasText = text, true
	return t, nil
}

// checkTemplate checks a template about to be saved: its name, that its
// text parses and can be sent, its file, and its Cloud API mapping.
func (s *Server) checkTemplate(ctx context.Context, t *wagate.Template) error {
	if err := wagate.CheckTemplateName(t.Name); err != nil {
		return err
	}
	p, err := placeholder.Parse(t.Text)
	if err != nil {
		return wagate.Errorf(wagate.EINVALID, `field "text": %s`, err)
	}
	if t.FileURL == "" && strings.TrimSpace(t.Text) == "" {
		return wagate.Errorf(wagate.EINVALID, `field "text" is empty; write the message text (with {{variables}}), or give the template a file with "file_url" and "file_name"`)
	}
	// Every variable empty: the shortest text the template can render.
	empty := make(map[string]string, len(p.Names()))
	for _, n := range p.Names() {
		empty[n] = ""
	}
	if least, err := p.Render(empty, nil); err == nil && utf8.RuneCountInString(least) > maxTextRunes {
		return wagate.Errorf(wagate.EINVALID, `field "text" has %d characters without its variables; a message takes at most %d, so shorten it`, utf8.RuneCountInString(least), maxTextRunes)
	}
	if t.FileURL != "" || t.FileName != "" {
		if t.FileURL == "" {
			return wagate.Errorf(wagate.EINVALID, `field "file_name" is given without "file_url"; give the file's link too, or leave both out`)
		}
		if err := checkFileURL(t.FileURL, s.cfg.AllowPrivateFileURLs); err != nil {
			return err
		}
		if err := checkFileName(t.FileName); err != nil {
			return err
		}
	}
	if t.CloudAPI != nil {
		return s.checkCloudAPIMapping(ctx, t, p)
	}
	return nil
}

// checkCloudAPIMapping checks a template's cloudapi mapping: a Cloud API
// account of the workspace, an approved template of it as last synced,
// and parameters that are variables of the text and fit the template's
// body parameters (their number; their names for a named template).
func (s *Server) checkCloudAPIMapping(ctx context.Context, t *wagate.Template, p *placeholder.Template) error {
	c := t.CloudAPI
	if strings.TrimSpace(c.AccountPhone) == "" {
		return wagate.Errorf(wagate.EINVALID, `missing field "cloudapi.account_phone": the Cloud API account whose template this maps to`)
	}
	phone, err := wagate.NormalizePhone(c.AccountPhone, s.cfg.PhoneCheck)
	if err != nil {
		return fieldError("cloudapi.account_phone", err)
	}
	c.AccountPhone = phone
	ref := wagate.AccountRef{WorkspaceID: t.WorkspaceID, Phone: phone}
	acct, err := s.svc.Accounts.FindAccount(ctx, ref)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return wagate.Errorf(wagate.EINVALID, `field "cloudapi.account_phone": %s is not an account of this workspace`, phone)
		}
		return err
	}
	if acct.Transport != wagate.TransportCloudAPI {
		return wagate.Errorf(wagate.EINVALID, `field "cloudapi.account_phone": account %s sends through %q; a mapping needs a Cloud API (cloudapi) account`, phone, acct.Transport)
	}
	if strings.TrimSpace(c.Name) == "" {
		return wagate.Errorf(wagate.EINVALID, `missing field "cloudapi.name": the name of the approved Cloud API template`)
	}
	if strings.TrimSpace(c.Language) == "" {
		return wagate.Errorf(wagate.EINVALID, `missing field "cloudapi.language": the language code of the Cloud API template, e.g. "en_US"`)
	}
	names := p.Names()
	for _, v := range c.Parameters {
		if !contains(names, v) {
			return wagate.Errorf(wagate.EINVALID, `field "cloudapi.parameters": %q is not a variable of the text (it uses %s); list variables of the text, one per parameter of the Cloud API template`, cut(v, 64), describeNames(names))
		}
	}
	synced, err := s.svc.Templates.FindAccountTemplates(ctx, ref)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return wagate.Errorf(wagate.EINVALID, `field "cloudapi": the templates of account %s were never synced; set its "waba_id" setting and sync them (POST …/accounts/%s/templates/sync), then save again`, phone, phone)
		}
		return err
	}
	pt := synced.Find(c.Name, c.Language)
	if pt == nil {
		var langs []string
		for _, o := range synced.Templates {
			if o.Name == c.Name {
				langs = append(langs, o.Language)
			}
		}
		if len(langs) > 0 {
			return wagate.Errorf(wagate.EINVALID, `field "cloudapi.language": template %q of account %s has no language %q; it has %s`, c.Name, phone, cut(c.Language, 20), strings.Join(langs, ", "))
		}
		return wagate.Errorf(wagate.EINVALID, `field "cloudapi.name": account %s has no template %q (as last synced, %s); list them with GET …/accounts/%s/templates, or sync again`, phone, cut(c.Name, 64), synced.SyncedAt.UTC().Format("2006-01-02 15:04 UTC"), phone)
	}
	if pt.Status != wagate.ProviderTemplateApproved {
		return wagate.Errorf(wagate.EINVALID, `field "cloudapi.name": template %q (%s) of account %s is %s, not APPROVED; WhatsApp sends only approved templates: wait for the review, then sync again`, c.Name, c.Language, phone, pt.Status)
	}
	if len(c.Parameters) != len(pt.BodyParameters) {
		return wagate.Errorf(wagate.EINVALID, `field "cloudapi.parameters" lists %d variables, but template %q (%s) has %d body parameters (%s); list one variable per parameter, in order`, len(c.Parameters), c.Name, c.Language, len(pt.BodyParameters), describeNames(pt.BodyParameters))
	}
	switch strings.ToUpper(pt.HeaderFormat) {
	case "IMAGE", "VIDEO", "DOCUMENT":
	default:
		if t.FileURL != "" {
			return wagate.Errorf(wagate.EINVALID, `field "file_url": the Cloud API template %q has no media header, so it cannot carry the file; remove the file, or map a template with an image, video or document header`, c.Name)
		}
	}
	if pt.Named {
		for _, v := range c.Parameters {
			if !contains(pt.BodyParameters, v) {
				return wagate.Errorf(wagate.EINVALID, `field "cloudapi.parameters": %q is not a parameter of the named template %q (its parameters are %s); name the text's variables as the template's parameters`, v, c.Name, describeNames(pt.BodyParameters))
			}
		}
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func describeNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return quoteList(names)
}

// templateSend works out how a message rendered from t goes out from
// account: as a provider template message when t is mapped to a template
// of that account, else nil (the rendered text is sent). The parameter
// values are the variables' values, or their defaults.
func (s *Server) templateSend(ctx context.Context, t *wagate.Template, account *wagate.Account, vars map[string]string, hasFile bool) (*wagate.TemplateSend, error) {
	c := t.CloudAPI
	if c == nil || account.Transport != wagate.TransportCloudAPI || account.Phone != c.AccountPhone {
		return nil, nil
	}
	synced, err := s.svc.Templates.FindAccountTemplates(ctx, account.Ref())
	if err != nil && wagate.ErrorCode(err) != wagate.ENOTFOUND {
		return nil, err
	}
	pt := synced.Find(c.Name, c.Language)
	if pt == nil || pt.Status != wagate.ProviderTemplateApproved {
		return nil, wagate.Errorf(wagate.EINVALID, `template %q maps to the Cloud API template %q (%s), which account %s no longer has approved (as last synced); sync its templates, or fix the mapping with PATCH …/templates/%s`, t.Name, c.Name, c.Language, account.Phone, t.Name)
	}
	p, err := placeholder.Parse(t.Text)
	if err != nil {
		return nil, wagate.Errorf(wagate.EINVALID, "template %q does not parse (%s)", t.Name, err)
	}
	out := &wagate.TemplateSend{Name: c.Name, Language: c.Language, Named: pt.Named}
	for _, v := range c.Parameters {
		val := variableValue(p, vars, v)
		if strings.TrimSpace(val) == "" {
			return nil, wagate.Errorf(wagate.EINVALID, `variable %q of template %q is empty; the Cloud API template %q needs a value for each parameter: send it in "variables"`, v, t.Name, c.Name)
		}
		param := wagate.TemplateParameter{Value: val}
		if pt.Named {
			param.Name = v
		}
		out.Parameters = append(out.Parameters, param)
	}
	switch f := strings.ToUpper(pt.HeaderFormat); f {
	case "IMAGE", "VIDEO", "DOCUMENT":
		if !hasFile {
			return nil, wagate.Errorf(wagate.EINVALID, `the Cloud API template %q has a %s header; give the template a file, or send "file_url" and "file_name"`, c.Name, strings.ToLower(f))
		}
		out.HeaderMedia = strings.ToLower(f)
	default:
		if hasFile {
			return nil, wagate.Errorf(wagate.EINVALID, `the Cloud API template %q has no media header, so a message of template %q cannot carry a file; leave "file_url" out`, c.Name, t.Name)
		}
	}
	return out, nil
}

// variableValue is the value a variable takes in a render: its value, or
// its (first) default when it is empty or absent. The placeholder package
// does not hand defaults out, so they are read back by rendering with
// every other variable set to a marker no text contains.
func variableValue(p *placeholder.Template, vars map[string]string, name string) string {
	if v := vars[name]; v != "" {
		return v
	}
	if !p.HasDefault(name) {
		return ""
	}
	const marker = "\x00wagate-marker\x00"
	probe := make(map[string]string, len(p.Names()))
	for _, n := range p.Names() {
		probe[n] = marker
	}
	probe[name] = ""
	var def string
	found := false
	_, _ = p.Render(probe, func(v string) string {
		if !found && v != marker {
			def, found = v, true
		}
		return v
	})
	return def
}

// templateFromCreate builds the domain template of a create.
func (s *Server) templateFromCreate(workspaceID string, in *api.CreateTemplate) *wagate.Template {
	t := &wagate.Template{
		WorkspaceID: workspaceID,
		Name:        strings.TrimSpace(in.Name),
		Text:        in.Text,
		FileURL:     strings.TrimSpace(in.FileURL),
		FileName:    in.FileName,
	}
	if in.CloudAPI != nil {
		t.CloudAPI = cloudAPIFromWire(in.CloudAPI)
	}
	now := s.now().UTC()
	t.CreatedAt, t.UpdatedAt = now, now
	return t
}

func cloudAPIFromWire(in *api.TemplateCloudAPI) *wagate.TemplateCloudAPI {
	return &wagate.TemplateCloudAPI{
		AccountPhone: in.AccountPhone,
		Name:         strings.TrimSpace(in.Name),
		Language:     strings.TrimSpace(in.Language),
		Parameters:   append([]string(nil), in.Parameters...),
	}
}

// CreateTemplate checks and stores a new template of the workspace; past
// wagate.TemplateLimit it is a 409 naming the limit.
func (s *Server) CreateTemplate(ctx context.Context, workspaceID string, in *api.CreateTemplate) (*wagate.Template, error) {
	if s.svc.Templates == nil {
		return nil, errNoTemplates()
	}
	t := s.templateFromCreate(workspaceID, in)
	if err := s.checkTemplate(ctx, t); err != nil {
		return nil, err
	}
	if err := s.svc.Templates.CreateTemplate(ctx, t, wagate.TemplateLimit); err != nil {
		if errors.Is(err, wagate.ErrTemplateLimit) {
			return nil, wagate.Errorf(wagate.ECONFLICT, "the workspace has %d templates, the most allowed (the template limit); delete one first", wagate.TemplateLimit)
		}
		return nil, err
	}
	s.log.Info("template created", zap.String("workspace", workspaceID), zap.String("template", t.Name))
	return t, nil
}

// UpdateTemplate changes the given fields of a template and checks the
// result as a create would.
func (s *Server) UpdateTemplate(ctx context.Context, workspaceID, name string, in *api.UpdateTemplate) (*wagate.Template, error) {
	if s.svc.Templates == nil {
		return nil, errNoTemplates()
	}
	// Checked outside the write (the mapping check reads other records),
	// then written only if the stored template did not change meanwhile.
	cur, err := s.findTemplate(ctx, workspaceID, name)
	if err != nil {
		return nil, err
	}
	next := *cur
	applyUpdate(&next, in)
	next.UpdatedAt = s.now().UTC()
	if err := s.checkTemplate(ctx, &next); err != nil {
		return nil, err
	}
	t, err := s.svc.Templates.UpdateTemplate(ctx, workspaceID, name, func(t *wagate.Template) error {
		if !t.UpdatedAt.Equal(cur.UpdatedAt) {
			return wagate.Errorf(wagate.ECONFLICT, "template %q was changed by someone else meanwhile; read it again and repeat the change", name)
		}
		*t = next
		return nil
	})
	if err != nil {
		return nil, templateNotFound(err, name)
	}
	return t, nil
}

func applyUpdate(t *wagate.Template, in *api.UpdateTemplate) {
	if in.Text != nil {
		t.Text = *in.Text
	}
	if in.FileURL != nil {
		t.FileURL = strings.TrimSpace(*in.FileURL)
		if t.FileURL == "" {
			t.FileName = ""
		}
	}
	if in.FileName != nil {
		t.FileName = *in.FileName
	}
	if in.RemoveCloudAPI {
		t.CloudAPI = nil
	}
	if in.CloudAPI != nil {
		t.CloudAPI = cloudAPIFromWire(in.CloudAPI)
	}
}

func errNoTemplates() error {
	return wagate.Errorf(wagate.EUNAVAILABLE, "this server keeps no templates")
}

func (s *Server) findTemplate(ctx context.Context, workspaceID, name string) (*wagate.Template, error) {
	if s.svc.Templates == nil {
		return nil, errNoTemplates()
	}
	t, err := s.svc.Templates.FindTemplate(ctx, workspaceID, name)
	return t, templateNotFound(err, name)
}

// templateNotFound gives ENOTFOUND a message that names the template and
// how to list them.
func templateNotFound(err error, name string) error {
	if wagate.ErrorCode(err) == wagate.ENOTFOUND {
		return wagate.Errorf(wagate.ENOTFOUND, "template %q not found in this workspace; list the templates with GET …/templates", cut(name, 64))
	}
	return err
}

// PreviewTemplate renders a template with vars, as a send would, without
// sending: the text, the file and the credits.
func (s *Server) PreviewTemplate(ctx context.Context, workspaceID, name string, vars map[string]string) (*api.TemplatePreview, error) {
	t, err := s.findTemplate(ctx, workspaceID, name)
	if err != nil {
		return nil, err
	}
	text, _, err := renderText(t, vars)
	if err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(text); n > maxTextRunes {
		return nil, wagate.Errorf(wagate.EINVALID, `template %q rendered a text of %d characters; the limit is %d`, t.Name, n, maxTextRunes)
	}
	if strings.TrimSpace(text) == "" {
		text = ""
	}
	return &api.TemplatePreview{Text: text, FileURL: t.FileURL, FileName: t.FileName, Credits: quota.Cost(text, t.FileURL != "")}, nil
}

// TestTemplate sends one message rendered from a template to to (a phone
// or a JID), from accountPhone or the default account: accepted and
// charged like a call of the inbound URL, and logged among its attempts.
func (s *Server) TestTemplate(ctx context.Context, workspaceID, name, to, accountPhone string, vars map[string]string, requestID, remoteAddr string) (*wagate.Message, error) {
	if _, err := s.findTemplate(ctx, workspaceID, name); err != nil {
		return nil, err
	}
	ws, err := s.findWorkspace(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	to = strings.TrimSpace(to)
	if to == "" {
		return nil, wagate.Errorf(wagate.EINVALID, `missing field "to": the phone (e.g. "+14155552671") or JID to send the test to`)
	}
	r := &sendRequest{Action: "send", hasAction: true, Template: name, hasTemplate: true, Variables: vars, Account: strings.TrimSpace(accountPhone)}
	if strings.Contains(to, "@") {
		r.JID = to
	} else {
		r.Phone = to
	}
	body, _ := json.Marshal(map[string]any{"test": name, "to": to, "account_phone": accountPhone, "variables": vars})
	att := &wagate.Attempt{At: s.now().UTC(), RequestID: requestID, RemoteAddr: remoteAddr, ContentType: "application/json", Body: string(body)}
	a, err := s.resolve(ctx, ws, r)
	if err != nil {
		return nil, fieldRename(err)
	}
	a.Attempt = att
	res, err := s.svc.Messages.Accept(context.WithoutCancel(ctx), a)
	if err != nil {
		return nil, err
	}
	if s.svc.Waker != nil {
		s.svc.Waker.Wake(res.Message.Account())
	}
	s.log.Info("template test sent", zap.String("workspace", workspaceID), zap.String("template", name), zap.String("message_id", res.Message.ID))
	return res.Message, nil
}

// fieldRename words an inbound error for the test send's fields: its
// recipient is "to", its account "account_phone".
func fieldRename(err error) error {
	if wagate.ErrorCode(err) != wagate.EINVALID {
		return err
	}
	msg := wagate.ErrorMessage(err)
	msg = strings.ReplaceAll(msg, `field "phone"`, `field "to"`)
	msg = strings.ReplaceAll(msg, `field "jid"`, `field "to"`)
	msg = strings.ReplaceAll(msg, "whatsapp_account_phone", "account_phone")
	return wagate.Errorf(wagate.EINVALID, "%s", msg)
}

// templateName reads the :name path parameter.
func templateName(c echo.Context) string {
	n, err := url.PathUnescape(c.Param("name"))
	if err != nil {
		return c.Param("name")
	}
	return n
}

func renderTemplate(t *wagate.Template) api.Template {
	out := api.Template{Name: t.Name, Text: t.Text, FileURL: t.FileURL, FileName: t.FileName, Variables: []string{}, CreatedAt: timeJSON(t.CreatedAt), UpdatedAt: timeJSON(t.UpdatedAt)}
	if p, err := placeholder.Parse(t.Text); err == nil {
		out.Variables = append(out.Variables, p.Names()...)
	}
	if c := t.CloudAPI; c != nil {
		out.CloudAPI = &api.TemplateCloudAPI{AccountPhone: c.AccountPhone, Name: c.Name, Language: c.Language, Parameters: append([]string{}, c.Parameters...)}
	}
	return out
}

// POST /api/v1/workspaces/:ws/templates (owner).
func (s *Server) createTemplate(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in api.CreateTemplate
	if err := bindJSON(c, &in, "name", "text", "file_url", "file_name", "cloudapi"); err != nil {
		return err
	}
	t, err := s.CreateTemplate(c.Request().Context(), id, &in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, renderTemplate(t))
}

// GET /api/v1/workspaces/:ws/templates (owner, support).
func (s *Server) listTemplates(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	if s.svc.Templates == nil {
		return errNoTemplates()
	}
	list, err := s.svc.Templates.ListTemplates(c.Request().Context(), id)
	if err != nil {
		return err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return c.JSON(http.StatusOK, &api.TemplateList{Templates: renderAll(list, renderTemplate)})
}

// GET /api/v1/workspaces/:ws/templates/:name (owner, support).
func (s *Server) getTemplate(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	t, err := s.findTemplate(c.Request().Context(), id, templateName(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderTemplate(t))
}

// PATCH /api/v1/workspaces/:ws/templates/:name (owner).
func (s *Server) updateTemplate(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in api.UpdateTemplate
	if err := bindJSON(c, &in, "text", "file_url", "file_name", "cloudapi", "remove_cloudapi"); err != nil {
		return err
	}
	t, err := s.UpdateTemplate(c.Request().Context(), id, templateName(c), &in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderTemplate(t))
}

// DELETE /api/v1/workspaces/:ws/templates/:name (owner).
func (s *Server) deleteTemplate(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	if s.svc.Templates == nil {
		return errNoTemplates()
	}
	name := templateName(c)
	if err := s.svc.Templates.DeleteTemplate(c.Request().Context(), id, name); err != nil {
		return templateNotFound(err, name)
	}
	return c.NoContent(http.StatusNoContent)
}

// variablesBody is the body of a preview and the variables of a test, read
// raw so that numbers are taken as well as strings (decodeVariables).
type variablesBody struct {
	Variables json.RawMessage `json:"variables"`
}

// POST /api/v1/workspaces/:ws/templates/:name/preview (owner, support):
// a read, nothing is sent.
func (s *Server) previewTemplate(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	var in variablesBody
	if err := bindJSON(c, &in, "variables"); err != nil {
		return err
	}
	vars, err := decodeVariables(in.Variables, "variables")
	if err != nil {
		return err
	}
	out, err := s.PreviewTemplate(c.Request().Context(), id, templateName(c), vars)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// POST /api/v1/workspaces/:ws/templates/:name/test (owner): sends one
// message, charged like any other.
func (s *Server) testTemplate(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in struct {
		To           string          `json:"to"`
		AccountPhone string          `json:"account_phone"`
		Variables    json.RawMessage `json:"variables"`
	}
	if err := bindJSON(c, &in, "to", "account_phone", "variables"); err != nil {
		return err
	}
	vars, err := decodeVariables(in.Variables, "variables")
	if err != nil {
		return err
	}
	m, err := s.TestTemplate(c.Request().Context(), id, templateName(c), in.To, in.AccountPhone, vars, requestID(c), c.RealIP())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderMessage(m))
}

// PreviewText renders an unsaved template text with vars, as the console's
// live preview shows it while the text is edited: the rendered text, the
// variables the text uses, and a syntax error naming the character, a
// missing variable, or a text too long, as a save or a send would say.
func PreviewText(text string, vars map[string]string) (rendered string, names []string, err error) {
	p, err := placeholder.Parse(text)
	if err != nil {
		return "", nil, wagate.Errorf(wagate.EINVALID, `field "text": %s`, err)
	}
	names = append([]string{}, p.Names()...)
	rendered, err = p.Render(vars, nil)
	var me *placeholder.MissingError
	switch {
	case errors.As(err, &me):
		return "", names, wagate.Errorf(wagate.EINVALID, "variable %q has no value and no default: give it one to see the text", me.Name)
	case err != nil:
		return "", names, wagate.Errorf(wagate.EINVALID, "%s", err)
	}
	if n := utf8.RuneCountInString(rendered); n > maxTextRunes {
		return rendered, names, wagate.Errorf(wagate.EINVALID, "the rendered text has %d characters; the limit is %d", n, maxTextRunes)
	}
	return rendered, names, nil
}
