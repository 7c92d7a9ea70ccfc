package wagate_test

import (
	"testing"

	"github.com/wagate/wagate"
)

func TestNationalSuggestion(t *testing.T) {
	for _, tc := range []struct {
		raw, from    string
		want, region string
	}{
		{"4155552671", "+15105566777", "+14155552671", "US"},
		{"(415) 555-2671", "+15105566777", "+14155552671", "US"},
		{"015112345678", "+4930123456", "+4915112345678", "DE"},
		{"15112345678", "+4930123456", "+4915112345678", "DE"},
		{"+4155552671", "+15105566777", "", ""},  // written as international: no guess
		{"004155552671", "+15105566777", "", ""}, // likewise
		{"4155552671", "+447911123456", "", ""},  // not a UK number
		{"1231234", "+15105566777", "", ""},      // not a US number
		{"4155552671", "not a phone", "", ""},
	} {
		got, region, ok := wagate.NationalSuggestion(tc.raw, tc.from)
		if got != tc.want || region != tc.region || ok != (tc.want != "") {
			t.Errorf("NationalSuggestion(%q, %q) = %q, %q, %v; want %q, %q", tc.raw, tc.from, got, region, ok, tc.want, tc.region)
		}
	}
}
