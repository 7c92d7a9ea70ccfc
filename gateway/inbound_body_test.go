package gateway

import (
	"bytes"
	"encoding/json"
	"testing"
)

// acceptedJSON writes the bytes echo's c.JSON writes for acceptedBody,
// for our ids and for ids JSON must escape.
func TestAcceptedJSONIsWhatEncodingJSONWrites(t *testing.T) {
	for _, id := range []string{
		"wa_backend:0193F0A1B2C3D4E5F607",
		"",
		`quote"back\slash`,
		"<script>&",
		"tab\tnewline\n",
		"ünïcode",
		"\x7f",
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(newAcceptedBody(id, nil)); err != nil {
			t.Fatal(err)
		}
		if got := acceptedJSON(id, nil); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("acceptedJSON(%q) = %s, want %s", id, got, want.Bytes())
		}
	}
	// With warnings, whatever they hold.
	for _, w := range [][]string{{`unknown field "fileurl"; did you mean "file_url"?`}, {"a", "<b>&\n"}} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(newAcceptedBody("wa_backend:0193F0A1B2C3D4E5F607", w)); err != nil {
			t.Fatal(err)
		}
		if got := acceptedJSON("wa_backend:0193F0A1B2C3D4E5F607", w); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("acceptedJSON with warnings %q = %s, want %s", w, got, want.Bytes())
		}
	}
}
