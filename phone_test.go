package wagate_test

import (
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		raw   string
		check wagate.PhoneCheck
		want  string // "" when an error is expected
		msg   string // part of the error message
	}{
		{raw: "+14155552671", want: "+14155552671"},
		{raw: " +1 (415) 555-2671 ", want: "+14155552671"},
		{raw: "+1.415.555.2671", want: "+14155552671"},
		{raw: "14155552671", want: "+14155552671"},
		{raw: "0014155552671", want: "+14155552671"},
		{raw: "4915112345678", want: "+4915112345678"},
		{raw: "+44 20 7946 0958", want: "+442079460958"},
		{raw: "015112345678", msg: "national number"},
		{raw: "+14151231234", msg: "not a valid phone number in US"},
		{raw: "+14151231234", check: wagate.PhoneCheckPossible, want: "+14151231234"},
		{raw: "+1415555", check: wagate.PhoneCheckPossible, msg: "wrong length"},
		{raw: "+1415abc2671", msg: `character 'a'`},
		{raw: "", msg: "is empty"},
		{raw: "+999123456789", msg: "country code"},
		{raw: "+12", msg: "digits"},
		{raw: "+1234567890123456789", msg: "digits"},
		{raw: "1+4155552671", msg: `character '+'`},
	}
	for _, tt := range tests {
		check := tt.check
		if check == "" {
			check = wagate.PhoneCheckValid
		}
		got, err := wagate.NormalizePhone(tt.raw, check)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("NormalizePhone(%q, %s) = %q, %v; want %q", tt.raw, check, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("NormalizePhone(%q, %s) = %q; want an error containing %q", tt.raw, check, got, tt.msg)
			continue
		}
		if wagate.ErrorCode(err) != wagate.EINVALID || !strings.Contains(wagate.ErrorMessage(err), tt.msg) {
			t.Errorf("NormalizePhone(%q) error = %v; want code %s containing %q", tt.raw, err, wagate.EINVALID, tt.msg)
		}
	}
}

func TestParsePhoneCheck(t *testing.T) {
	for _, s := range []string{"valid", "possible"} {
		if c, err := wagate.ParsePhoneCheck(s); err != nil || string(c) != s {
			t.Errorf("ParsePhoneCheck(%q) = %q, %v", s, c, err)
		}
	}
	if _, err := wagate.ParsePhoneCheck("strict"); err == nil {
		t.Error(`ParsePhoneCheck("strict") accepted`)
	}
}

// FuzzNormalizePhone checks that any input either fails with EINVALID or
// yields an E.164 number that normalizes to itself.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+14155552671", "4915112345678", "0014155552671", "015112345678", "+1 (415) 555-2671", "+14151231234", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := wagate.NormalizePhone(raw, wagate.PhoneCheckValid)
		if err != nil {
			if wagate.ErrorCode(err) != wagate.EINVALID {
				t.Fatalf("NormalizePhone(%q) error code %q, want %q", raw, wagate.ErrorCode(err), wagate.EINVALID)
			}
			return
		}
		if !strings.HasPrefix(got, "+") || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q) = %q, not E.164", raw, got)
		}
		again, err := wagate.NormalizePhone(got, wagate.PhoneCheckValid)
		if err != nil || again != got {
			t.Fatalf("NormalizePhone(%q) = %q, %v; want it stable", got, again, err)
		}
	})
}
