package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate/store/postgres"
)

// The replica crash harness's knob: `go test` (and so `make test`) runs a
// few kills; `make crashtest-replicas` runs many. It shares -crash.seed
// with TestCrashHarness.
var crashReplicaKills = flag.Int("crash.replica-kills", 6, "TestCrashHarnessReplicas: how many times to kill -9 one of the two replicas under load")

// crashReplicaWorkspaces is how many workspaces the replica harness loads,
// each with two dryrun accounts: enough accounts that both replicas hold
// leases at once, so a kill catches some of them mid-send.
const crashReplicaWorkspaces = 3

// TestCrashHarnessReplicas is SPEC §12's durability promise under load:
// TestCrashHarness's clients (keyed text and file messages, some files
// 404s) post to two real wagate processes on one throwaway PostgreSQL,
// round the two, and a seeded schedule kills one of them, either, with
// SIGKILL at random moments, crash.replica-kills times, and restarts it:
// half the time under its old replica name (it renews its predecessor's
// leases at once and recovers each account), half under a new one (its
// accounts are taken over, by whichever replica claims first, once their
// leases expire: --lease-ttl 1s). A request cut by a kill is sent again,
// same key, to whichever replica is up. At the end the queues drain and
// the harness checks, against the database:
//   - every request answered 200 has its message, ended sent or failed
//     and refunded (a 404 file, or a send the kill interrupted), no key has
//     two messages, and every stored message is one a key got a 200 for;
//   - the dryrun outbox both replicas share (--dryrun-shared-outbox)
//     holds each sent message exactly once and no failed one: a message a
//     killed replica had in sending is confirmed at the takeover with
//     that outbox (sent if its line is there, sent again once if not), so
//     none that went out is failed and refunded;
//   - credits add up: granted = balance + credits of the sent messages
//     (none held: nothing is queued or sending after the drain);
//   - every accepted key, replayed to either replica, answers 200 with
//     the same message id and Idempotent-Replayed;
//   - `wagate check --database-url` passes.
func TestCrashHarnessReplicas(t *testing.T) {
	if *crashReplicaKills < 1 {
		t.Fatalf("-crash.replica-kills=%d: want at least 1", *crashReplicaKills)
	}
	seed := *crashSeed
	if seed == 0 {
		seed = mathrand.Uint64()
	}
	t.Logf("replica crash harness: %d kills, seed %d (replay with: go test -run 'TestCrashHarnessReplicas$' -v ./cmd/wagate/ -crash.replica-kills=%d -crash.seed=%d)",
		*crashReplicaKills, seed, *crashReplicaKills, seed)
	rng := mathrand.New(mathrand.NewPCG(seed, seed^0x5eed))

	ctx := context.Background()
	url := newPGDatabase(t)
	t.Setenv("WAGATE_DATABASE_URL", url) // the children inherit the environment
	t.Setenv(EnvTestSendDelay, "")       // real sends: milliseconds
	// A message the killed replica had in sending whose line is not in
	// the outbox is sent again once its send cannot be under way any
	// more, SendTimeout after it started: 2 s here, not 2 minutes.
	t.Setenv(EnvTestSendTimeout, "2s")

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

	bin := buildBinary(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	// One dryrun outbox for both replicas: a replica taking an account
	// over reads in it what the killed one's send did.
	sharedDir := t.TempDir()
	start := func(i int, name string, k int) *process {
		t.Helper()
		return startProcess(t, bin, "--data", dirs[i], "--replica", name, "--lease-ttl", "1s",
			"--dryrun-shared-outbox", filepath.Join(sharedDir, dryrunOutboxFile),
			"--send-interval", "30ms", "--send-jitter", "10ms", "--inbound-rate", "100000", "--inbound-burst", "100000",
			"--allow-private-file-urls", "--seed", strconv.FormatUint(seed+uint64(k), 10))
	}
	names := []string{"r0", "r1"}
	procs := []*process{start(0, names[0], 0), start(1, names[1], 0)}
	first := &instance{t: t, base: "http://" + procs[0].addr}
	second := &instance{t: t, base: "http://" + procs[1].addr}
	op := operatorToken(t, dirs[0])
	var workspaces []workspaceSetup
	for i := range crashReplicaWorkspaces {
		ws := createWorkspace(t, first, op, crashCredits) // with the dryrun account +15105566777
		// The second account through the other replica: both serve one database.
		st, body := call(t, "POST", second.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": "+14155550123", "transport": "dryrun"})
		mustStatus(t, fmt.Sprintf("second account of workspace %d", i), st, http.StatusCreated, body)
		workspaces = append(workspaces, ws)
	}

	live := newLiveBase(first.base, second.base)
	rec := &crashRecord{keys: map[string]*crashKey{}}
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for c := range crashClients {
		cl := &crashClient{id: c, rng: mathrand.New(mathrand.NewPCG(rng.Uint64(), uint64(c))), live: live, rec: rec, stop: stop,
			workspaces: workspaces, files: files.URL, http: &http.Client{Timeout: 30 * time.Second}}
		clients.Go(cl.run)
	}

	renamed := 0
	for k := 1; k <= *crashReplicaKills; k++ {
		// A quarter of the kills land within 30 ms of the last start,
		// while a replica recovers the accounts it takes; the rest
		// anywhere in most of a second of load, some of them after a
		// lease of a killed replica expired.
		up := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
		if rng.IntN(4) > 0 {
			up = 30*time.Millisecond + time.Duration(rng.Int64N(int64(870*time.Millisecond)))
		}
		victim := rng.IntN(2)
		rename := rng.IntN(2) == 0
		time.Sleep(up) // the moment of the kill is what is random here
		if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-procs[victim].exit
		live.set(victim, "")
		if rename {
			names[victim] = fmt.Sprintf("r%d-%d", victim, k)
			renamed++
		}
		procs[victim] = start(victim, names[victim], k)
		live.set(victim, "http://"+procs[victim].addr)
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

	// Both replicas drain every queue; the accounts of a replica killed
	// under a name no process has any more wait for their leases to
	// expire. The bound only keeps a broken build from hanging.
	in := &instance{t: t, base: "http://" + procs[0].addr}
	deadline := time.Now().Add(3 * time.Minute)
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
	replays := replayCrashKeys(t, live, workspaces, rec)
	claims, accounts := leaseClaims(t, url)

	for i, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := <-p.exit; err != nil {
			t.Fatalf("replica %s exited with %v after SIGTERM", names[i], err)
		}
	}
	if out, err := exec.Command(bin, "check", "--database-url", url).CombinedOutput(); err != nil {
		t.Fatalf("wagate check --database-url after %d kills: %v\n%s", *crashReplicaKills, err, out)
	}

	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var c crashCounts
	rec.mu.Lock()
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
	// The shared outbox holds every send. A failed message is never in
	// it: the replica taking an account over confirmed every send the
	// killed one had made.
	outbox := replicaOutboxes(t, []string{sharedDir})
	checkCrashMessages(t, db, workspaces, rec, outbox, &c, nil)
	rec.mu.Unlock()
	c.kills = *crashReplicaKills
	t.Logf("replica crash harness result: %s confirmed-sent-at-takeover=%d requeued-at-takeover=%d restarted-under-a-new-name=%d lease-claims=%d takeovers=%d (claims after the first of each of %d accounts) replays=%d",
		c, c.confirmedAfterCrash, c.requeuedAfterCrash, renamed, claims, claims-accounts, accounts, replays)
	if c.sent == 0 || c.badFiles == 0 || c.files == 0 {
		t.Errorf("the load was too thin to prove anything: %s", c)
	}
}

// replayCrashKeys sends every key answered 200 again, same body, to the
// replicas in turn, and checks each answers 200 with the message id of
// the first answer, marked Idempotent-Replayed: an idempotency record
// lives in the database, so it holds across replicas and kills. It
// returns how many it replayed.
func replayCrashKeys(t *testing.T, live *liveBase, workspaces []workspaceSetup, rec *crashRecord) int {
	t.Helper()
	inbound := map[string]string{} // workspace id → inbound path
	for _, ws := range workspaces {
		inbound[ws.id] = path(ws.inboundURL)
	}
	type replay struct{ key, ws, id string }
	var keys []replay
	var bodies [][]byte
	rec.mu.Lock()
	for key, k := range rec.keys {
		if k.id != "" {
			keys = append(keys, replay{key, k.ws, k.id})
			bodies = append(bodies, k.body)
		}
	}
	rec.mu.Unlock()
	cl := &crashClient{http: &http.Client{Timeout: 30 * time.Second}}
	for i, r := range keys {
		base, _ := live.get()
		status, id, replayed, err := cl.do(base+inbound[r.ws], r.key, bodies[i])
		switch {
		case err != nil:
			t.Errorf("replay of key %s on %s: %v", r.key, base, err)
		case status != http.StatusOK || id != r.id || !replayed:
			t.Errorf("replay of key %s on %s: status %d, id %q, replayed %v; want 200 with %s, replayed", r.key, base, status, id, replayed, r.id)
		}
	}
	return len(keys)
}

// leaseClaims reads the account leases: a claim adds one to a lease's
// epoch, so the epochs add up to every claim of the run, and each account
// beyond its first claim was taken over (from a dead replica, or a new
// name of a restarted one) that many times.
func leaseClaims(t *testing.T, url string) (claims, accounts int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(epoch), 0), count(*) FROM account_leases`).Scan(&claims, &accounts); err != nil {
		t.Fatal(err)
	}
	return claims, accounts
}
