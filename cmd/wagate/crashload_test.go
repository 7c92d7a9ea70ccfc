package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
)

// The crash harness's knobs. `go test` (and so `make test`) runs 20 kills;
// `make crashtest` runs 200. A failing run prints its seed: pass it back
// with -crash.seed to replay the same kills and requests (the moments are
// the same; what the process was doing at each may differ a little).
var (
	crashKills = flag.Int("crash.kills", 20, "TestCrashHarness: how many times to kill -9 wagate under load")
	crashSeed  = flag.Uint64("crash.seed", 0, "TestCrashHarness: seed of the kill moments and the requests (0 = random, printed)")
)

// Shape of the load. The clients post about as fast as the four accounts
// send (30 ms ± 10 ms each), so the queues stay short and drain at the end
// in a few seconds, while the requests stay concurrent.
const (
	crashClients     = 6
	crashClientPause = 60 * time.Millisecond // mean pause of a client between two requests
	crashCredits     = 1_000_000             // per workspace: never the limit
)

// TestCrashHarness is SPEC §6's durability promise under load: the real
// binary with several dryrun accounts takes concurrent text and file
// messages (files from a local server, some of them 404s that must fail
// and be refunded) with Idempotency-Keys, and is killed with SIGKILL at
// random moments, crash.kills times, and restarted each time. A request
// cut by a kill is sent again with the same key to the next process. At
// the end the queues drain and the harness checks:
//   - every request that got a 200 has its message, ended sent or failed
//     (refunded), and the 200s of one key named one message;
//   - every message in the store is one that some key got a 200 for, and
//     no key has two messages (a retry is a replay or a first accept);
//   - the outbox holds each sent message exactly once and no failed one;
//   - credits add up: granted = balance + credits of the sent messages;
//   - `wagate check` passes;
//   - the first workspace's endpoint (crashhooks_test.go) got, signed, one
//     message.queued event id and one of the final state for each of its
//     messages, none for anything else, the same id on every redelivery.
func TestCrashHarness(t *testing.T) {
	if *crashKills < 1 {
		t.Fatalf("-crash.kills=%d: want at least 1", *crashKills)
	}
	seed := *crashSeed
	if seed == 0 {
		seed = mathrand.Uint64()
	}
	t.Logf("crash harness: %d kills, seed %d (replay with: go test -run 'TestCrashHarness$' -v ./cmd/wagate/ -crash.kills=%d -crash.seed=%d)", *crashKills, seed, *crashKills, seed)
	rng := mathrand.New(mathrand.NewPCG(seed, seed^0x5eed))
	t.Setenv(EnvTestSendDelay, "") // real sends: milliseconds

	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/logo.png":
			w.Write(logoPNG)
		case "/invoice.pdf":
			io.WriteString(w, "%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer files.Close()
	hooks := newHookReceiver()
	hookSrv := httptest.NewServer(hooks)
	defer hookSrv.Close()

	bin := buildBinary(t)
	dir := t.TempDir()
	args := []string{"--data", dir, "--send-interval", "30ms", "--send-jitter", "10ms",
		"--inbound-rate", "100000", "--inbound-burst", "100000", "--allow-private-file-urls", "--allow-private-endpoints", "--seed", strconv.FormatUint(seed, 10)}
	p := startProcess(t, bin, args...)
	first := &instance{t: t, base: "http://" + p.addr}
	op := operatorToken(t, dir)
	var workspaces []workspaceSetup
	for range 2 {
		ws := createWorkspace(t, first, op, crashCredits)
		st, body := call(t, "POST", first.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": "+14155550123", "transport": "dryrun"})
		mustStatus(t, "second account", st, http.StatusCreated, body)
		workspaces = append(workspaces, ws)
	}
	createCrashEndpoint(t, first, workspaces[0], hookSrv.URL+"/hooks", hooks)

	live := newLiveBase(first.base)
	rec := &crashRecord{keys: map[string]*crashKey{}}
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for c := range crashClients {
		cl := &crashClient{id: c, rng: mathrand.New(mathrand.NewPCG(rng.Uint64(), uint64(c))), live: live, rec: rec, stop: stop,
			workspaces: workspaces, files: files.URL, http: &http.Client{Timeout: 30 * time.Second}}
		clients.Go(cl.run)
	}

	for k := 1; k <= *crashKills; k++ {
		// A quarter of the kills land within 30 ms of the start, while
		// the sender recovers interrupted sends; the rest anywhere in half
		// a second of load.
		up := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
		if rng.IntN(4) > 0 {
			up = 30*time.Millisecond + time.Duration(rng.Int64N(int64(470*time.Millisecond)))
		}
		time.Sleep(up) // the moment of the kill is what is random here
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.exit
		live.set(0, "")
		p = startProcess(t, bin, args...)
		live.set(0, "http://"+p.addr)
		if k%50 == 0 {
			t.Logf("%d kills, %d requests answered 200 so far", k, rec.acceptedCount())
		}
	}
	close(stop)
	clients.Wait()
	for _, u := range rec.unexpected {
		t.Errorf("unexpected answer: %s", u)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Let the last process drain every queue.
	in := &instance{t: t, base: "http://" + p.addr}
	deadline := time.Now().Add(3 * time.Minute) // only keeps a broken build from hanging
	for _, ws := range workspaces {
		for _, status := range []string{"queued", "sending"} {
			for {
				st, body := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/messages?limit=1&status="+status, ws.ownerToken, nil)
				mustStatus(t, "list messages", st, http.StatusOK, body)
				if list, _ := body["messages"].([]any); len(list) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("messages still %s after 3 minutes", status)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	waitForHooks(t, hooks, 2*rec.acceptedIn(workspaces[0].id))
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.exit; err != nil {
		t.Fatalf("wagate exited with %v after SIGTERM", err)
	}
	if out, err := exec.Command(bin, "check", "--data", dir).CombinedOutput(); err != nil {
		t.Fatalf("wagate check after %d kills: %v\n%s", *crashKills, err, out)
	}

	counts := verifyCrashRun(t, dir, workspaces, rec)
	counts.kills = *crashKills
	hc := verifyCrashHooks(t, dir, workspaces[0], hooks)
	t.Logf("crash harness result: %s %s", counts, hc)
	if counts.sent == 0 || counts.badFiles == 0 || counts.files == 0 {
		t.Errorf("the load was too thin to prove anything: %s", counts)
	}
}

// crashCounts is what the harness prints.
type crashCounts struct {
	kills, requests, accepted, connErrors, retriedReplayed, retriedFresh int
	files, badFiles                                                      int
	sent, failedBadFile, failedInterrupted                               int
	requeuedAfterCrash, confirmedAfterCrash                              int
	outboxLines                                                          int
}

func (c crashCounts) String() string {
	return fmt.Sprintf("kills=%d requests=%d accepted(200)=%d connection-errors=%d retried-then-replayed=%d retried-then-accepted-fresh=%d "+
		"file-messages=%d (404-files=%d) sent=%d failed-refunded(404 file)=%d failed-refunded(interrupted)=%d "+
		"resent-after-crash=%d confirmed-sent-after-crash=%d outbox-lines=%d",
		c.kills, c.requests, c.accepted, c.connErrors, c.retriedReplayed, c.retriedFresh, c.files, c.badFiles,
		c.sent, c.failedBadFile, c.failedInterrupted, c.requeuedAfterCrash, c.confirmedAfterCrash, c.outboxLines)
}

// verifyCrashRun opens the stopped store and checks the run's promises.
func verifyCrashRun(t *testing.T, dir string, workspaces []workspaceSetup, rec *crashRecord) crashCounts {
	t.Helper()
	var c crashCounts
	rec.mu.Lock()
	defer rec.mu.Unlock()
	c.requests, c.connErrors, c.retriedReplayed, c.retriedFresh = len(rec.keys), rec.connErrors, rec.replayed, rec.fresh
	for _, k := range rec.keys {
		if k.id != "" {
			c.accepted++
		}
		if k.file {
			c.files++
		}
		if k.badFile {
			c.badFiles++
		}
	}

	db, err := store.Open(filepath.Join(dir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkCrashMessages(t, db, workspaces, rec, outboxCount(t, dir), &c, nil)
	return c
}

// crashStore is what the harness's checks read of a stopped store: the
// bbolt store, or the PostgreSQL database of the replica harness.
type crashStore interface {
	FindWorkspace(ctx context.Context, id string) (*wagate.Workspace, error)
	ListMessages(ctx context.Context, workspaceID string, status wagate.MessageStatus, limit int) ([]*wagate.Message, error)
}

// checkCrashMessages checks the messages of db against what the clients
// saw (rec, whose lock the caller holds) and the dryrun outbox (message id
// → lines), adding to c. failedWritten nil means a failed message must
// not be in the outbox (one process reads its own outbox when it
// recovers); non-nil, a failed message may be there once, and is counted:
// with replicas, a replica killed after its transport wrote the line but
// before it recorded the send leaves a sending message that another
// replica, which cannot read that outbox, fails as interrupted and
// refunds. Sent twice is an error either way.
func checkCrashMessages(t *testing.T, db crashStore, workspaces []workspaceSetup, rec *crashRecord, outbox map[string]int, c *crashCounts, failedWritten *int) {
	t.Helper()
	ctx := context.Background()
	for _, n := range outbox {
		c.outboxLines += n
	}
	seen := map[string]string{} // key → message id, from the store
	stored := map[string]bool{}
	for _, ws := range workspaces {
		w, err := db.FindWorkspace(ctx, ws.id)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := db.ListMessages(ctx, ws.id, "", 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		var spent int64
		for _, m := range msgs {
			stored[m.ID] = true
			key, ok := strings.CutPrefix(m.Text, "crash ")
			if !ok {
				t.Errorf("message %s has text %q, not one the harness sent", m.ID, m.Text)
				continue
			}
			if other, dup := seen[key]; dup {
				t.Errorf("key %s has two messages, %s and %s: a retry was accepted twice", key, other, m.ID)
			}
			seen[key] = m.ID
			k := rec.keys[key]
			switch {
			case k == nil || k.id == "":
				t.Errorf("message %s (key %s) exists, but no request of that key got a 200", m.ID, key)
			case k.id != m.ID:
				t.Errorf("key %s got a 200 for %s, but its message is %s", key, k.id, m.ID)
			}
			for _, try := range m.Tries {
				if try.Class != wagate.TryClassInterrupted {
					continue
				}
				switch try.Result {
				case wagate.TryResultRetry:
					c.requeuedAfterCrash++
				case wagate.TryResultSent:
					c.confirmedAfterCrash++
				}
			}
			badFile := k != nil && k.badFile
			switch m.Status {
			case wagate.StatusSent:
				c.sent++
				spent += m.Credits
				if outbox[m.ID] != 1 {
					t.Errorf("sent message %s is in the outbox %d times, want once", m.ID, outbox[m.ID])
				}
				if badFile {
					t.Errorf("message %s with a 404 file was sent", m.ID)
				}
			case wagate.StatusFailed:
				switch n := outbox[m.ID]; {
				case n == 1 && failedWritten != nil:
					*failedWritten++
				case n != 0:
					t.Errorf("failed (refunded) message %s is in the outbox %d times", m.ID, n)
				}
				switch {
				case badFile && strings.Contains(m.Error, "404"):
					c.failedBadFile++
				case strings.HasPrefix(m.Error, "interrupted:"):
					c.failedInterrupted++
				default:
					t.Errorf("message %s failed with %q; only 404 files and interrupted sends may fail", m.ID, m.Error)
				}
			default:
				t.Errorf("message %s ended %s after the drain, want sent or failed", m.ID, m.Status)
			}
		}
		if w.Credits+spent != crashCredits {
			t.Errorf("workspace %s: balance %d + %d credits of sent messages = %d, want the %d granted", ws.id, w.Credits, spent, w.Credits+spent, crashCredits)
		}
	}
	for key, k := range rec.keys {
		if k.id != "" && !stored[k.id] {
			t.Errorf("key %s got a 200 for %s, which is not in the store: an accepted message was lost", key, k.id)
		}
	}
	for id, n := range outbox {
		if !stored[id] {
			t.Errorf("the outbox holds %d sends of %s, which is not a stored message", n, id)
		}
	}
}

// liveBase is the addresses of the running processes, one slot per
// process ("" while it is down): one for the bbolt harness, one per
// replica for the replica harness (crashreplicas_test.go). Clients wait on
// it after a connection error.
type liveBase struct {
	mu      sync.Mutex
	bases   []string
	next    int // the slot get tries first: requests go round the processes
	epoch   int
	changed chan struct{}
}

func newLiveBase(bases ...string) *liveBase {
	return &liveBase{bases: bases, changed: make(chan struct{})}
}

// set records slot i's process going down ("") or up.
func (l *liveBase) set(i int, base string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bases[i] = base
	l.epoch++
	close(l.changed)
	l.changed = make(chan struct{})
}

// get returns the address of a running process (the next one up, round
// the slots) and the epoch, waiting for a process that is up.
func (l *liveBase) get() (string, int) {
	for {
		l.mu.Lock()
		epoch, ch := l.epoch, l.changed
		for range l.bases {
			base := l.bases[l.next]
			l.next = (l.next + 1) % len(l.bases)
			if base != "" {
				l.mu.Unlock()
				return base, epoch
			}
		}
		l.mu.Unlock()
		<-ch
	}
}

// after waits until the process of epoch was replaced, or d passed (a
// connection error that was not a kill).
func (l *liveBase) after(epoch int, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		l.mu.Lock()
		now, ch := l.epoch, l.changed
		l.mu.Unlock()
		if now != epoch {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		}
	}
}

// crashKey is one request the harness made, by its Idempotency-Key.
type crashKey struct {
	id      string // the message id of its 200; "" until then
	ws      string // the workspace it was sent to
	retried bool   // it met a connection error and was sent again
	file    bool
	badFile bool
	body    []byte // the request, to replay it
}

// crashRecord is everything the clients saw.
type crashRecord struct {
	mu                          sync.Mutex
	keys                        map[string]*crashKey
	connErrors, replayed, fresh int
	unexpected                  []string // answers other than 200 and 503
}

// acceptedIn is how many keys got a 200 in workspace ws.
func (r *crashRecord) acceptedIn(ws string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.keys {
		if k.id != "" && k.ws == ws {
			n++
		}
	}
	return n
}

func (r *crashRecord) acceptedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.keys {
		if k.id != "" {
			n++
		}
	}
	return n
}

// crashClient posts messages until stop, each under its own key, and
// sends a request cut by a kill again, same key, same body, until it gets
// an answer.
type crashClient struct {
	id         int
	rng        *mathrand.Rand
	live       *liveBase
	rec        *crashRecord
	stop       chan struct{}
	workspaces []workspaceSetup
	files      string
	http       *http.Client
}

var crashRecipients = []string{"+14155552671", "+4915112345678", "+447911123456"}

func (c *crashClient) run() {
	for n := 0; ; n++ {
		select {
		case <-c.stop:
			return
		case <-time.After(time.Duration(c.rng.Int64N(int64(2 * crashClientPause)))):
		}
		key := fmt.Sprintf("c%d-%d", c.id, n)
		ws := c.workspaces[c.rng.IntN(len(c.workspaces))]
		req := map[string]any{
			"action":                 "send",
			"whatsapp_account_phone": []string{"+15105566777", "+14155550123"}[c.rng.IntN(2)],
			"phone":                  crashRecipients[c.rng.IntN(len(crashRecipients))],
			"text":                   "crash " + key,
		}
		k := &crashKey{ws: ws.id}
		switch r := c.rng.IntN(10); {
		case r < 2:
			req["file_url"], req["file_name"] = c.files+"/logo.png", "logo.png"
			k.file = true
		case r < 3:
			req["file_url"], req["file_name"] = c.files+"/invoice.pdf", "invoice.pdf"
			k.file = true
		case r < 4:
			req["file_url"], req["file_name"] = c.files+"/gone.png", "gone.png" // 404: fails, refunded
			k.file, k.badFile = true, true
		}
		body, _ := json.Marshal(req)
		k.body = body
		c.rec.mu.Lock()
		c.rec.keys[key] = k
		c.rec.mu.Unlock()
		c.post(ws, key, body, k)
	}
}

// post sends one request until it has an answer: a 200 is recorded; a
// connection error waits for the next process and sends it again.
func (c *crashClient) post(ws workspaceSetup, key string, body []byte, k *crashKey) {
	for {
		base, epoch := c.live.get()
		status, id, replayed, err := c.do(base+path(ws.inboundURL), key, body)
		c.rec.mu.Lock()
		switch {
		case err != nil:
			c.rec.connErrors++
			k.retried = true
			c.rec.mu.Unlock()
			c.live.after(epoch, time.Second)
			continue
		case status == http.StatusOK:
			k.id = id
			if k.retried && replayed {
				c.rec.replayed++
			} else if k.retried {
				c.rec.fresh++
			}
			c.rec.mu.Unlock()
			return
		case status == http.StatusServiceUnavailable:
			// Storage unavailable or shutting down: nothing accepted, retry.
			c.rec.mu.Unlock()
			c.live.after(epoch, 100*time.Millisecond)
			continue
		default:
			c.rec.unexpected = append(c.rec.unexpected, fmt.Sprintf("key %s: status %d", key, status))
			c.rec.mu.Unlock()
			return
		}
	}
}

// do sends one inbound request and reads the message id of a 200. Any
// failure to get a whole answer is err: the process may have died with the
// request anywhere between the client and the commit.
func (c *crashClient) do(url, key string, body []byte) (status int, id string, replayed bool, err error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", false, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", false, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, "", false, nil
	}
	var ok acceptedAnswer
	if err := json.Unmarshal(raw, &ok); err != nil || !strings.HasPrefix(ok.Data.MessageID, "wa_backend:") {
		return 0, "", false, errors.Join(errors.New("a 200 without a message id"), err)
	}
	return resp.StatusCode, ok.Data.MessageID, resp.Header.Get("Idempotent-Replayed") == "true", nil
}

// acceptedAnswer is the 200 of the inbound URL.
type acceptedAnswer struct {
	Data struct {
		MessageID string `json:"message_id"`
	} `json:"data"`
}
