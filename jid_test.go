package wagate_test

import (
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

func TestParseJID(t *testing.T) {
	tests := []struct {
		raw   string
		want  string
		group bool
		msg   string
	}{
		{raw: "14155552671@s.whatsapp.net", want: "14155552671@s.whatsapp.net"},
		{raw: "14155552671@c.us", want: "14155552671@s.whatsapp.net"},
		{raw: "14155552671@S.WhatsApp.Net", want: "14155552671@s.whatsapp.net"},
		{raw: "120363025246125486@g.us", want: "120363025246125486@g.us", group: true},
		{raw: "14155552671-1600000000@g.us", want: "14155552671-1600000000@g.us", group: true},
		{raw: "123456789012345@lid", want: "123456789012345@lid"},
		{raw: "14151231234@s.whatsapp.net", msg: "not a valid phone number"},
		{raw: "+14155552671@s.whatsapp.net", msg: "digits with the country code"},
		{raw: "14155552671", msg: "is not a JID"},
		{raw: "@g.us", msg: "is not a JID"},
		{raw: "abc@g.us", msg: "group JID is digits"},
		{raw: "12-ab@g.us", msg: "group JID is digits"},
		{raw: "abc@lid", msg: "@lid JID is digits"},
		{raw: "14155552671@broadcast", msg: `server "broadcast"`},
	}
	for _, tt := range tests {
		j, err := wagate.ParseJID(tt.raw, wagate.PhoneCheckValid)
		if tt.want != "" {
			if err != nil || j.String() != tt.want || j.IsGroup() != tt.group {
				t.Errorf("ParseJID(%q) = %q (group %v), %v; want %q (group %v)", tt.raw, j, j.IsGroup(), err, tt.want, tt.group)
			}
			continue
		}
		if err == nil || wagate.ErrorCode(err) != wagate.EINVALID || !strings.Contains(wagate.ErrorMessage(err), tt.msg) {
			t.Errorf("ParseJID(%q) = %q, %v; want EINVALID containing %q", tt.raw, j, err, tt.msg)
		}
	}
}

func TestPhoneJID(t *testing.T) {
	if got := wagate.PhoneJID("+14155552671").String(); got != "14155552671@s.whatsapp.net" {
		t.Errorf("PhoneJID = %q", got)
	}
}

// FuzzParseJID checks that a parsed JID parses again to itself.
func FuzzParseJID(f *testing.F) {
	for _, s := range []string{"14155552671@s.whatsapp.net", "14155552671@c.us", "120363025246125486@g.us", "1-2@g.us", "5@lid", "x@y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		j, err := wagate.ParseJID(raw, wagate.PhoneCheckValid)
		if err != nil {
			if wagate.ErrorCode(err) != wagate.EINVALID {
				t.Fatalf("ParseJID(%q) error code %q", raw, wagate.ErrorCode(err))
			}
			return
		}
		again, err := wagate.ParseJID(j.String(), wagate.PhoneCheckValid)
		if err != nil || again != j {
			t.Fatalf("ParseJID(%q) = %v, %v; want %v", j, again, err, j)
		}
	})
}
