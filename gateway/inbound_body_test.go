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
		if err := json.NewEncoder(&want).Encode(newAcceptedBody(id)); err != nil {
			t.Fatal(err)
		}
		if got := acceptedJSON(id); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("acceptedJSON(%q) = %s, want %s", id, got, want.Bytes())
		}
	}
}
