package cloudapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

const testWABA = "102290129340398"

// newTemplateEnv is newEnv with a WABA whose templates are ts.
func newTemplateEnv(t *testing.T, ts ...graphfake.Template) *env {
	t.Helper()
	e := newEnv(t, Config{})
	e.fake.WABAID = testWABA // before any request
	e.fake.SetTemplates(ts)
	e.acct.Settings[SettingWABAID] = testWABA
	return e
}

// TestFetchTemplates reads every page of the WABA's templates: status,
// named or positional parameters in order, the header's format.
func TestFetchTemplates(t *testing.T) {
	var ts []graphfake.Template
	for i := range 120 {
		ts = append(ts, graphfake.Template{Name: fmt.Sprintf("t%03d", i), Language: "en_US", Body: "Hi {{1}}, {{2}} and {{1}}"})
	}
	ts = append(ts,
		graphfake.Template{Name: "order_shipped", Language: "en_US", ParameterFormat: "NAMED", Body: "Hi {{name}}, order {{order_id}} shipped", HeaderFormat: "IMAGE"},
		graphfake.Template{Name: "promo", Language: "de", Status: "REJECTED", Body: "Hallo"},
	)
	e := newTemplateEnv(t, ts...)
	got, err := e.tr.FetchTemplates(context.Background(), e.acct.Settings)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 122 {
		t.Fatalf("got %d templates, want 122 (two pages)", len(got))
	}
	if p := got[0]; p.Named || strings.Join(p.BodyParameters, ",") != "1,2" || p.Status != "APPROVED" || p.Category != "UTILITY" {
		t.Errorf("positional = %+v", p)
	}
	if p := got[120]; !p.Named || strings.Join(p.BodyParameters, ",") != "name,order_id" || p.HeaderFormat != "IMAGE" {
		t.Errorf("named = %+v", p)
	}
	if p := got[121]; p.Status != "REJECTED" || p.Language != "de" {
		t.Errorf("rejected = %+v", p)
	}
	for _, r := range e.fake.Requests() {
		if r.Edge != graphfake.EdgeTemplates || !r.Authorized {
			t.Errorf("request %+v; want authorized template lists only", r.Edge)
		}
	}

	delete(e.acct.Settings, SettingWABAID)
	_, err = e.tr.FetchTemplates(context.Background(), e.acct.Settings)
	if !errors.Is(err, ErrNoWABA) || !strings.Contains(err.Error(), "waba_id") {
		t.Errorf("without waba_id: %v", err)
	}
	other := graphfake.Start(t, graphfake.Options{Token: secretToken, WABAID: testWABA})
	settings := other.Settings()
	settings[SettingWABAID] = "999"
	_, err = New(Config{BaseURLs: []string{other.URL}}).FetchTemplates(context.Background(), settings)
	if wagate.ErrorCode(err) != wagate.EINVALID || strings.Contains(err.Error(), secretToken) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown WABA: %v; want EINVALID with Meta's reason, without the token", err)
	}
	e.fake.Close()
	e.acct.Settings[SettingWABAID] = testWABA
	if _, err = e.tr.FetchTemplates(context.Background(), e.acct.Settings); wagate.ErrorCode(err) != wagate.EUNAVAILABLE {
		t.Errorf("fake down: %v; want EUNAVAILABLE", err)
	}
}

