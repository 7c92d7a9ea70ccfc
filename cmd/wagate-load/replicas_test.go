package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunLoadTargets checks that a run with targets spreads its
// connections over the servers, connection i on target i mod len, each
// sending its own request, and counts every answer of both.
func TestRunLoadTargets(t *testing.T) {
	stop := make(chan struct{})
	var once sync.Once
	var total atomic.Int64
	type server struct {
		srv   *httptest.Server
		conns atomic.Int64
		paths sync.Map // path → true
	}
	servers := make([]*server, 2)
	var targets []loadTarget
	for i := range servers {
		s := &server{}
		s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			s.paths.Store(r.URL.Path, true)
			if total.Add(1) == 400 {
				once.Do(func() { close(stop) })
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status":"success","data":{"message_id":"wa_backend:3EB09FCC85FE99662E46"}}`)
		}))
		s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.conns.Add(1)
			}
		}
		s.srv.Start()
		defer s.srv.Close()
		servers[i] = s
		addr := strings.TrimPrefix(s.srv.URL, "http://")
		targets = append(targets, loadTarget{addr: addr, req: buildRequest(addr, "/inbound/"+strings.Repeat("ab"[i:i+1], 3), []byte(ingestBody))})
	}
	res, err := runLoad(t.Context(), loadSpec{conns: 6, duration: time.Minute, stop: stop, targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != total.Load() || res.Status[200] != res.Requests || res.Errors != 0 {
		t.Fatalf("requests %d (servers saw %d), statuses %v, errors %d (%v)", res.Requests, total.Load(), res.Status, res.Errors, res.FirstErr)
	}
	for i, s := range servers {
		if got := s.conns.Load(); got != 3 {
			t.Errorf("server %d: %d connections, want 3 of the 6", i, got)
		}
		want := "/inbound/" + strings.Repeat("ab"[i:i+1], 3)
		n := 0
		s.paths.Range(func(k, _ any) bool {
			n++
			if k != want {
				t.Errorf("server %d got a request for %v, want only %s", i, k, want)
			}
			return true
		})
		if n == 0 {
			t.Errorf("server %d got no request", i)
		}
	}
}

// The replicas mode starts its own PostgreSQL (the test fails, never
// skips, when it cannot) and two real wagate replicas, small: its
// correctness checks (every 200 charged, no message sent twice, none left,
// credits add up, every orphaned account taken over) must hold. No figure
// is asserted, and neither is the gap line, a timing figure.
func TestReplicasEndToEnd(t *testing.T) {
	bin := buildWagate(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "report.md")
	args := []string{"replicas", "-wagate", bin, "-duration", "200ms", "-rounds", "1", "-warmup", "100ms", "-conns", "4",
		"-accounts", "12", "-per-workspace", "5", "-queue", "6", "-interval", "300ms", "-lease-ttl", "1s", "-both", "400ms",
		"-log-level", "warn", "-dir", filepath.Join(dir, "work"), "-out", out}
	var stderr strings.Builder
	code := run(args, io.Discard, &stderr)
	b, _ := os.ReadFile(out)
	rep := string(b)
	if code != 0 {
		t.Fatalf("wagate-load %s: exit %d\n%s\n%s", strings.Join(args, " "), code, stderr.String(), rep)
	}
	mustContain(t, rep, "### Ingest: one replica vs two", "| hot | 1 | 1 |", "| hot | 1 | 2 |", "| spread | 1 | 2 |", "two / one",
		"hot: 200 answers from both replicas", "### Sending on two replicas", "12 dryrun accounts in 3 workspaces, 6 messages each (72)",
		"| both replicas,", "#### Handover (SIGTERM)", "#### Takeover (kill -9)", "no message in two outbox lines", "Gap check", "lost the account's lease")
	for _, section := range strings.Split(rep, "#### Checks")[1:] {
		section, _, _ = strings.Cut(section, "###")
		for _, line := range strings.Split(section, "\n") {
			if strings.Contains(line, "NOT met") && !strings.Contains(line, "Gap check") {
				t.Errorf("a correctness check failed: %s\n%s", line, rep)
			}
		}
	}
}

func TestReplicasUsage(t *testing.T) {
	for _, args := range [][]string{
		{"replicas", "-conns", "1"},
		{"replicas", "-workloads", "cold"},
		{"replicas", "-lease-ttl", "500ms"},
		{"replicas", "-queue", "2"},
		{"replicas", "-jitter", "2s", "-interval", "1s"},
	} {
		var stderr strings.Builder
		if code := run(args, io.Discard, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), args[1]) {
			t.Errorf("run(%q): the error does not name %s: %s", args, args[1], stderr.String())
		}
	}
}
