package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate/store/postgres/pgtest"
)

// newPGDatabase starts a throwaway PostgreSQL for t, stopped when t ends
// (t fails, never skips, when it cannot start), and returns the URL of an
// empty database on it.
func newPGDatabase(t *testing.T) string {
	t.Helper()
	cluster, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)
	url, err := cluster.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// replicaConfig is a test Config of a replica called name on the database
// at url, with a short lease so that takeovers come quickly.
func replicaConfig(t *testing.T, url, name string) Config {
	cfg := testConfig(t.TempDir(), 10*time.Millisecond, 0)
	cfg.DatabaseURL, cfg.Replica, cfg.LeaseTTL = url, name, 2*time.Second
	return cfg
}

// startPG starts wagate in-process on the PostgreSQL database of
// cfg.DatabaseURL, with its log (JSON, debug) and its printout kept, so
// the test can read both for secrets.
func startPG(t *testing.T, cfg Config) (*instance, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	log, err := newLogger("debug", logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	app, err := Start(ctx, cfg, out, log)
	if err != nil {
		cancel()
		t.Fatalf("Start: %v\n%s", err, logs)
	}
	in := &instance{t: t, app: app, cancel: cancel, out: out, base: "http://" + app.Addr()}
	t.Cleanup(func() { in.stop() })
	return in, logs
}

// `wagate serve --database-url`: two replicas on one database share its
// one operator token, made and printed by the first replica only, never
// rotated by a start; what one replica writes the other reads; and the
// URL's password shows in no printout, log line or error.
func TestServePostgresReplicasShareTheOperatorToken(t *testing.T) {
	url := newPGDatabase(t)
	// trust authentication ignores the password: it is there to be hidden.
	const password = "s3cretPassw0rd"
	url = strings.Replace(url, "postgres://postgres@", "postgres://postgres:"+password+"@", 1)
	noPassword := func(what, s string) {
		t.Helper()
		if strings.Contains(s, password) {
			t.Errorf("%s shows the database URL's password:\n%s", what, s)
		}
	}

	cfg1, cfg2 := replicaConfig(t, url, "r1"), replicaConfig(t, url, "r2")
	r1, logs1 := startPG(t, cfg1)
	op := operatorToken(t, cfg1.DataDir)
	if out := r1.out.String(); !strings.Contains(out, "Operator token of the database") || !strings.Contains(out, op) {
		t.Errorf("the first replica printed %q; want the operator token it made, once", out)
	}
	r2, logs2 := startPG(t, cfg2)
	if out := r2.out.String(); strings.Contains(out, op) || !strings.Contains(out, "operator.token in its --data folder") {
		t.Errorf("the second replica printed %q; want where to find the database's token, not the token", out)
	}
	if _, err := os.Stat(filepath.Join(cfg2.DataDir, operatorTokenFile)); !os.IsNotExist(err) {
		t.Errorf("the second replica has an operator token file (%v); the database's token is the first replica's", err)
	}

	// The first replica's token works on the second; what the second
	// made, the first reads.
	ws := createWorkspace(t, r2, op, 5)
	st, body := call(t, "GET", r1.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, nil)
	mustStatus(t, "list accounts on the other replica", st, http.StatusOK, body)
	if list, _ := body["accounts"].([]any); len(list) != 1 {
		t.Errorf("the other replica lists %d accounts, want the 1 made through the first: %v", len(list), body)
	}
	id := send(t, r1.base+path(ws.inboundURL), map[string]any{"action": "send", "phone": "+14155552671", "text": "hello"})
	waitFor(t, "the message sent by one of the replicas", func() bool { return messageStatus(t, r2, ws, id) == "sent" })

	// A restart of the first replica keeps the token (no rotation) and
	// prints nothing.
	r1.stop()
	r1, logs1b := startPG(t, cfg1)
	if out := r1.out.String(); strings.Contains(out, op) {
		t.Errorf("the restarted replica printed the token again: %q", out)
	}
	st, body = call(t, "GET", r2.base+"/api/v1/workspaces", op, nil)
	mustStatus(t, "the operator token after a replica's restart", st, http.StatusOK, body)
	r1.stop()
	r2.stop()
	for _, l := range []*lockedBuffer{logs1, logs2, logs1b} {
		noPassword("a replica's log", l.String())
		if !strings.Contains(l.String(), `"replica":"r`) {
			t.Errorf("the log does not name the replica:\n%s", l)
		}
	}

	// Errors name the database by host and name, never with the password.
	cfg := replicaConfig(t, url, "r3")
	cfg.DatabaseURL = "postgres://postgres:" + password + "@127.0.0.1:1/wagate?connect_timeout=5"
	_, err := Start(context.Background(), cfg, &lockedBuffer{}, newTestLogger(t))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1/wagate") {
		t.Errorf("Start on a closed port = %v; want an error naming the database", err)
	} else {
		noPassword("the error of a database that cannot be reached", err.Error())
	}
	cfg.DatabaseURL = "postgres://postgres:" + password + "@[::1"
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "--database-url: not a valid postgres://") {
		t.Errorf("Validate of a malformed URL = %v; want the flag and the form named", err)
	} else {
		noPassword("the error of a malformed URL", err.Error())
	}
}

// newTestLogger is a logger that drops everything: the test reads errors.
func newTestLogger(t *testing.T) *zap.Logger {
	t.Helper()
	log, err := newLogger("error", &lockedBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func TestConfigValidateDatabase(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want string // "" = valid
	}{
		{"bbolt", func(*Config) {}, ""},
		{"postgres", func(c *Config) { c.DatabaseURL = "postgres://u:p@db.internal/wagate" }, ""},
		{"postgres with replica and ttl", func(c *Config) {
			c.DatabaseURL, c.Replica, c.LeaseTTL = "postgresql://db/wagate", "a", 10*time.Second
		}, ""},
		{"replica without database", func(c *Config) { c.Replica = "a" }, "--replica: only with --database-url"},
		{"lease ttl without database", func(c *Config) { c.LeaseTTL = time.Minute }, "--lease-ttl: only with --database-url"},
		{"shared outbox without database", func(c *Config) { c.DryrunSharedOutbox = "/srv/outbox.jsonl" }, "--dryrun-shared-outbox: only with --database-url"},
		{"postgres with a shared outbox", func(c *Config) { c.DatabaseURL, c.DryrunSharedOutbox = "postgres://db/wagate", "/srv/outbox.jsonl" }, ""},
		{"not postgres", func(c *Config) { c.DatabaseURL = "mysql://u:p@db/wagate" }, "--database-url: not a valid postgres://"},
		{"lease ttl too short", func(c *Config) { c.DatabaseURL, c.LeaseTTL = "postgres://db/wagate", 100*time.Millisecond }, "--lease-ttl 100ms: give at least 1s"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		tt.set(&cfg)
		err := cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate = %v, want valid", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: Validate = %v, want an error with %q", tt.name, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "u:p@"):
			t.Errorf("%s: the error shows the URL: %v", tt.name, err)
		}
	}
	if got := leaseEvery(2 * time.Second); got != 500*time.Millisecond {
		t.Errorf("leaseEvery(2s) = %s, want a quarter of the TTL", got)
	}
	if got := leaseEvery(0); got != 5*time.Second {
		t.Errorf("leaseEvery(default TTL) = %s, want the sender's default round", got)
	}
}
