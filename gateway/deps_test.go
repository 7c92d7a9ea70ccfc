package gateway_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection keeps the gateway on the domain interfaces: it
// must never import the bbolt store (STYLE: dependency direction).
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/wagate/wagate/store" || strings.HasPrefix(dep, "go.etcd.io/bbolt") {
			t.Errorf("gateway depends on %s", dep)
		}
	}
}
