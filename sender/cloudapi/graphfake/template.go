package graphfake

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The template list and the checks of a template send that the schema
// cannot make: the template exists in that language and is approved, the
// body parameters are as many as the template's (and named as its
// parameters when its parameter_format is NAMED), and a media header
// carries an uploaded file of its type.

// reTemplateParam finds a template body's parameters, {{1}} or {{name}}.
var reTemplateParam = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

func (t Template) params() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range reTemplateParam.FindAllStringSubmatch(t.Body, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

func (t Template) status() string {
	if t.Status == "" {
		return "APPROVED"
	}
	return t.Status
}

// templatePage answers GET message_templates: limit (default 25) templates
// after the cursor "after", with paging.next while there are more.
func (s *Server) templatePage(q url.Values) map[string]any {
	all := s.templates()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 25
	}
	from, _ := strconv.Atoi(q.Get("after"))
	from = min(max(from, 0), len(all))
	to := min(from+limit, len(all))
	data := make([]map[string]any, 0, to-from)
	for _, t := range all[from:to] {
		comps := []map[string]any{{"type": "BODY", "text": t.Body}}
		if t.HeaderFormat != "" {
			comps = append([]map[string]any{{"type": "HEADER", "format": t.HeaderFormat}}, comps...)
		}
		category := t.Category
		if category == "" {
			category = "UTILITY"
		}
		format := t.ParameterFormat
		if format == "" {
			format = "POSITIONAL"
		}
		data = append(data, map[string]any{
			"id": strconv.Itoa(1000 + from), "name": t.Name, "language": t.Language, "status": t.status(),
			"category": category, "parameter_format": format, "components": comps,
		})
	}
	paging := map[string]any{"cursors": map[string]string{"before": strconv.Itoa(from), "after": strconv.Itoa(to)}}
	if to < len(all) {
		// Meta's next is a full URL; the transport must not follow it
		// blindly (it carries the token to whatever host it names).
		paging["next"] = "https://graph.facebook.com/" + DefaultVersion + "/" + s.WABAID + "/message_templates?after=" + strconv.Itoa(to)
	}
	return map[string]any{"data": data, "paging": paging}
}

// checkTemplateSend checks a template message against the fake's templates.
func (s *Server) checkTemplateSend(m *Message) string {
	mt := m.Template
	if mt == nil {
		return `type "template" needs its "template" object`
	}
	var tmpl *Template
	for _, t := range s.templates() {
		if t.Name == mt.Name && t.Language == mt.Language.Code {
			tmpl = &t
			break
		}
	}
	switch {
	case tmpl == nil:
		return fmt.Sprintf("(#132001) Template name does not exist in the translation: %q in %q", mt.Name, mt.Language.Code)
	case tmpl.status() != "APPROVED":
		return fmt.Sprintf("template %q is %s, not APPROVED", mt.Name, tmpl.status())
	case mt.Language.Policy != "deterministic":
		return fmt.Sprintf("language.policy must be \"deterministic\", got %q", mt.Language.Policy)
	}
	want := tmpl.params()
	var body []string
	header := false
	for _, c := range mt.Components {
		switch c.Type {
		case "body":
			for _, p := range c.Parameters {
				if p.Type != "text" {
					return fmt.Sprintf("body parameter of type %q; wagate sends text parameters", p.Type)
				}
				if tmpl.ParameterFormat == "NAMED" {
					if p.ParameterName == "" {
						return "(#132012) Parameter format does not match format in the created template: a NAMED template needs parameter_name"
					}
					body = append(body, p.ParameterName)
				} else {
					if p.ParameterName != "" {
						return "(#132012) Parameter format does not match format in the created template: a POSITIONAL template takes no parameter_name"
					}
					body = append(body, strconv.Itoa(len(body)+1))
				}
				if strings.TrimSpace(p.Text) == "" {
					return "(#131008) a body parameter's text is empty"
				}
			}
		case "header":
			header = true
			if len(c.Parameters) != 1 {
				return "a header component takes one parameter"
			}
			p := c.Parameters[0]
			var md *Media
			switch p.Type {
			case "image":
				md = p.Image
			case "video":
				md = p.Video
			case "document":
				md = p.Document
			}
			if md == nil || !strings.EqualFold(p.Type, tmpl.HeaderFormat) {
				return fmt.Sprintf("header parameter of type %q does not fit the template's %s header", p.Type, tmpl.HeaderFormat)
			}
			if _, ok := s.mediaType(md.ID); !ok {
				return fmt.Sprintf("header media id %q was not uploaded to this phone number", md.ID)
			}
		default:
			return fmt.Sprintf("component type %q is not sent by wagate", c.Type)
		}
	}
	if len(body) != len(want) {
		return fmt.Sprintf("(#132000) Number of parameters does not match the expected number of params: got %d, template %q has %d", len(body), mt.Name, len(want))
	}
	if tmpl.ParameterFormat == "NAMED" {
		for _, n := range body {
			found := false
			for _, w := range want {
				found = found || w == n
			}
			if !found {
				return fmt.Sprintf("parameter_name %q is not a parameter of template %q", n, mt.Name)
			}
		}
	}
	switch strings.ToUpper(tmpl.HeaderFormat) {
	case "IMAGE", "VIDEO", "DOCUMENT":
		if !header {
			return fmt.Sprintf("template %q has a %s header: the send needs its header parameter", mt.Name, tmpl.HeaderFormat)
		}
	}
	return ""
}

// CustomerWebhook returns the body Meta posts when the customer from (a
// wa_id) writes text to the business number phoneNumberID at at, in
// Meta's format (field "messages", value.contacts and value.messages).
func CustomerWebhook(phoneNumberID, from string, at time.Time, text string) []byte {
	body, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []map[string]any{{
			"id": "102290129340398",
			"changes": []map[string]any{{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]string{"display_phone_number": "15550783881", "phone_number_id": phoneNumberID},
					"contacts":          []map[string]any{{"profile": map[string]string{"name": "Customer"}, "wa_id": from}},
					"messages": []map[string]any{{
						"from": from, "id": "wamid.in" + strconv.FormatInt(at.Unix(), 10), "timestamp": strconv.FormatInt(at.Unix(), 10),
						"type": "text", "text": map[string]string{"body": text},
					}},
				},
			}},
		}},
	})
	return body
}
