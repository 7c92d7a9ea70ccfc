package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres"
)

// Shape of TestTwoReplicasOnePostgres's load: replicaRequests requests in
// all from replicaClients clients, the kill once replicaKillAfter of them
// were answered 200.
const (
	replicaClients   = 4
	replicaRequests  = 200
	replicaKillAfter = 60
	replicaCredits   = 10_000
)

// TestTwoReplicasOnePostgres is SPEC §12 end to end: two real wagate
// processes (the binary the crash tests build) on one throwaway
// PostgreSQL, the URL from WAGATE_DATABASE_URL as on two machines.
//   - A workspace and an account made through one replica are seen, and
//     used, through the other.
//   - Messages accepted by both replicas are each sent exactly once: the
//     two replicas' dryrun outboxes together hold each once; credits add up.
//   - Under load on both, the replica holding the accounts is killed with
//     SIGKILL; the other takes its accounts over once their leases expire
//     (--lease-ttl 2s): every request answered 200 ends sent or
//     failed-and-refunded (interrupted), none is sent twice, credits add
//     up, and `wagate check --database-url` passes.
func TestTwoReplicasOnePostgres(t *testing.T) {
	url := newPGDatabase(t)
	bin := buildBinary(t)
	t.Setenv("WAGATE_DATABASE_URL", url) // the children inherit the environment
	t.Setenv(EnvTestSendDelay, "")
	dirs := []string{t.TempDir(), t.TempDir()}
	names := []string{"r1", "r2"}
	procs := make([]*process, 2)
	ins := make([]*instance, 2)
	for i := range 2 {
		procs[i] = startProcess(t, bin, "--data", dirs[i], "--replica", names[i], "--lease-ttl", "2s",
			"--send-interval", "20ms", "--send-jitter", "5ms", "--inbound-rate", "100000", "--inbound-burst", "100000")
		ins[i] = &instance{t: t, base: "http://" + procs[i].addr}
	}
	op := operatorToken(t, dirs[0])

	// 1. Made through one replica, seen through the other.
	ws := createWorkspace(t, ins[0], op, replicaCredits) // with the dryrun account +15105566777
	phones := []string{"+15105566777", "+14155550123"}
	st, body := call(t, "POST", ins[1].base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phones[1], "transport": "dryrun"})
	mustStatus(t, "an account made through the second replica", st, http.StatusCreated, body)
	for i, in := range ins {
		st, body := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, nil)
		mustStatus(t, "list accounts", st, http.StatusOK, body)
		if list, _ := body["accounts"].([]any); len(list) != 2 {
			t.Fatalf("replica %s lists %d accounts, want both, whichever replica made them: %v", names[i], len(list), body)
		}
	}
	inbound := func(i int) string { return ins[i].base + path(ws.inboundURL) }

	// 2. Accepted by both, each sent once.
	var both []string
	for i := range 20 {
		both = append(both, send(t, inbound(i%2), map[string]any{"action": "send", "whatsapp_account_phone": phones[i/2%2],
			"phone": "+14155552671", "text": fmt.Sprintf("both %d", i)}))
	}
	waitFor(t, "the messages accepted by both replicas sent", func() bool {
		for _, id := range both {
			if messageStatus(t, ins[1], ws, id) != "sent" {
				return false
			}
		}
		return true
	})
	outbox := replicaOutboxes(t, dirs)
	for _, id := range both {
		if outbox[id] != 1 {
			t.Errorf("message %s is in the replicas' outboxes %d times, want once", id, outbox[id])
		}
	}
	st, body = call(t, "GET", ins[0].base+"/api/v1/workspaces/"+ws.id, ws.ownerToken, nil)
	mustStatus(t, "get workspace", st, http.StatusOK, body)
	if body["credits"] != float64(replicaCredits-len(both)) {
		t.Errorf("credits = %v after %d sends, want %d", body["credits"], len(both), replicaCredits-len(both))
	}
	if t.Failed() {
		t.FailNow()
	}

	// 3. Load on both replicas; the holder of the first account's lease is
	//    killed once replicaKillAfter requests were answered 200.
	load := newReplicaLoad(ins, ws, phones)
	var clients sync.WaitGroup
	for c := range replicaClients {
		clients.Go(func() { load.client(c) })
	}
	select {
	case <-load.killNow:
	case <-time.After(time.Minute): // only keeps a broken build from hanging
		t.Fatalf("%d requests answered 200 after a minute, want %d before the kill", load.acceptedCount(), replicaKillAfter)
	}
	var holder string
	waitFor(t, "a replica holding the first account's lease", func() bool {
		holder = leaseOwner(t, url, ws.id, phones[0])
		return holder != ""
	})
	victim := 0
	if holder == names[1] {
		victim = 1
	}
	load.down[victim].Store(true) // clients go to the survivor first from now on
	if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-procs[victim].exit
	survivor := ins[1-victim]
	clients.Wait()
	for _, u := range load.unexpected {
		t.Errorf("unexpected answer: %s", u)
	}
	if t.Failed() {
		t.FailNow()
	}

	// The survivor takes the accounts over after their leases expire and
	// drains them.
	drained := func() bool {
		for _, status := range []string{"queued", "sending"} {
			st, body := call(t, "GET", survivor.base+"/api/v1/workspaces/"+ws.id+"/messages?limit=1&status="+status, ws.ownerToken, nil)
			mustStatus(t, "list messages", st, http.StatusOK, body)
			if list, _ := body["messages"].([]any); len(list) > 0 {
				return false
			}
		}
		return true
	}
	waitFor(t, "the survivor draining the killed replica's accounts", drained)
	if owner := leaseOwner(t, url, ws.id, phones[0]); owner != names[1-victim] {
		t.Errorf("the first account's lease is held by %q after the drain, want the survivor %s", owner, names[1-victim])
	}
	p := procs[1-victim]
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.exit; err != nil {
		t.Fatalf("the survivor exited with %v after SIGTERM", err)
	}
	if out, err := exec.Command(bin, "check").CombinedOutput(); err != nil {
		t.Fatalf("wagate check (WAGATE_DATABASE_URL) after the kill: %v\n%s", err, out)
	}
	counts := verifyReplicaRun(t, url, ws.id, both, load, replicaOutboxes(t, dirs))
	t.Logf("two replicas: killed %s after %d accepts; %s", names[victim], replicaKillAfter, counts)
}

