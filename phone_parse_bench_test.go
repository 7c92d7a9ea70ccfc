package wagate

import "testing"

// BenchmarkNormalizePhoneUncached measures the libphonenumber parse and
// numbering-plan check itself, which a number pays the first time it is
// seen (and again after the cache dropped it); BenchmarkNormalizePhone
// measures the cached answer that repeated numbers get.
func BenchmarkNormalizePhoneUncached(b *testing.B) {
	for _, c := range []struct {
		name, raw string
		check     PhoneCheck
		ok        bool
	}{
		{"e164/valid", "+14155552671", PhoneCheckValid, true},
		{"e164/possible", "+14155552671", PhoneCheckPossible, true},
		{"00prefix/DE", "004915112345678", PhoneCheckValid, true},
		{"invalid/US", "+14151231234", PhoneCheckValid, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := normalizePhone(c.raw, c.check)
				if (err == nil) != c.ok {
					b.Fatalf("normalizePhone(%q) = %q, %v; want ok=%v", c.raw, got, err, c.ok)
				}
			}
		})
	}
}
