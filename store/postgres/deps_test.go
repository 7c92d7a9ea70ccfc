package postgres

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the dependency direction of store/: the backend
// speaks the domain's words and never reaches into the HTTP layer, the
// sender or the bbolt backend.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.Contains(dep, "labstack/echo"),
			strings.Contains(dep, "go.etcd.io/bbolt"),
			dep == "github.com/wagate/wagate/store",
			strings.HasPrefix(dep, "github.com/wagate/wagate/gateway"),
			strings.HasPrefix(dep, "github.com/wagate/wagate/sender"),
			strings.HasPrefix(dep, "github.com/wagate/wagate/cmd"):
			t.Errorf("store/postgres depends on %s", dep)
		}
	}
}
