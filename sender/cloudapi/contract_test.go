package cloudapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

// TestContractWithMetaOpenAPI checks every kind of request the transport
// makes against Meta's published OpenAPI description of the Cloud API, and
// the fake's answers against the documented response schemas. It reads the
// description WAGATE_CLOUDAPI_SPEC names (.ci/run sets it), else
// ../shared/cloudapi/business-messaging-api_v23.0.yaml from the module root;
// with neither it skips, saying so (and `make test` prints a line); with the
// variable naming a missing file it fails. (The other tests through the fake
// validate too when the description is found; this one makes sure they did,
// and that the validation can fail.)
func TestContractWithMetaOpenAPI(t *testing.T) {
	spec := graphfake.RequireSpec(t)

	// The validator is not vacuous: Meta's schema refuses these.
	for name, body := range map[string]string{
		"no recipient":          `{"messaging_product":"whatsapp","recipient_type":"individual","type":"text","text":{"body":"hi"}}`,
		"no messaging_product":  `{"recipient_type":"individual","to":"14155552671","type":"text","text":{"body":"hi"}}`,
		"image without image":   `{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"image","text":{"body":"hi"}}`,
		"media without id/link": `{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"image","image":{"caption":"c"}}`,
		"unknown text field":    `{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"text","text":{"body":"hi","html":"<b>hi</b>"}}`,
		"unknown type":          `{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"fax","fax":{"id":"1"}}`,
		"bad recipient_type":    `{"messaging_product":"whatsapp","recipient_type":"everyone","to":"14155552671","type":"text","text":{"body":"hi"}}`,
	} {
		if err := spec.Validate("Message", []byte(body)); err == nil {
			t.Errorf("%s: the Message schema accepted %s", name, body)
		}
	}

	e := newEnv(t, Config{})
	if e.fake.Spec == nil {
		t.Fatal("the fake does not validate against the spec")
	}
	files := []*wagate.Attachment{
		nil,
		{Name: "logo.png", ContentType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")},
		{Name: "photo.jpg", ContentType: "image/jpeg", Data: []byte("\xff\xd8\xfffake")},
		{Name: "clip.mp4", ContentType: "video/mp4", Data: []byte("....ftypisom")},
		{Name: "clip.3gp", ContentType: "video/3gpp", Data: []byte("....ftyp3gp4")},
		{Name: "voice.ogg", ContentType: "audio/ogg", Data: []byte("OggS")},
		{Name: "song.mp3", ContentType: "audio/mpeg", Data: []byte("ID3")},
		{Name: "photo.webp", ContentType: "image/webp", Data: []byte("RIFF....WEBP")},
		{Name: "invoice.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.7")},
		{Name: "notes.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("notes")},
		{Name: "report.docx", ContentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Data: []byte("PK\x03\x04")},
	}
	for _, text := range []string{"hello", strings.Repeat("long ", 300)} {
		for _, f := range files {
			if _, err := e.send(context.Background(), e.message(bob, text), f); err != nil {
				t.Errorf("%v with %d characters: %v", f, len(text), err)
			}
		}
	}
	// An error answer, to check its shape too.
	e.fake.FailNext(1, graphfake.Failure{Code: 131026, Details: "Message Undeliverable."})
	e.send(context.Background(), e.message(bob, "x"), nil)

	kinds := map[string]bool{}
	for _, r := range e.fake.Requests() {
		switch {
		case r.Invalid != "":
			t.Errorf("refused %s request: %s", r.Edge, r.Invalid)
		case r.Status != 200:
			if err := spec.Validate("GraphAPIError", r.Response); err != nil {
				t.Errorf("error answer %s: %v", r.Response, err)
			}
		case r.Edge == graphfake.EdgeMessages:
			kinds[r.Message.Type] = true
			if err := spec.Validate("MessageResponsePayload", r.Response); err != nil {
				t.Errorf("send answer %s: %v", r.Response, err)
			}
		case r.Edge == graphfake.EdgeMedia:
			var ans struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(r.Response, &ans) != nil || ans.ID == "" {
				t.Errorf("upload answer %s", r.Response)
			}
			// The documented form: file and messaging_product (and type).
			if r.File == nil || r.Form["messaging_product"] != "whatsapp" || r.Form["type"] == "" {
				t.Errorf("upload form %v, file %v", r.Form, r.File != nil)
			}
		}
	}
	for _, k := range []string{"text", "image", "video", "audio", "document"} {
		if !kinds[k] {
			t.Errorf("no %s message was sent and checked", k)
		}
	}
}
