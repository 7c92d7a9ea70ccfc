package netguard_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly keeps netguard a leaf: the gateway and the
// fetcher both import it, so it must pull in neither of them, nor anything
// outside the standard library.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(dep, "/")
		if strings.Contains(first, ".") && dep != "github.com/wagate/wagate/sender/netguard" {
			t.Errorf("netguard depends on %s", dep)
		}
	}
}