// replicaOutboxes counts the whole lines of each message id in the dryrun
// outboxes of all the replicas together: a message sent by both would
// show twice.
func replicaOutboxes(t *testing.T, dirs []string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, dir := range dirs {
		for id, c := range outboxCount(t, dir) {
			n[id] += c
		}
	}
	return n
}

// leaseOwner is the replica holding an account's lease now, "" for none.
func leaseOwner(t *testing.T, url, ws, phone string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owner string
	err = conn.QueryRow(ctx, `SELECT owner FROM account_leases WHERE workspace_id = $1 AND phone = $2 AND expires_at > now()`, ws, phone).Scan(&owner)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	return owner
}

// replicaCounts is what the two-replica test prints.
type replicaCounts struct {
	requests, accepted, connErrors, sent, failedInterrupted, failedWrittenBeforeKill int
}

func (c replicaCounts) String() string {
	return fmt.Sprintf("requests=%d accepted(200)=%d connection-errors(retried on the other replica)=%d sent=%d failed-refunded(interrupted)=%d of-which-in-the-killed-outbox=%d",
		c.requests, c.accepted, c.connErrors, c.sent, c.failedInterrupted, c.failedWrittenBeforeKill)
}

// verifyReplicaRun reads the database after the run and checks SPEC §6
// across replicas: every 200 has its message, ended sent or failed as
// interrupted (refunded), no key has two messages, every sent message is
// in the outboxes once and a failed one at most once (written by the
// killed replica before it could record the send: counted failed, never
// sent twice), and the credits add up.
func verifyReplicaRun(t *testing.T, url, wsID string, both []string, load *replicaLoad, outbox map[string]int) replicaCounts {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := db.FindWorkspace(ctx, wsID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := db.ListMessages(ctx, wsID, "", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	load.mu.Lock()
	defer load.mu.Unlock()
	c := replicaCounts{requests: len(load.keys), connErrors: load.connErrors}
	want := map[string]bool{} // message ids answered 200
	for _, id := range both {
		want[id] = true
	}
	for _, id := range load.keys {
		if id != "" {
			c.accepted++
			want[id] = true
		}
	}
	seen := map[string]bool{}
	var spent int64
	for _, m := range msgs {
		seen[m.ID] = true
		if !want[m.ID] {
			t.Errorf("message %s (%q) exists, but no request was answered 200 with it", m.ID, m.Text)
		}
		if key, ok := strings.CutPrefix(m.Text, "load "); ok && load.keys[key] != m.ID {
			t.Errorf("key %s was answered %q, but its message is %s: a retry on the other replica was accepted twice", key, load.keys[key], m.ID)
		}
		switch m.Status {
		case wagate.StatusSent:
			c.sent++
			spent += m.Credits
			if outbox[m.ID] != 1 {
				t.Errorf("sent message %s is in the replicas' outboxes %d times, want once", m.ID, outbox[m.ID])
			}
		case wagate.StatusFailed:
			if !strings.HasPrefix(m.Error, "interrupted:") {
				t.Errorf("message %s failed with %q; only sends the kill interrupted may fail", m.ID, m.Error)
			}
			c.failedInterrupted++
			switch outbox[m.ID] {
			case 0:
			case 1:
				c.failedWrittenBeforeKill++
			default:
				t.Errorf("failed message %s is in the replicas' outboxes %d times", m.ID, outbox[m.ID])
			}
		default:
			t.Errorf("message %s ended %s after the drain, want sent or failed", m.ID, m.Status)
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("message %s was answered 200 but is not in the database: lost", id)
		}
	}
	for id, n := range outbox {
		if !seen[id] {
			t.Errorf("the outboxes hold %d sends of %s, which is no stored message", n, id)
		}
	}
	if w.Credits+spent != replicaCredits {
		t.Errorf("balance %d + %d credits of sent messages = %d, want the %d granted", w.Credits, spent, w.Credits+spent, replicaCredits)
	}
	if c.accepted < replicaRequests/2 || c.sent == 0 {
		t.Errorf("the load was too thin to prove anything: %s", c)
	}
	return c
}

// replicaLoad is the clients' shared state: replicaRequests requests, each
// under its own Idempotency-Key, spread over both replicas; a request
// whose connection failed (the kill) is sent again, same key, to the
// other replica.
type replicaLoad struct {
	ins    []*instance
	ws     workspaceSetup
	phones []string
	http   *http.Client
	next   atomic.Int64
	down   [2]atomic.Bool // the test killed it

	killOnce sync.Once
	killNow  chan struct{} // closed at replicaKillAfter 200s

	mu         sync.Mutex
	keys       map[string]string // key -> message id of its 200 ("" before)
	connErrors int
	unexpected []string
}

func newReplicaLoad(ins []*instance, ws workspaceSetup, phones []string) *replicaLoad {
	return &replicaLoad{ins: ins, ws: ws, phones: phones, http: &http.Client{Timeout: 30 * time.Second},
		killNow: make(chan struct{}), keys: map[string]string{}}
}

func (l *replicaLoad) acceptedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, id := range l.keys {
		if id != "" {
			n++
		}
	}
	return n
}

// client posts until replicaRequests requests were made in all.
func (l *replicaLoad) client(c int) {
	for {
		n := l.next.Add(1)
		if n > replicaRequests {
			return
		}
		key := fmt.Sprintf("k%d", n)
		body, _ := json.Marshal(map[string]any{"action": "send", "whatsapp_account_phone": l.phones[n%2],
			"phone": "+14155552671", "text": "load " + key})
		l.mu.Lock()
		l.keys[key] = ""
		l.mu.Unlock()
		l.post(int(n+int64(c))%2, key, body)
	}
}

// post sends one request until a replica answers it, switching replicas
// after a connection error or a 503.
func (l *replicaLoad) post(first int, key string, body []byte) {
	r := first
	if l.down[r].Load() {
		r = 1 - r
	}
	for try := 0; try < 20; try++ {
		status, id, err := l.do(l.ins[r].base+path(l.ws.inboundURL), key, body)
		l.mu.Lock()
		switch {
		case err != nil || status == http.StatusServiceUnavailable:
			l.connErrors++
			l.mu.Unlock()
			r = 1 - r
			continue
		case status == http.StatusOK:
			l.keys[key] = id
			accepted := 0
			for _, id := range l.keys {
				if id != "" {
					accepted++
				}
			}
			l.mu.Unlock()
			if accepted >= replicaKillAfter {
				l.killOnce.Do(func() { close(l.killNow) })
			}
			return
		default:
			l.unexpected = append(l.unexpected, fmt.Sprintf("key %s: status %d", key, status))
			l.mu.Unlock()
			return
		}
	}
	l.mu.Lock()
	l.unexpected = append(l.unexpected, fmt.Sprintf("key %s: no replica answered in 20 tries", key))
	l.mu.Unlock()
}

// do sends one inbound request; err is any failure to get a whole answer.
func (l *replicaLoad) do(url, key string, body []byte) (status int, id string, err error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := l.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, "", nil
	}
	var ok acceptedAnswer
	if err := json.Unmarshal(raw, &ok); err != nil || !strings.HasPrefix(ok.Data.MessageID, "wa_backend:") {
		return 0, "", errors.Join(errors.New("a 200 without a message id"), err)
	}
	return resp.StatusCode, ok.Data.MessageID, nil
}
