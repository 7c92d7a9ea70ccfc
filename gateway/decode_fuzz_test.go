package gateway

import (
	"testing"

	"github.com/wagate/wagate"
)

// FuzzDecodeSend feeds the inbound decoder arbitrary bodies: it must never
// panic, and every rejection must be a 400 that a client can read.
func FuzzDecodeSend(f *testing.F) {
	for _, seed := range []string{
		`{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14151231234","text":"lorem ipsum"}`,
		`{"action":"send","chat_id":"77234","text":"lorem ipsum","file_url":"https://example.com/logo.png","file_name":"logo.png"}`,
		`{"action":"send","chat_id":77234,"text":""}`,
		`{"phone_number":"+14155552671","Text":"x","chatId":1}`,
		`[]`, `null`, `{"action":"send",}`, "{\"text\":\"\xff\"}", `{"file_url":"http://[::1"}`,
		`{"phone":"a","phone":"b"}`, `{"x":{"a":1,"\u0061":2}}`, `{"action":"send","text":" ","file_url":"http://u:p@[::ffff:127.0.0.1]:0/"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeSend(body)
		if err == nil {
			err = validateSend(r, false)
		}
		if err == nil {
			return
		}
		err = r.withHint(err)
		if code := wagate.ErrorCode(err); code != wagate.EINVALID {
			t.Fatalf("decodeSend(%q) error code %q, want %q: %v", body, code, wagate.EINVALID, err)
		}
		if wagate.ErrorMessage(err) == "" {
			t.Fatalf("decodeSend(%q): empty message", body)
		}
	})
}

func TestSuggestField(t *testing.T) {
	for in, want := range map[string]string{
		"phone_number": "phone", "PhoneNumber": "phone", "message": "text", "body": "text",
		"account_phone": "whatsapp_account_phone", "whatsappAccountPhone": "whatsapp_account_phone",
		"chatid": "chat_id", "chat-id": "chat_id", "filename": "file_name", "fileName": "file_name",
		"url": "file_url", "file": "file_url", "actoin": "action", "txt": "text", "jdi": "",
		"to": "phone", "priority": "", "": "",
	} {
		if got := suggestField(in); got != want {
			t.Errorf("suggestField(%q) = %q, want %q", in, got, want)
		}
	}
}
