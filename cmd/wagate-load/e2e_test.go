package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The end-to-end tests run each mode, small, against the real wagate
// binary built from ../wagate: they check that the tool's own checks hold
// (every 200 is a stored message, every queued message is sent) and that
// the report has its tables. They assert no speed: SPEC §7's goals are
// measured by `make bench`, never by a test.

var wagateBuild struct {
	once sync.Once
	path string
	out  []byte
	err  error
}

// buildWagate compiles cmd/wagate once per test run.
func buildWagate(t *testing.T) string {
	t.Helper()
	wagateBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "wagate-load-test-")
		if err != nil {
			wagateBuild.err = err
			return
		}
		wagateBuild.path = filepath.Join(dir, "wagate")
		wagateBuild.out, wagateBuild.err = exec.Command("go", "build", "-o", wagateBuild.path, "../wagate").CombinedOutput()
	})
	if wagateBuild.err != nil {
		t.Fatalf("go build ../wagate: %v\n%s", wagateBuild.err, wagateBuild.out)
	}
	return wagateBuild.path
}

// runMode runs the tool like its command line and returns the report.
func runMode(t *testing.T, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.md")
	var stderr strings.Builder
	if code := run(append(args, "-out", out), io.Discard, &stderr); code != 0 {
		t.Fatalf("wagate-load %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustContain(t *testing.T, report string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(report, p) {
			t.Errorf("report lacks %q:\n%s", p, report)
		}
	}
}

func TestIngestEndToEnd(t *testing.T) {
	bin := buildWagate(t)
	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	rep := runMode(t, "ingest", "-wagate", bin, "-duration", "300ms", "-rounds", "1", "-conns", "4,8", "-warmup", "100ms",
		"-log-level", "warn", "-dir", t.TempDir(), "-cpuprofile", profile)
	mustContain(t, rep, "| 4 | 1 | baseline |", "| 8 | 1 | wagate |", "### Summary", "wagate / baseline req/s",
		"credits spent (1 per message)", "is in the store after the kill: met", "0 problem(s): met", "is consistent", "### CPU profile")
	checks := rep[strings.Index(rep, "### Checks"):strings.Index(rep, "### CPU profile")]
	if strings.Contains(checks, "NOT met") {
		t.Errorf("a correctness check failed:\n%s", checks)
	}
	if st, err := os.Stat(profile); err != nil || st.Size() == 0 {
		t.Errorf("no CPU profile written: %v", err)
	}
}

func TestPacingEndToEnd(t *testing.T) {
	bin := buildWagate(t)
	rep := runMode(t, "pacing", "-wagate", bin, "-accounts", "30", "-per-workspace", "7", "-queue", "3",
		"-interval", "300ms", "-jitter", "0s,100ms", "-idle-window", "50ms", "-timeout", "30s", "-log-level", "warn", "-dir", t.TempDir())
	mustContain(t, rep, "### --send-jitter 0s", "### --send-jitter 100ms", "5 workspaces and 30 accounts",
		"90 sends of 30 accounts", "| gap 1 | 30 |", "| gap 2 | 30 |", "| all gaps | 60 |", "per 1,000 accounts", "wagate_sender_gap_actual_seconds_count", "wagate_sender_send_duration_seconds_count")
}

func TestRestartEndToEnd(t *testing.T) {
	bin := buildWagate(t)
	dir := filepath.Join(t.TempDir(), "store")
	args := []string{"restart", "-wagate", bin, "-messages", "300", "-accounts", "30", "-per-workspace", "7", "-observe", "20s", "-log-level", "warn", "-store", dir, "-scheduled", "50"}
	rep := runMode(t, args...)
	mustContain(t, rep, "Store built for this run: 300 messages over 30 accounts", "At start: 300 queued messages over 30 accounts (50 % of them scheduled", "Scheduled messages waiting after the restart (wagate_messages_waiting): 150",
		"**/readyz 200**", "first accept answered (status 200", "peak RSS (VmHWM)")
	if strings.Contains(rep, "not within -observe") {
		t.Errorf("not every account sent after the restart:\n%s", rep)
	}
	rep = runMode(t, args...)
	mustContain(t, rep, "Store reused from an earlier run", "30 of its 300 messages were sent by earlier runs", "At start: 270 queued messages")
}

func TestBatchEndToEnd(t *testing.T) {
	bin := buildWagate(t)
	rep := runMode(t, "batch", "-wagate", bin, "-duration", "300ms", "-rounds", "1", "-conns", "4", "-size", "20", "-dir", t.TempDir())
	mustContain(t, rep, "| one by one |", "| batch |", "Batches of 20 accept", "= messages answered 200", ": met")
}

// The outbound mode drains a small outbox after a kill -9 and reports both
// rates and the latency table; no figure is asserted.
func TestOutboundEndToEnd(t *testing.T) {
	bin := buildWagate(t)
	rep := runMode(t, "outbound", "-wagate", bin, "-events", "50", "-endpoints", "2", "-rate", "100", "-duration", "300ms", "-dir", t.TempDir())
	mustContain(t, rep, "100 message.queued deliveries (50 messages × 2 endpoints)", "| wagate deliverer", "| bare Go client", "of the bare client's rate", "| 30 |")
}

// The backends mode starts its own PostgreSQL (the test fails, never
// skips, when it cannot) and drives both backends at both levels; its
// checks (every answered accept is a charged message) must hold.
func TestBackendsEndToEnd(t *testing.T) {
	rep := runMode(t, "backends", "-duration", "300ms", "-rounds", "1", "-warmup", "100ms", "-writers", "8", "-conns", "8", "-dir", t.TempDir())
	mustContain(t, rep, "| store | hot | 1 | bbolt |", "| store | spread | 1 | PostgreSQL |", "| http | hot | 1 | PostgreSQL |",
		"### Summary", "PostgreSQL / bbolt", "store level, hot, PostgreSQL: accepts answered", "http level, bbolt: 200 answers")
	checks := rep[strings.Index(rep, "### Checks"):]
	if strings.Contains(checks, "NOT met") {
		t.Errorf("a correctness check failed:\n%s", checks)
	}
	rep = runMode(t, "backends", "-levels", "store", "-pg-socket", "-duration", "100ms", "-rounds", "1", "-warmup", "0s", "-writers", "2", "-dir", t.TempDir())
	mustContain(t, rep, "reached through its unix socket", "| store | spread | 1 | PostgreSQL |", "store level, spread, PostgreSQL: accepts answered")
	if checks := rep[strings.Index(rep, "### Checks"):]; strings.Contains(checks, "NOT met") {
		t.Errorf("a correctness check failed over the unix socket:\n%s", checks)
	}
}
