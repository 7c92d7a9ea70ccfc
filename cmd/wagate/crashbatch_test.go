package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/wagate/wagate/store"
)

// TestKill9MidBatch kills the real binary (SIGKILL) while batches are being
// committed, and checks the batch promise after it: every batch is in the
// store whole or not at all (it is one commit), every batch answered 200
// is there whole, and `wagate check` passes (the credits add up).
func TestKill9MidBatch(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	p := startProcess(t, bin, "--data", dir, "--send-interval", "1h", "--inbound-rate", "100000", "--inbound-burst", "100000")
	in := &instance{t: t, base: "http://" + p.addr}
	ws := createWorkspace(t, in, operatorToken(t, dir), 1_000_000)
	url := in.base + path(ws.inboundURL) + "/batch"

	const size, workers = 200, 4
	body := func(n int) []byte {
		items := make([]map[string]any, size)
		for j := range items {
			items[j] = map[string]any{"action": "send", "phone": "+14155552671", "text": fmt.Sprintf("batch %d item %d", n, j)}
		}
		b, _ := json.Marshal(map[string]any{"messages": items})
		return b
	}
	answered := make(chan int, 10_000)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w; ; n += workers {
				resp, err := http.Post(url, "application/json", bytes.NewReader(body(n)))
				if err != nil {
					return // killed
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					answered <- n
				}
			}
		}()
	}
	// Kill once some batches are in: the workers have others in flight.
	got := map[int]bool{}
	for range 3 {
		got[<-answered] = true
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exit
	wg.Wait()
	close(answered)
	for n := range answered {
		got[n] = true
	}

	if out, err := exec.Command(bin, "check", "--data", dir).CombinedOutput(); err != nil {
		t.Fatalf("wagate check after the kill: %v\n%s", err, out)
	}
	db, err := store.Open(filepath.Join(dir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	msgs, err := db.ListMessages(context.Background(), ws.id, "", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	perBatch := map[int]int{}
	for _, m := range msgs {
		f := strings.Fields(m.Text) // "batch N item J"
		if len(f) != 4 {
			t.Fatalf("message %s has text %q, not one the test sent", m.ID, m.Text)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("message %s has text %q, not one the test sent", m.ID, m.Text)
		}
		perBatch[n]++
	}
	for n, c := range perBatch {
		if c != size {
			t.Errorf("batch %d has %d of its %d messages: a batch is one commit, all or none", n, c, size)
		}
	}
	for n := range got {
		if perBatch[n] != size {
			t.Errorf("batch %d was answered 200 but has %d messages", n, perBatch[n])
		}
	}
	t.Logf("%d batches answered before the kill, %d in the store", len(got), len(perBatch))
}
