package wagate

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// PhoneCheck is how strictly phone numbers are checked (flag --phone-check).
type PhoneCheck string

// The phone checks.
const (
	// PhoneCheckValid requires a number that is valid in its country's
	// numbering plan (libphonenumber metadata). The default.
	PhoneCheckValid PhoneCheck = "valid"
	// PhoneCheckPossible only checks the length for the country code, for
	// number ranges newer than the metadata.
	PhoneCheckPossible PhoneCheck = "possible"
)

// ParsePhoneCheck reads a --phone-check value.
func ParsePhoneCheck(s string) (PhoneCheck, error) {
	switch c := PhoneCheck(s); c {
	case PhoneCheckValid, PhoneCheckPossible:
		return c, nil
	}
	return "", fmt.Errorf("phone check %q: want %q or %q", s, PhoneCheckValid, PhoneCheckPossible)
}

// NormalizePhone reads an international phone number and returns it in
// E.164 form ("+14155552671"). Spaces, dashes, dots and parentheses are
// tolerated; "00" or no prefix at all are read as "+". No default region is
// ever assumed: a national number such as "015112345678" is rejected, since
// guessing the country would send to a stranger.
//
// The error is an *Error with code EINVALID whose message says what is wrong
// with the number but does not name the field: callers prefix it.
//
// Results are remembered in a bounded cache (phone_cache.go): libphonenumber
// is the largest CPU cost of an inbound request, and the account phone
// repeats on every one.
func NormalizePhone(raw string, check PhoneCheck) (string, error) {
	if e, ok := phoneCache.get(raw, check); ok {
		return e.result()
	}
	e164, err := normalizePhone(raw, check)
	phoneCache.put(raw, check, e164, err)
	return e164, err
}

// normalizePhone is NormalizePhone without the cache.
func normalizePhone(raw string, check PhoneCheck) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", Errorf(EINVALID, "is empty; write it in international format, e.g. +14155552671")
	}
	var digits strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", Errorf(EINVALID, "%q has a character %q that a phone number cannot have; use digits with a leading +, e.g. +14155552671", raw, r)
		}
	}
	d := digits.String()
	if !strings.HasPrefix(s, "+") {
		switch {
		case strings.HasPrefix(d, "00"):
			d = d[2:]
		case strings.HasPrefix(d, "0"):
			return "", Errorf(EINVALID, "%q looks like a national number; write it in international format with the country code, e.g. +4915112345678", raw)
		}
	}
	if len(d) < 4 || len(d) > 15 {
		return "", Errorf(EINVALID, "%q has %d digits; an international number has a country code and at most 15 digits, e.g. +14155552671", raw, len(d))
	}
	num, err := phonenumbers.Parse("+"+d, "")
	if err != nil {
		return "", Errorf(EINVALID, "%q is not an international phone number (it must start with a country code, e.g. +14155552671)", raw)
	}
	region := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
	switch check {
	case PhoneCheckPossible:
		if !phonenumbers.IsPossibleNumber(num) {
			return "", Errorf(EINVALID, "%q has the wrong length for country code +%d; check the digits", raw, num.GetCountryCode())
		}
	default:
		if !phonenumbers.IsValidNumber(num) {
			if region == "" || region == "ZZ" {
				return "", Errorf(EINVALID, "%q does not start with a known country code; write it as + country code + number, e.g. +14155552671", raw)
			}
			return "", Errorf(EINVALID, "%q is not a valid phone number in %s (country code +%d); check the digits", raw, region, num.GetCountryCode())
		}
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}
