package whatsapp

import (
	"os/exec"
	"strings"
	"testing"
)

// A wagate built with -tags nowhatsapp holds none of whatsmeow or
// libsignal (GPL-3.0): that build is what the README promises.
func TestNoWhatsmeowWithTag(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "nowhatsapp", "github.com/wagate/wagate/cmd/wagate").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "go.mau.fi/") || strings.HasPrefix(p, "modernc.org/sqlite") {
			t.Errorf("-tags nowhatsapp build depends on %s", p)
		}
	}
}
