package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKill9MidSend kills the real binary (SIGKILL: no shutdown code runs)
// while a message is in sending, three times, at the three points a crash
// can catch a send, and checks the README's promise after each restart:
// every message that got a 200 ends sent or failed-and-refunded, the outbox
// never holds a message twice, `wagate check` passes and the credits add up.
//
// WAGATE_TEST_SEND_DELAY holds each dryrun send long enough to kill the
// process at a chosen side of the outbox write; a real send is milliseconds.
func TestKill9MidSend(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	const credits = 10
	serve := func(delay string) (*process, *instance) {
		t.Helper()
		t.Setenv(EnvTestSendDelay, delay) // the child inherits the environment
		p := startProcess(t, bin, "--data", dir, "--send-interval", "50ms", "--send-jitter", "0s")
		return p, &instance{t: t, base: "http://" + p.addr}
	}
	kill := func(p *process) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.exit
	}
	text := func(s string) map[string]any {
		return map[string]any{"action": "send", "phone": "+14155552671", "text": s}
	}
	// The inbound URL on the port the current process listens on.
	inbound := func(in *instance, ws workspaceSetup) string { return in.base + path(ws.inboundURL) }

	// 1. Killed before the transport wrote anything: the transport can
	//    tell (dryrun reads its outbox), so the message goes back to its
	//    place and is sent once, before the messages queued behind it.
	p, in := serve("1h")
	ws := createWorkspace(t, in, operatorToken(t, dir), credits)
	first := []string{send(t, inbound(in, ws), text("m1")), send(t, inbound(in, ws), text("m2")), send(t, inbound(in, ws), text("m3"))}
	waitFor(t, "m1 in sending", func() bool { return messageStatus(t, in, ws, first[0]) == "sending" })
	kill(p)
	if n := outboxCount(t, dir)[first[0]]; n != 0 {
		t.Fatalf("m1 is in the outbox %d times before the restart; the test delay did not hold it", n)
	}
	p, in = serve("")
	waitFor(t, "m1, m2, m3 sent after the restart", func() bool { return messageStatus(t, in, ws, first[2]) == "sent" })
	if got := outboxOrder(t, dir); strings.Join(got, " ") != strings.Join(first, " ") {
		t.Fatalf("outbox order = %v, want %v: m1 at its place, each once", got, first)
	}
	m1 := getMessage(t, in, ws, first[0])
	if m1.Status != "sent" || len(m1.Tries) != 2 || m1.Tries[0].Result != "retry" || !strings.Contains(m1.Tries[0].Error, "interrupted") {
		t.Errorf("m1 = %+v; want sent, after a retry try that says it was interrupted", m1)
	}
	kill(p)

	// 2. Killed after the transport wrote its line, before wagate recorded
	//    the send: the outbox proves it went out, so it becomes sent and is
	//    not sent again.
	p, in = serve("after:1h")
	m4 := send(t, inbound(in, ws), text("m4"))
	waitFor(t, "m4 written to the outbox while in sending", func() bool {
		return outboxCount(t, dir)[m4] == 1 && messageStatus(t, in, ws, m4) == "sending"
	})
	kill(p)
	p, in = serve("")
	waitFor(t, "m4 confirmed sent after the restart", func() bool { return messageStatus(t, in, ws, m4) == "sent" })
	got := getMessage(t, in, ws, m4)
	if len(got.Tries) != 1 || got.Tries[0].Result != "sent" || !strings.Contains(got.Tries[0].Error, "confirmed") {
		t.Errorf("m4 = %+v; want one sent try that says the transport confirmed it", got)
	}
	kill(p)

	// 3. Killed in the middle of the write: a cut line names the message,
	//    so nobody can tell whether it went out. It fails as interrupted
	//    and is refunded, and is not sent again.
	p, in = serve("1h")
	m5 := send(t, inbound(in, ws), text("m5"))
	waitFor(t, "m5 in sending", func() bool { return messageStatus(t, in, ws, m5) == "sending" })
	kill(p)
	f, err := os.OpenFile(filepath.Join(dir, dryrunOutboxFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"at":"2026-01-01T00:00:00Z","account":"+15105566777","message_id":"` + m5 + `","te`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p, in = serve("")
	waitFor(t, "m5 failed after the restart", func() bool { return messageStatus(t, in, ws, m5) == "failed" })
	got = getMessage(t, in, ws, m5)
	if !strings.HasPrefix(got.Error, "interrupted:") || len(got.Tries) != 1 || got.Tries[0].Result != "failed" {
		t.Errorf("m5 = %+v; want failed as interrupted, with one failed try", got)
	}

	// Every accepted message ended sent or failed; the outbox holds each
	// sent one exactly once and no failed one; credits add up.
	all := append(append(first, m4), m5)
	sent := 0
	counts := outboxCount(t, dir)
	for _, id := range all {
		switch st := messageStatus(t, in, ws, id); st {
		case "sent":
			sent++
			if counts[id] != 1 {
				t.Errorf("sent message %s is in the outbox %d times, want once", id, counts[id])
			}
		case "failed":
			if counts[id] != 0 {
				t.Errorf("failed message %s is in the outbox %d times", id, counts[id])
			}
		default:
			t.Errorf("message %s ended %q, want sent or failed", id, st)
		}
	}
	if sent != 4 {
		t.Errorf("%d messages sent, want 4", sent)
	}
	st, body := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id, ws.ownerToken, nil)
	mustStatus(t, "get workspace", st, http.StatusOK, body)
	if body["credits"] != float64(credits-sent) {
		t.Errorf("credits = %v, want %d: the failed message is refunded, the sent ones are not", body["credits"], credits-sent)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.exit; err != nil {
		t.Fatalf("wagate exited with %v after SIGTERM", err)
	}
	if out, err := exec.Command(bin, "check", "--data", dir).CombinedOutput(); err != nil {
		t.Fatalf("wagate check after the crashes: %v\n%s", err, out)
	}
}

// messageJSON is the part of the admin API's message object the crash test
// reads.
type messageJSON struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Tries  []struct {
		Result string `json:"result"`
		Error  string `json:"error"`
	} `json:"tries"`
}

