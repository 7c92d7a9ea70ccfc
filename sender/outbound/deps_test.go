package outbound_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the direction of STYLE.md: the deliverer speaks
// the domain's words and gets the gateway's payload renderer injected
// (Config.Payload), never by importing the gateway, the store or bbolt.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.Contains(dep, "labstack/echo"),
			strings.Contains(dep, "bbolt"),
			strings.HasPrefix(dep, "github.com/wagate/wagate/gateway"),
			strings.HasPrefix(dep, "github.com/wagate/wagate/store"),
			strings.HasPrefix(dep, "github.com/wagate/wagate/cmd"):
			t.Errorf("sender/outbound depends on %s", dep)
		}
	}
}
