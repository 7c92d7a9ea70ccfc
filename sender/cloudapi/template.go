package cloudapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// Template messages (SPEC §8): a message rendered from a workspace template
// mapped to an approved template of the account goes out as
// {"type":"template","template":{…}}, which WhatsApp delivers outside the
// 24-hour customer service window too. The account's templates are read
// from GET /{waba_id}/message_templates.

// templateBody is the "template" object of a template message.
type templateBody struct {
	Name       string              `json:"name"`
	Language   templateLanguage    `json:"language"`
	Components []templateComponent `json:"components,omitempty"`
}

type templateLanguage struct {
	Policy string `json:"policy"`
	Code   string `json:"code"`
}

type templateComponent struct {
	Type       string              `json:"type"`
	Parameters []templateParameter `json:"parameters"`
}

type templateParameter struct {
	Type          string    `json:"type"`
	ParameterName string    `json:"parameter_name,omitempty"`
	Text          string    `json:"text,omitempty"`
	Image         *mediaRef `json:"image,omitempty"`
	Video         *mediaRef `json:"video,omitempty"`
	Document      *mediaRef `json:"document,omitempty"`
}

// buildTemplate is the template object of m; mediaID is the uploaded file
// of its media header ("" when it has none).
func buildTemplate(ts *wagate.TemplateSend, mediaID, fileName string) *templateBody {
	out := &templateBody{Name: ts.Name, Language: templateLanguage{Policy: "deterministic", Code: ts.Language}}
	if ts.HeaderMedia != "" && mediaID != "" {
		p := templateParameter{Type: ts.HeaderMedia}
		ref := &mediaRef{ID: mediaID}
		switch ts.HeaderMedia {
		case kindImage:
			p.Image = ref
		case kindVideo:
			p.Video = ref
		default:
			p.Type = kindDocument
			ref.Filename = documentName(fileName)
			p.Document = ref
		}
		out.Components = append(out.Components, templateComponent{Type: "header", Parameters: []templateParameter{p}})
	}
	if len(ts.Parameters) > 0 {
		body := templateComponent{Type: "body"}
		for _, p := range ts.Parameters {
			body.Parameters = append(body.Parameters, templateParameter{Type: "text", ParameterName: p.Name, Text: p.Value})
		}
		out.Components = append(out.Components, body)
	}
	return out
}

// sendTemplate sends m as a template message: the header's file uploaded
// first when the template has a media header, then one message. The
// rendered text is not sent: the template's own words go, with the
// parameters. *posted is set when the message request goes out.
func (t *Transport) sendTemplate(ctx context.Context, s settings, m *wagate.Message, to string, file *wagate.Attachment, posted *time.Time) (string, error) {
	log := t.log.With(zap.String("message_id", m.ID), zap.String("phone_number_id", s.phoneNumberID))
	key := pairKey{phoneNumberID: s.phoneNumberID, to: to}
	ts := m.Template
	pr := t.progressOf(m.ID, s.phoneNumberID)
	if ts.HeaderMedia != "" {
		if file == nil || len(file.Data) == 0 {
			return "", sender.Permanent(wagate.Errorf(wagate.EINVALID, "cloudapi: template %q has a %s header but the message has no file; give the template or the request a file", ts.Name, ts.HeaderMedia))
		}
		if pr.mediaID == "" {
			id, err := t.upload(ctx, s, log, mimeTypeOf(file.ContentType), file)
			if err != nil {
				return "", err
			}
			pr.mediaID = id
			t.remember(m.ID, pr)
		}
	}
	if err := t.awaitTurn(ctx, log, key, 1); err != nil {
		return "", err
	}
	name := ""
	if file != nil {
		name = file.Name
	}
	out := outMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, Type: "template", Template: buildTemplate(ts, pr.mediaID, name)}
	id, err := t.message(ctx, s, log, key, &out, posted)
	if err != nil {
		if sender.IsPermanent(err) {
			t.forget(m.ID)
		}
		return "", err
	}
	t.forget(m.ID)
	return id, nil
}

// maxTemplatePages bounds a sync: 100 templates a page, far beyond the
// 250 (or, for verified businesses, a few thousand) Meta allows per WABA.
const maxTemplatePages = 50

