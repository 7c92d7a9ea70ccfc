package wagate

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NationalSuggestion helps with a phone number written without its
// country code. raw was rejected by NormalizePhone; fromPhone is the E.164
// number of the account that would send. When raw has no "+" or "00"
// prefix and its digits are a valid national number of fromPhone's country
// (e.g. "4155552671" from a US account), it returns that number in E.164
// form ("+14155552671") and the country (region code "US").
//
// The result is only ever shown in an error message: SPEC §1 reads digits
// without "+" as international and never assumes a region, since guessing
// the country would send to a stranger. The client confirms by sending the
// suggested form.
func NationalSuggestion(raw, fromPhone string) (e164, region string, ok bool) {
	s := strings.TrimSpace(raw)
	if s == "" || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "00") {
		return "", "", false
	}
	from, err := phonenumbers.Parse(fromPhone, "")
	if err != nil {
		return "", "", false
	}
	region = phonenumbers.GetRegionCodeForNumber(from)
	if region == "" || region == "ZZ" {
		return "", "", false
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumberForRegion(num, region) {
		return "", "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), region, true
}