// TestSendTemplate: a message with a TemplateSend goes as a template
// message, checked by the fake against Meta's Message schema (when found)
// and the template: positional, named, and with an image header.
func TestSendTemplate(t *testing.T) {
	e := newTemplateEnv(t,
		graphfake.Template{Name: "order_shipped", Language: "en_US", Body: "Hi {{1}}, order {{2}} shipped"},
		graphfake.Template{Name: "named", Language: "en_US", ParameterFormat: "NAMED", Body: "Hi {{name}}"},
		graphfake.Template{Name: "with_photo", Language: "en_US", Body: "Look {{1}}", HeaderFormat: "IMAGE"},
	)
	m := e.message(bob, "Hi Jane, order 1042 shipped")
	m.Template = &wagate.TemplateSend{Name: "order_shipped", Language: "en_US", Parameters: []wagate.TemplateParameter{{Value: "Jane"}, {Value: "1042"}}}
	if _, err := e.send(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	m = e.message(bob, "Hi Jane")
	m.Template = &wagate.TemplateSend{Name: "named", Language: "en_US", Named: true, Parameters: []wagate.TemplateParameter{{Name: "name", Value: "Jane"}}}
	if _, err := e.send(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	m = e.message(bob, "Look here")
	m.Template = &wagate.TemplateSend{Name: "with_photo", Language: "en_US", Parameters: []wagate.TemplateParameter{{Value: "here"}}, HeaderMedia: "image"}
	res, err := e.tr.Send(context.Background(), e.acct, m, &wagate.Attachment{Name: "p.png", ContentType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderID == "" || res.PostedAt.IsZero() {
		t.Errorf("result = %+v; want the wamid and when the message request went out", res)
	}
	sends := e.fake.Messages()
	if len(sends) != 3 {
		t.Fatalf("%d sends, want 3", len(sends))
	}
	for _, s := range sends {
		if s.Message.Type != "template" || s.Message.Template == nil || s.Message.Text != nil {
			t.Errorf("send %s; want a template message without text", s.Body)
		}
	}
	if c := sends[1].Message.Template.Components; len(c) != 1 || c[0].Parameters[0].ParameterName != "name" {
		t.Errorf("named send %s", sends[1].Body)
	}
	if c := sends[2].Message.Template.Components; len(c) != 2 || c[0].Type != "header" || c[0].Parameters[0].Image == nil {
		t.Errorf("header send %s", sends[2].Body)
	}
	// The schema check is not vacuous for template messages.
	if e.fake.Spec != nil {
		for _, bad := range []string{
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"template","template":{"language":{"policy":"deterministic","code":"en_US"}}}`,
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"template","template":{"name":"x","language":{"code":"en_US"}}}`,
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"template","template":{"name":"x","language":{"policy":"deterministic","code":"en_US"},"components":[{"type":"footer"}]}}`,
		} {
			if err := e.fake.Spec.Validate("Message", []byte(bad)); err == nil {
				t.Errorf("the Message schema accepted %s", bad)
			}
		}
	}
	if len(e.fake.Uploads()) != 1 {
		t.Errorf("uploads = %d, want the header's file", len(e.fake.Uploads()))
	}
}

// TestFakeRefusesWrongTemplateSends: the fake holds template sends to
// Meta's rules, so a transport that breaks them is caught.
func TestFakeRefusesWrongTemplateSends(t *testing.T) {
	fake := graphfake.Start(t, graphfake.Options{WABAID: testWABA, Templates: []graphfake.Template{
		{Name: "pos", Language: "en_US", Body: "{{1}} {{2}}"},
		{Name: "named", Language: "en_US", ParameterFormat: "NAMED", Body: "{{name}}"},
		{Name: "pending", Language: "en_US", Status: "PENDING", Body: "x"},
	}})
	tr := New(Config{BaseURLs: []string{fake.URL}, RecipientGap: -1})
	acct := &wagate.Account{Phone: "+15550783881", Settings: fake.Settings()}
	for _, tc := range []struct {
		ts   wagate.TemplateSend
		want string
	}{
		{wagate.TemplateSend{Name: "nope", Language: "en_US"}, "does not exist"},
		{wagate.TemplateSend{Name: "pos", Language: "de"}, "does not exist"},
		{wagate.TemplateSend{Name: "pending", Language: "en_US"}, "not APPROVED"},
		{wagate.TemplateSend{Name: "pos", Language: "en_US", Parameters: []wagate.TemplateParameter{{Value: "a"}}}, "Number of parameters"},
		{wagate.TemplateSend{Name: "named", Language: "en_US", Parameters: []wagate.TemplateParameter{{Value: "a"}}}, "needs parameter_name"},
		{wagate.TemplateSend{Name: "named", Language: "en_US", Named: true, Parameters: []wagate.TemplateParameter{{Name: "other", Value: "a"}}}, `"other" is not a parameter`},
	} {
		ts := tc.ts
		_, err := tr.Send(context.Background(), acct, &wagate.Message{ID: "wa_backend:00000000000000000001", JID: bob, Text: "x", Template: &ts}, nil)
		if err == nil {
			t.Errorf("%+v was sent", tc.ts)
			continue
		}
		inv := fake.Invalid()
		if len(inv) == 0 || !strings.Contains(inv[len(inv)-1].Invalid, tc.want) {
			t.Errorf("%+v: refusal %v; want %q", tc.ts, inv, tc.want)
		}
	}
}
