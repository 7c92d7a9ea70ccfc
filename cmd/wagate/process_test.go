package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles wagate into a temporary folder: process tests run the
// real binary, as a user does, and signal it.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wagate")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running wagate binary.
type process struct {
	cmd  *exec.Cmd
	addr string
	exit chan error
}

// startProcess runs `wagate serve` on 127.0.0.1:0 and reads its listening
// address from the JSON log on stderr.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exit: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "wagate listening" {
				addr <- line.Addr
			}
		}
		p.exit <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case p.addr = <-addr:
	case err := <-p.exit:
		t.Fatalf("wagate exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("wagate did not log its address")
	}
	return p
}

// TestSIGTERMShutsDownCleanly runs the binary, accepts messages, sends
// SIGTERM and checks: exit 0, the store closed consistent (wagate check),
// the queued messages kept for the next start.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	p := startProcess(t, bin, "--data", dir, "--send-interval", "1h", "--send-jitter", "0s")
	in := &instance{t: t, base: "http://" + p.addr}
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	first := send(t, ws.inboundURL, map[string]any{"action": "send", "phone": "+14155552671", "text": "one"})
	second := send(t, ws.inboundURL, map[string]any{"action": "send", "phone": "+14155552671", "text": "two"})
	waitFor(t, "the first message sent", func() bool { return messageStatus(t, in, ws, first) == "sent" })

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exit:
		if err != nil {
			t.Fatalf("wagate exited with %v after SIGTERM; want exit 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("wagate did not exit after SIGTERM")
	}

	check := exec.Command(bin, "check", "--data", dir)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("wagate check after SIGTERM: %v\n%s", err, out)
	}
	if lines := readOutbox(t, dir); len(lines) != 1 || lines[0].MessageID != first {
		t.Fatalf("outbox = %+v; want only the first message", lines)
	}

	p = startProcess(t, bin, "--data", dir, "--send-interval", "10ms", "--send-jitter", "0s")
	in = &instance{t: t, base: "http://" + p.addr}
	waitFor(t, "the queued message sent after the restart", func() bool { return messageStatus(t, in, ws, second) == "sent" })
	if b, err := os.ReadFile(filepath.Join(dir, dryrunOutboxFile)); err != nil || strings.Count(string(b), "\n") != 2 {
		t.Fatalf("outbox after restart: %v\n%s", err, b)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exit
}
