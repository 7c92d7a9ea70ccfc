package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `wagate operator rotate-token`: two replicas serve one database; the
// command replaces its operator token while they run, and both refuse the
// old token and take the new one at the very next request (no replica
// caches admin tokens), while workspace tokens keep working.
func TestOperatorRotateTokenOnTwoReplicas(t *testing.T) {
	url := newPGDatabase(t)
	cfg1, cfg2 := replicaConfig(t, url, "r1"), replicaConfig(t, url, "r2")
	r1, logs1 := startPG(t, cfg1)
	r2, logs2 := startPG(t, cfg2)
	old := operatorToken(t, cfg1.DataDir)
	ws := createWorkspace(t, r1, old, 5)
	for _, r := range []*instance{r1, r2} {
		st, body := call(t, "GET", r.base+"/api/v1/workspaces", old, nil)
		mustStatus(t, "the operator token before the rotation", st, http.StatusOK, body)
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"operator", "rotate-token", "--database-url", url, "--data", cfg1.DataDir}, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("rotate-token exited %d: %s", code, errOut.String())
	}
	fresh := operatorToken(t, cfg1.DataDir)
	if fresh == old {
		t.Fatal("operator.token still holds the old token")
	}
	if n := strings.Count(out.String(), fresh); n != 1 {
		t.Errorf("the command printed the new token %d times, want once:\n%s", n, out.String())
	}
	if strings.Contains(out.String()+errOut.String(), old) {
		t.Errorf("the command printed the old token:\n%s%s", out.String(), errOut.String())
	}
	if _, err := os.Stat(filepath.Join(cfg1.DataDir, operatorTokenFile+".new")); !os.IsNotExist(err) {
		t.Errorf("the temporary token file is left behind: %v", err)
	}
	for _, r := range []*instance{r1, r2} {
		st, body := call(t, "GET", r.base+"/api/v1/workspaces", old, nil)
		mustStatus(t, "the old operator token after the rotation", st, http.StatusUnauthorized, body)
		st, body = call(t, "GET", r.base+"/api/v1/workspaces", fresh, nil)
		mustStatus(t, "the new operator token", st, http.StatusOK, body)
		st, body = call(t, "GET", r.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, nil)
		mustStatus(t, "a workspace token after the rotation", st, http.StatusOK, body)
	}

	// A restart with the old token in its file neither brings it back nor
	// rotates again.
	r2.stop()
	if err := os.WriteFile(filepath.Join(cfg2.DataDir, operatorTokenFile), []byte(old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r2, logs2b := startPG(t, cfg2)
	st, body := call(t, "GET", r2.base+"/api/v1/workspaces", old, nil)
	mustStatus(t, "the old token after a restart that holds it", st, http.StatusUnauthorized, body)
	st, body = call(t, "GET", r2.base+"/api/v1/workspaces", fresh, nil)
	mustStatus(t, "the new token after the restart", st, http.StatusOK, body)
	r1.stop()
	r2.stop()
	for _, l := range []*lockedBuffer{logs1, logs2, logs2b} {
		if strings.Contains(l.String(), fresh) || strings.Contains(l.String(), old) {
			t.Errorf("a replica's log shows an operator token")
		}
	}
}

func TestOperatorRotateTokenUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: wagate operator rotate-token"},
		{[]string{"rotate"}, 2, "usage: wagate operator rotate-token"},
		{[]string{"rotate-token"}, 2, "--database-url is required"},
		{[]string{"rotate-token", "--database-url", "mysql://x/y"}, 2, "--database-url: not a valid postgres://"},
		{[]string{"rotate-token", "--database-url", "postgres://u:pw@127.0.0.1:1/db?connect_timeout=5"}, 1, "127.0.0.1:1/db"},
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"operator"}, c.args...), &out, &errOut, func(string) string { return "" })
		if code != c.code || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("wagate operator %v: exit %d, %q; want %d and %q", c.args, code, errOut.String(), c.code, c.want)
		}
		if strings.Contains(errOut.String(), ":pw@") {
			t.Errorf("wagate operator %v shows the URL's password: %s", c.args, errOut.String())
		}
	}
}
