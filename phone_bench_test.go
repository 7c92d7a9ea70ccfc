package wagate_test

import (
	"testing"

	"github.com/wagate/wagate"
)

// sinkPhone keeps the compiler from optimizing the parsed value away.
var sinkPhone string

// BenchmarkNormalizePhone measures the phone check every inbound request
// with "phone" or "whatsapp_account_phone" pays. Each case repeats one
// number, so after the first call this is the cached answer (phone_cache.go)
// that a CRM's recurring numbers get; BenchmarkNormalizePhoneUncached
// measures the libphonenumber parse behind it. The inputs cover the formats
// SPEC §1 accepts and the rejection path, whose cost matters under a flood
// of bad requests.
func BenchmarkNormalizePhone(b *testing.B) {
	cases := []struct {
		name  string
		raw   string
		check wagate.PhoneCheck
		ok    bool
	}{
		{"e164/valid", "+14155552671", wagate.PhoneCheckValid, true},
		{"e164/possible", "+14155552671", wagate.PhoneCheckPossible, true},
		{"formatted/valid", " +1 (415) 555-2671 ", wagate.PhoneCheckValid, true},
		{"00prefix/DE", "004915112345678", wagate.PhoneCheckValid, true},
		{"invalid/US", "+14151231234", wagate.PhoneCheckValid, false},
		{"badchar", "+1415abc2671", wagate.PhoneCheckValid, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := wagate.NormalizePhone(c.raw, c.check)
				if (err == nil) != c.ok {
					b.Fatalf("NormalizePhone(%q) = %q, %v; want ok=%v", c.raw, got, err, c.ok)
				}
				sinkPhone = got
			}
		})
	}
}

// BenchmarkParseJID measures the "jid" recipient field, whose phone-number
// JIDs go through the same numbering-plan check.
func BenchmarkParseJID(b *testing.B) {
	for _, raw := range []string{"14155552671@s.whatsapp.net", "120363042223344556@g.us"} {
		b.Run(raw, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				j, err := wagate.ParseJID(raw, wagate.PhoneCheckValid)
				if err != nil {
					b.Fatalf("ParseJID(%q): %v", raw, err)
				}
				sinkPhone = j.User
			}
		})
	}
}
