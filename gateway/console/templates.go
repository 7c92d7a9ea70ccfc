package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/gateway/api"
)

// The templates pages (SPEC §11): the list with a form to make one, and
// one template's page with its editor, a live preview and a test send.
// Everyone of the workspace reads and previews; owners save, delete and
// send tests, through the gateway's use cases, so the checks are the
// admin API's. The preview renders the text being edited (not yet saved):
// without JavaScript the Preview button draws the page again with it;
// with it (console.js) the preview follows the typing.

// varPrefix names a variable's form field: var.name.
const varPrefix = "var."

type templatesPage struct {
	Templates []*wagate.Template
}

type templatePage struct {
	Template  *wagate.Template
	Text      string // the text in the editor (saved, or being edited)
	Variables []templateVar
	Preview   string
	Problem   string // why there is no preview
	Previewed bool
}

type templateVar struct {
	Name, Value string
}

// GET /ui/w/{ws}/templates (everyone of the workspace)
func (c *Console) templates(w http.ResponseWriter, r *http.Request, q *request) {
	if c.svc.Templates == nil {
		c.fail(w, r, q, wagate.Errorf(wagate.EUNAVAILABLE, "this server keeps no templates"))
		return
	}
	list, err := c.svc.Templates.ListTemplates(r.Context(), q.ws.ID)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	v := c.view(q, "Templates", "templates")
	v.Flash = flashes[r.URL.Query().Get("done")]
	v.Data = templatesPage{Templates: list}
	c.render(w, http.StatusOK, "templates", v)
}

// POST /ui/w/{ws}/templates (owner)
func (c *Console) createTemplate(w http.ResponseWriter, r *http.Request, q *request) {
	t, err := c.gw.CreateTemplate(r.Context(), q.ws.ID, &api.CreateTemplate{
		Name: strings.TrimSpace(r.PostForm.Get("name")), Text: formText(r), FileURL: r.PostForm.Get("file_url"), FileName: r.PostForm.Get("file_name"),
	})
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: template created", zap.String("workspace", q.ws.ID), zap.String("template", t.Name), zap.String("role", string(q.sess.role)))
	http.Redirect(w, r, templatePath(q.ws.ID, t.Name)+"?done=template-saved", http.StatusSeeOther)
}

// formText is the form's text with the browser's CRLF line ends made \n.
func formText(r *http.Request) string {
	return strings.ReplaceAll(r.PostForm.Get("text"), "\r\n", "\n")
}

func templatePath(workspaceID, name string) string {
	return workspacePath(workspaceID) + "templates/" + url.PathEscape(name)
}

// GET /ui/w/{ws}/templates/{name} (everyone of the workspace)
func (c *Console) template(w http.ResponseWriter, r *http.Request, q *request) {
	t, ok := c.findTemplate(w, r, q)
	if !ok {
		return
	}
	p := &templatePage{Template: t, Text: t.Text}
	_, names, _ := gateway.PreviewText(t.Text, nil)
	for _, n := range names {
		p.Variables = append(p.Variables, templateVar{Name: n})
	}
	c.renderTemplate(w, r, q, p, r.URL.Query().Get("done"))
}

func (c *Console) findTemplate(w http.ResponseWriter, r *http.Request, q *request) (*wagate.Template, bool) {
	if c.svc.Templates == nil {
		c.fail(w, r, q, wagate.Errorf(wagate.EUNAVAILABLE, "this server keeps no templates"))
		return nil, false
	}
	name := r.PathValue("name")
	t, err := c.svc.Templates.FindTemplate(r.Context(), q.ws.ID, name)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			err = wagate.Errorf(wagate.ENOTFOUND, "template %q not found in this workspace", cut(name, 64))
		}
		c.fail(w, r, q, err)
		return nil, false
	}
	return t, true
}

func (c *Console) renderTemplate(w http.ResponseWriter, _ *http.Request, q *request, p *templatePage, done string) {
	v := c.view(q, "Template "+p.Template.Name, "templates")
	v.Flash = flashes[done]
	v.Data = p
	c.render(w, http.StatusOK, "template", v)
}