// templatePage is one page of GET /{waba_id}/message_templates.
type templatePage struct {
	Data []struct {
		Name            string `json:"name"`
		Language        string `json:"language"`
		Status          string `json:"status"`
		Category        string `json:"category"`
		ParameterFormat string `json:"parameter_format"`
		Components      []struct {
			Type   string `json:"type"`
			Format string `json:"format"`
			Text   string `json:"text"`
		} `json:"components"`
	} `json:"data"`
	Paging struct {
		Cursors struct {
			After string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next"`
	} `json:"paging"`
}

// ErrNoWABA is wrapped by the error of a template sync of an account
// without the waba_id setting.
var ErrNoWABA = wagate.ErrNoProviderTemplates

// FetchTemplates reads every message template of the account's WhatsApp
// Business Account (its waba_id setting), following the pages. The next
// page is asked for with the answer's cursor on the account's own base
// URL, never at a URL the answer names, so the token goes nowhere else.
// Errors are *wagate.Error values free of the token: EINVALID for the
// settings (wrapping ErrNoWABA when waba_id is missing) and for what Meta
// refused, EUNAVAILABLE when Meta could not be reached.
func (t *Transport) FetchTemplates(ctx context.Context, accountSettings map[string]string) ([]wagate.ProviderTemplate, error) {
	s, err := t.settings(accountSettings)
	if err != nil {
		return nil, err
	}
	if s.wabaID == "" {
		return nil, fmt.Errorf("%w: %w", wagate.Errorf(wagate.EINVALID, "cloudapi setting %s is missing: set it to the WhatsApp Business Account ID (WhatsApp Manager, API Setup) to read the account's templates", SettingWABAID), ErrNoWABA)
	}
	var out []wagate.ProviderTemplate
	after := ""
	for range maxTemplatePages {
		q := url.Values{"limit": {"100"}, "fields": {"name,language,status,category,parameter_format,components"}}
		if after != "" {
			q.Set("after", after)
		}
		var page templatePage
		if err := t.get(ctx, s, s.base+"/"+s.version+"/"+s.wabaID+"/message_templates?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		for _, d := range page.Data {
			// Meta's text, kept as every backend can store it: a NUL
			// becomes U+FFFD (wagate.StorableText), so the sync is stored
			// on PostgreSQL too; such a template cannot be named in a
			// send anyway (the gateway refuses a NUL).
			p := wagate.ProviderTemplate{Name: wagate.StorableText(d.Name), Language: wagate.StorableText(d.Language),
				Status: wagate.StorableText(d.Status), Category: wagate.StorableText(d.Category), Named: strings.EqualFold(d.ParameterFormat, "NAMED")}
			for _, c := range d.Components {
				switch strings.ToUpper(c.Type) {
				case "BODY":
					p.BodyParameters = bodyParameters(c.Text)
				case "HEADER":
					p.HeaderFormat = wagate.StorableText(strings.ToUpper(c.Format))
				}
			}
			out = append(out, p)
		}
		if page.Paging.Next == "" || page.Paging.Cursors.After == "" {
			return out, nil
		}
		after = page.Paging.Cursors.After
	}
	return out, nil
}

// reParam finds a template body's parameters: {{1}} or {{name}}.
var reParam = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// bodyParameters lists a body text's parameters in order of first use.
func bodyParameters(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range reParam.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// get makes one GET of the Graph API and decodes a success answer.
func (t *Transport) get(ctx context.Context, s settings, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("cloudapi: build the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wagate")
	resp, err := t.client.Do(req)
	if err != nil {
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err // not the URL: it is said as "the Graph API"
		}
		return wagate.Errorf(wagate.EUNAVAILABLE, "cloudapi: cannot reach the Graph API to read the templates: %s", redact(cause.Error(), s.token))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil || len(data) > maxResponse {
		return wagate.Errorf(wagate.EUNAVAILABLE, "cloudapi: the Graph API's answer with the templates (HTTP %d) could not be read", resp.StatusCode)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return wagate.Errorf(wagate.EUNAVAILABLE, "cloudapi: the Graph API's answer with the templates (HTTP %d) is not the JSON expected", resp.StatusCode)
		}
		return nil
	}
	var g graphError
	if json.Unmarshal(data, &g) == nil && g.Error != nil {
		code := wagate.EINVALID
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			code = wagate.EUNAVAILABLE
		}
		return wagate.Errorf(code, "cloudapi: the Graph API refused to list the templates (HTTP %d, code %d): %s", resp.StatusCode, g.Error.Code, redact(g.Error.Message, s.token))
	}
	return wagate.Errorf(wagate.EUNAVAILABLE, "cloudapi: the Graph API answered the template list with HTTP %d", resp.StatusCode)
}
