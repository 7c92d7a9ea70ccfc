package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
)

// TestShutdownUnderLoad sends SIGTERM to the real binary while clients
// post as fast as they can, and holds wagate to SIGTERM's promise: every
// answer is a 200 (durable: its message is in the store after the exit),
// a 503 (nothing accepted) or a connection error (nothing accepted either:
// the request was never read); the current sends finish, so no message is
// left in sending; the process exits 0; credits add up; `wagate check`
// passes.
func TestShutdownUnderLoad(t *testing.T) {
	t.Setenv(EnvTestSendDelay, "")
	bin := buildBinary(t)
	dir := t.TempDir()
	p := startProcess(t, bin, "--data", dir, "--send-interval", "20ms", "--send-jitter", "0s", "--inbound-rate", "100000", "--inbound-burst", "100000")
	in := &instance{t: t, base: "http://" + p.addr}
	const credits = 1_000_000
	ws := createWorkspace(t, in, operatorToken(t, dir), credits)
	url := in.base + path(ws.inboundURL)

	type outcome struct {
		status int // 0: a connection error
		id     string
	}
	var (
		mu       sync.Mutex
		outcomes = map[string]outcome{} // by key
		answers  = map[int]int{}
	)
	exited := make(chan struct{})
	started := make(chan struct{}, 64)
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-exited:
					return
				default:
				}
				key := fmt.Sprintf("s%d-%d", c, n)
				body, _ := json.Marshal(map[string]any{"action": "send", "phone": "+14155552671", "text": "shutdown " + key})
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", key)
				o := outcome{}
				resp, err := client.Do(req)
				if err == nil {
					raw, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					var a acceptedAnswer
					switch {
					case rerr != nil:
						// A cut answer counts as a connection error.
					case resp.StatusCode == http.StatusOK && json.Unmarshal(raw, &a) == nil:
						o = outcome{status: http.StatusOK, id: a.Data.MessageID}
					default:
						o.status = resp.StatusCode
						if resp.StatusCode == http.StatusServiceUnavailable && !strings.Contains(string(raw), `"error":"unavailable"`) {
							t.Errorf("503 without the unavailable code: %s", raw)
						}
					}
				}
				mu.Lock()
				outcomes[key] = o
				answers[o.status]++
				mu.Unlock()
				select {
				case started <- struct{}{}:
				default:
				}
				if o.status == 0 {
					time.Sleep(5 * time.Millisecond) // the server is gone or going: do not spin
				}
			}
		})
	}
	// SIGTERM once the load runs: after a hundred answers.
	for range 100 {
		<-started
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exitErr := <-p.exit
	close(exited)
	wg.Wait()
	if exitErr != nil {
		t.Fatalf("wagate exited with %v after SIGTERM under load; want 0", exitErr)
	}
	if out, err := exec.Command(bin, "check", "--data", dir).CombinedOutput(); err != nil {
		t.Fatalf("wagate check after SIGTERM under load: %v\n%s", err, out)
	}

	db, err := store.Open(filepath.Join(dir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	msgs, err := db.ListMessages(ctx, ws.id, "", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]*wagate.Message{}
	var charged int64
	statuses := map[wagate.MessageStatus]int{}
	for _, m := range msgs {
		byKey[strings.TrimPrefix(m.Text, "shutdown ")] = m
		statuses[m.Status]++
		if m.Status != wagate.StatusFailed {
			charged += m.Credits
		}
	}
	for key, o := range outcomes {
		m := byKey[key]
		switch o.status {
		case http.StatusOK:
			if m == nil || m.ID != o.id {
				t.Errorf("key %s got a 200 for %s, which is not in the store after the shutdown (found %v)", key, o.id, m)
			}
		case http.StatusServiceUnavailable, 0:
			if m != nil {
				t.Errorf("key %s was answered %d (nothing accepted), but its message %s is stored", key, o.status, m.ID)
			}
		default:
			t.Errorf("key %s was answered %d; under shutdown only 200, 503 or a connection error may be", key, o.status)
		}
	}
	if len(byKey) != answers[http.StatusOK] {
		t.Errorf("%d messages stored, %d requests answered 200", len(byKey), answers[http.StatusOK])
	}
	if statuses[wagate.StatusSending] != 0 {
		t.Errorf("%d messages left in sending: SIGTERM must let the current sends finish", statuses[wagate.StatusSending])
	}
	w, err := db.FindWorkspace(ctx, ws.id)
	if err != nil {
		t.Fatal(err)
	}
	if w.Credits+charged != credits {
		t.Errorf("balance %d + %d credits of messages = %d, want the %d granted", w.Credits, charged, w.Credits+charged, credits)
	}
	if answers[http.StatusOK] < 100 {
		t.Errorf("no load to speak of: answers %v, messages %v", answers, statuses)
	}
	t.Logf("shutdown under load: answers %v (0 = connection error); messages %v", answers, statuses)
}
