package sender_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the direction of STYLE.md and of the package doc:
// of this module, the sender imports only the domain, its own subpackages
// and the pure domain rules at the root (careful, quota). A new import of
// the module (the gateway, the store, cmd, another root package) fails here
// until it is argued for.
func TestDependencies(t *testing.T) {
	const module = "github.com/wagate/wagate"
	allowed := map[string]bool{
		module:              true,
		module + "/careful": true,
		module + "/quota":   true,
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.Contains(dep, "labstack/echo"), strings.Contains(dep, "bbolt"):
			t.Errorf("the sender depends on %s; storage and HTTP reach it through interfaces", dep)
		case dep == module+"/sender", strings.HasPrefix(dep, module+"/sender/"), allowed[dep]:
		case dep == module, strings.HasPrefix(dep, module+"/"):
			t.Errorf("the sender depends on %s; it may import only wagate, its own subpackages, careful and quota", dep)
		}
	}
}
