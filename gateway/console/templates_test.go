package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestTemplatesPages: an owner makes a template, edits it, previews the
// unsaved text (the script's JSON and the plain form), sends a test and
// deletes it; support staff read and preview but change nothing.
func TestTemplatesPages(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	page := b.get(base + "templates")
	mustStatus(t, "templates page", page, http.StatusOK)
	mustContain(t, "templates page", page, `id="no-templates"`, "Make a template")

	made := b.post(base+"templates", url.Values{"csrf": {b.csrf}, "name": {"order_shipped"}, "text": {"Hi {{name}},\r\norder {{order | default \"#\"}} shipped"}})
	mustStatus(t, "create", made, http.StatusSeeOther)
	if made.location() != base+"templates/order_shipped?done=template-saved" {
		t.Fatalf("create went to %q", made.location())
	}
	page = b.get(made.location())
	mustContain(t, "template page", page, "Template order_shipped", "The template is saved", `name="var.name"`, `name="var.order"`, "Hi {{name}},\norder")
	mustContain(t, "templates list", b.get(base+"templates"), `id="template-order_shipped"`, "name, order")

	// The live preview of an unsaved text, as console.js asks for it.
	form := url.Values{"csrf": {b.csrf}, "text": {"Dear {{name}} {{zip}}"}, "var.name": {"Jane"}}
	js := b.do(http.MethodPost, base+"templates/order_shipped/preview", form, http.Header{"Origin": {e.srv.URL}, "Accept": {"application/json"}})
	mustStatus(t, "preview json", js, http.StatusOK)
	var a struct {
		Text      string   `json:"text"`
		Problem   string   `json:"problem"`
		Variables []string `json:"variables"`
	}
	if err := json.Unmarshal([]byte(js.body), &a); err != nil || a.Problem == "" || !strings.Contains(a.Problem, `variable "zip"`) || strings.Join(a.Variables, ",") != "name,zip" {
		t.Fatalf("preview json = %s (%v); want the missing zip named", js.body, err)
	}
	form.Set("var.zip", "94103")
	js = b.do(http.MethodPost, base+"templates/order_shipped/preview", form, http.Header{"Origin": {e.srv.URL}, "Accept": {"application/json"}})
	if err := json.Unmarshal([]byte(js.body), &a); err != nil || a.Text != "Dear Jane 94103" || a.Problem != "" {
		t.Fatalf("preview json = %s", js.body)
	}
	form.Set("text", "Broken {{")
	js = b.do(http.MethodPost, base+"templates/order_shipped/preview", form, http.Header{"Origin": {e.srv.URL}, "Accept": {"application/json"}})
	if err := json.Unmarshal([]byte(js.body), &a); err != nil || !strings.Contains(a.Problem, "at character 8") {
		t.Fatalf("preview of a bad text = %s", js.body)
	}
	// Without the script: the page again, with the preview.
	plain := b.post(base+"templates/order_shipped/preview", url.Values{"csrf": {b.csrf}, "text": {"Yo {{name}}"}, "var.name": {"Joe"}})
	mustStatus(t, "preview form", plain, http.StatusOK)
	mustContain(t, "preview form", plain, `<pre id="template-preview" aria-live="polite">Yo Joe</pre>`)

	saved := b.post(base+"templates/order_shipped", url.Values{"csrf": {b.csrf}, "text": {"Hello {{name}}"}, "file_url": {""}, "file_name": {""}})
	mustStatus(t, "save", saved, http.StatusSeeOther)
	bad := b.post(base+"templates/order_shipped", url.Values{"csrf": {b.csrf}, "text": {"Hello {{name"}})
	mustStatus(t, "save a bad text", bad, http.StatusBadRequest)
	mustContain(t, "save a bad text", bad, `"text": at character 7`, `is not closed`)

	sent := b.post(base+"templates/order_shipped/test", url.Values{"csrf": {b.csrf}, "to": {"+14155552671"}, "var.name": {"Jane"}})
	mustStatus(t, "test send", sent, http.StatusSeeOther)
	if !strings.Contains(sent.location(), "/messages/") {
		t.Fatalf("test send went to %q; want the message page", sent.location())
	}
	mustContain(t, "the test message", b.get(sent.location()), "Hello Jane")

	// Support staff: read and preview only.
	s := e.browser()
	s.mustSignIn(ws.Support)
	page = s.get(base + "templates/order_shipped")
	mustStatus(t, "support template page", page, http.StatusOK)
	for _, id := range []string{`id="save-template"`, `id="test-template"`, `id="delete-template"`} {
		if strings.Contains(page.body, id) {
			t.Errorf("support sees %s", id)
		}
	}
	mustStatus(t, "support preview", s.do(http.MethodPost, base+"templates/order_shipped/preview", url.Values{"csrf": {s.csrf}, "text": {"x"}}, http.Header{"Origin": {e.srv.URL}, "Accept": {"application/json"}}), http.StatusOK)
	mustStatus(t, "support save", s.post(base+"templates/order_shipped", url.Values{"csrf": {s.csrf}, "text": {"x"}}), http.StatusForbidden)
	mustStatus(t, "support delete", s.post(base+"templates/order_shipped/delete", url.Values{"csrf": {s.csrf}}), http.StatusForbidden)

	gone := b.post(base+"templates/order_shipped/delete", url.Values{"csrf": {b.csrf}})
	mustStatus(t, "delete", gone, http.StatusSeeOther)
	mustContain(t, "after delete", b.get(gone.location()), "The template is deleted", `id="no-templates"`)
	mustStatus(t, "deleted template page", b.get(base+"templates/order_shipped"), http.StatusNotFound)
}

// TestTemplatePageTakesALongText: a template of 4096 characters of a
// non-Latin script fits the console's form (URL-encoded it is 36 KiB).
func TestTemplatePageTakesALongText(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	b.get(base + "templates")
	long := strings.Repeat("ж", 4096)
	mustStatus(t, "create a long template", b.post(base+"templates", url.Values{"csrf": {b.csrf}, "name": {"long"}, "text": {long}}), http.StatusSeeOther)
	got, err := e.db.FindTemplate(t.Context(), ws.ID, "long")
	if err != nil || got.Text != long {
		t.Fatalf("stored = %v; want the whole text", err)
	}
}