// formVars reads the var.* fields of a form.
func formVars(r *http.Request) map[string]string {
	vars := map[string]string{}
	for k, vs := range r.PostForm {
		if name, ok := strings.CutPrefix(k, varPrefix); ok && len(vs) > 0 {
			vars[name] = vs[0]
		}
	}
	return vars
}

// previewAnswer is the JSON of a live preview.
type previewAnswer struct {
	Text      string   `json:"text"`
	Problem   string   `json:"problem"`
	Variables []string `json:"variables"`
}

// POST /ui/w/{ws}/templates/{name}/preview (everyone of the workspace): the
// text being edited, rendered with the variables of the form. console.js
// asks for JSON; a plain form post gets the page again.
func (c *Console) previewTemplate(w http.ResponseWriter, r *http.Request, q *request) {
	t, ok := c.findTemplate(w, r, q)
	if !ok {
		return
	}
	text, vars := formText(r), formVars(r)
	rendered, names, err := gateway.PreviewText(text, vars)
	problem := ""
	if err != nil {
		problem = wagate.ErrorMessage(err)
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(previewAnswer{Text: rendered, Problem: problem, Variables: append([]string{}, names...)}) //nolint:errcheck // the client went away
		return
	}
	p := &templatePage{Template: t, Text: text, Preview: rendered, Problem: problem, Previewed: true}
	for _, n := range names {
		p.Variables = append(p.Variables, templateVar{Name: n, Value: vars[n]})
	}
	c.renderTemplate(w, r, q, p, "")
}

// POST /ui/w/{ws}/templates/{name} (owner): save the text and the file.
func (c *Console) saveTemplate(w http.ResponseWriter, r *http.Request, q *request) {
	name := r.PathValue("name")
	text, fileURL, fileName := formText(r), r.PostForm.Get("file_url"), r.PostForm.Get("file_name")
	if _, err := c.gw.UpdateTemplate(r.Context(), q.ws.ID, name, &api.UpdateTemplate{Text: &text, FileURL: &fileURL, FileName: &fileName}); err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: template saved", zap.String("workspace", q.ws.ID), zap.String("template", name), zap.String("role", string(q.sess.role)))
	http.Redirect(w, r, templatePath(q.ws.ID, name)+"?done=template-saved", http.StatusSeeOther)
}

// POST /ui/w/{ws}/templates/{name}/delete (owner)
func (c *Console) deleteTemplate(w http.ResponseWriter, r *http.Request, q *request) {
	name := r.PathValue("name")
	if err := c.svc.Templates.DeleteTemplate(r.Context(), q.ws.ID, name); err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			err = wagate.Errorf(wagate.ENOTFOUND, "template %q not found in this workspace; it may have been deleted already", cut(name, 64))
		}
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: template deleted", zap.String("workspace", q.ws.ID), zap.String("template", name), zap.String("role", string(q.sess.role)))
	http.Redirect(w, r, workspacePath(q.ws.ID)+"templates?done=template-deleted", http.StatusSeeOther)
}

// POST /ui/w/{ws}/templates/{name}/test (owner): sends one message of the
// saved template, charged like any other, and shows it.
func (c *Console) testTemplate(w http.ResponseWriter, r *http.Request, q *request) {
	name := r.PathValue("name")
	m, err := c.gw.TestTemplate(r.Context(), q.ws.ID, name, r.PostForm.Get("to"), r.PostForm.Get("account_phone"), formVars(r), "", "console")
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: template test sent", zap.String("workspace", q.ws.ID), zap.String("template", name), zap.String("message_id", m.ID))
	http.Redirect(w, r, messagePath(q.ws.ID, m.ID), http.StatusSeeOther)
}

func init() {
	// Kept beside the pages they belong to, so the shared tables of
	// pages.go and view.go need no edit for them.
	flashes["template-saved"] = "The template is saved. Send it with \"template\" and \"variables\" on the inbound URL."
	flashes["template-deleted"] = "The template is deleted. Requests that name it now get a 400."
	pageNames = append(pageNames, "templates", "template")
}