func getMessage(t *testing.T, in *instance, ws workspaceSetup, id string) messageJSON {
	t.Helper()
	st, m := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/messages/"+id, ws.ownerToken, nil)
	mustStatus(t, "get message", st, http.StatusOK, m)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out messageJSON
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// outboxOrder returns the message ids of the outbox's whole lines, in order.
// A line cut by a crash (not one JSON object) is skipped: it is no send.
func outboxOrder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, dryrunOutboxFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l outboxLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			ids = append(ids, l.MessageID)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// outboxCount counts the whole outbox lines of each message id.
func outboxCount(t *testing.T, dir string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, id := range outboxOrder(t, dir) {
		n[id]++
	}
	return n
}

func TestParseTestSendDelay(t *testing.T) {
	tests := []struct {
		in    string
		d     time.Duration
		after bool
		bad   bool
	}{
		{"", 0, false, false},
		{"30s", 30 * time.Second, false, false},
		{"after:1h", time.Hour, true, false},
		{"soon", 0, false, true},
		{"after:-1s", 0, false, true},
	}
	for _, tt := range tests {
		d, after, err := parseTestSendDelay(tt.in)
		if (err != nil) != tt.bad || d != tt.d || after != tt.after {
			t.Errorf("parseTestSendDelay(%q) = %v, %v, %v; want %v, %v, error %v", tt.in, d, after, err, tt.d, tt.after, tt.bad)
		}
		if err != nil && !strings.Contains(err.Error(), EnvTestSendDelay) {
			t.Errorf("error %q does not name %s", err, EnvTestSendDelay)
		}
	}
}
