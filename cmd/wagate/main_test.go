package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap/zaptest"
)

// The tests here start the whole of wagate (store file, sender, HTTP server
// on 127.0.0.1:0) and drive it only over HTTP, as an integrator would.

// lockedBuffer collects what wagate prints for the person who started it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testConfig returns a config for a test instance in dir with a fast pace.
func testConfig(dir string, interval, jitter time.Duration) Config {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.SendInterval = interval
	cfg.SendJitter = jitter
	cfg.Seed = 1
	return cfg
}

// instance is one running App and how to stop it.
type instance struct {
	t      *testing.T
	app    *App
	cancel context.CancelFunc
	out    *lockedBuffer
	base   string
}

func start(t *testing.T, cfg Config) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	app, err := Start(ctx, cfg, out, zaptest.NewLogger(t))
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	in := &instance{t: t, app: app, cancel: cancel, out: out, base: "http://" + app.Addr()}
	t.Cleanup(func() { in.stop() })
	return in
}

// stop shuts the instance down as SIGTERM would and checks it ends cleanly.
func (in *instance) stop() {
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.cancel = nil
	if err := in.app.Wait(); err != nil {
		in.t.Errorf("Wait: %v", err)
	}
}

// call sends a JSON request and decodes a JSON answer into a map.
func call(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, redact(url), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	checkOpenAPI(t, method, url, resp.StatusCode, resp.Header, raw)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v: %s", method, redact(url), err, raw)
		}
	}
	return resp.StatusCode, out
}

// redact keeps inbound tokens out of test output, as wagate keeps them out of logs.
func redact(url string) string {
	if i := strings.Index(url, "/inbound/"); i >= 0 {
		return url[:i] + "/inbound/…"
	}
	return url
}

func mustStatus(t *testing.T, what string, got, want int, body map[string]any) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d; body %v", what, got, want, body)
	}
}

// waitFor calls cond every 20 ms until it is true or a minute has passed:
// the bound only keeps a broken build from hanging (CI shares two cores, so
// a healthy wait may take many seconds); no result depends on speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func operatorToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, operatorTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// logoPNG is a 1×1 PNG: the file of the second reference request.
var logoPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

// outboxLine is one line of the dryrun outbox, as SPEC §2 defines it.
type outboxLine struct {
	At         time.Time `json:"at"`
	Account    string    `json:"account"`
	To         string    `json:"to"`
	MessageID  string    `json:"message_id"`
	Text       string    `json:"text"`
	FileName   string    `json:"file_name"`
	FileType   string    `json:"file_type"`
	FileBytes  *int64    `json:"file_bytes"`
	FileSHA256 *string   `json:"file_sha256"`
}

func readOutbox(t *testing.T, dir string) []outboxLine {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, dryrunOutboxFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []outboxLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l outboxLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("outbox line %q: %v", sc.Text(), err)
		}
		if l.FileBytes == nil || l.FileSHA256 == nil {
			t.Fatalf("outbox line %q lacks file_bytes or file_sha256", sc.Text())
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// workspaceSetup is a workspace made over the admin API.
type workspaceSetup struct {
	id, ownerToken, inboundURL string
}

func createWorkspace(t *testing.T, in *instance, opToken string, credits int) workspaceSetup {
	t.Helper()
	st, ws := call(t, "POST", in.base+"/api/v1/workspaces", opToken, map[string]any{"name": "acme", "credits": credits})
	mustStatus(t, "create workspace", st, http.StatusCreated, ws)
	webhook, _ := ws["webhook"].(map[string]any)
	setup := workspaceSetup{id: str(ws["id"]), ownerToken: str(ws["owner_token"]), inboundURL: str(webhook["url"])}
	if setup.id == "" || setup.ownerToken == "" || !strings.HasPrefix(setup.inboundURL, in.base+"/inbound/") {
		t.Fatalf("workspace answer lacks id, owner_token or an inbound URL on %s: %v", in.base, ws)
	}
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+setup.id+"/accounts", setup.ownerToken,
		map[string]any{"phone": "+15105566777", "transport": "dryrun"})
	mustStatus(t, "connect account", st, http.StatusCreated, acct)
	return setup
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func messageStatus(t *testing.T, in *instance, ws workspaceSetup, id string) string {
	st, m := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/messages/"+id, ws.ownerToken, nil)
	mustStatus(t, "get message", st, http.StatusOK, m)
	return str(m["status"])
}

func send(t *testing.T, url string, body map[string]any) string {
	t.Helper()
	st, resp := call(t, "POST", url, "", body)
	mustStatus(t, fmt.Sprintf("inbound %v", body), st, http.StatusOK, resp)
	data, _ := resp["data"].(map[string]any)
	id := str(data["message_id"])
	if resp["status"] != "success" || !strings.HasPrefix(id, "wa_backend:") {
		t.Fatalf("inbound answer %v is not a success with a message id", resp)
	}
	return id
}

// TestEndToEnd is the user's walk-through: create a workspace, connect a
// dryrun account, import a chat, send SPEC §1's two reference requests, and
// see both in the outbox, paced, with the credits charged.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream") // sniffed, not trusted
		w.Write(logoPNG)
	}))
	defer files.Close()
	const interval, jitter = 200 * time.Millisecond, 50 * time.Millisecond
	cfg := testConfig(dir, interval, jitter)
	cfg.AllowPrivateFileURLs = true // the file server is on loopback
	in := start(t, cfg)
	if !strings.Contains(in.out.String(), "Operator token") {
		t.Errorf("first start did not print the operator token: %q", in.out.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, operatorTokenFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("operator token file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	op := operatorToken(t, dir)
	ws := createWorkspace(t, in, op, 10)

	st, chat := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/chats", ws.ownerToken,
		map[string]any{"account_phone": "+15105566777", "phone": "+14155552671", "name": "Jane Roe"})
	mustStatus(t, "import chat", st, http.StatusCreated, chat)
	chatID := str(chat["id"])

	first := send(t, ws.inboundURL, map[string]any{"action": "send", "whatsapp_account_phone": "+15105566777", "phone": "+14155552671", "text": "lorem ipsum"})
	second := send(t, ws.inboundURL, map[string]any{"action": "send", "chat_id": chatID, "text": "lorem ipsum", "file_url": files.URL + "/logo.png", "file_name": "logo.png"})

	waitFor(t, "both messages sent", func() bool {
		return messageStatus(t, in, ws, first) == "sent" && messageStatus(t, in, ws, second) == "sent"
	})
	lines := readOutbox(t, dir)
	if len(lines) != 2 {
		t.Fatalf("outbox has %d lines, want 2: %+v", len(lines), lines)
	}
	for i, want := range []struct{ id, file string }{{first, ""}, {second, "logo.png"}} {
		l := lines[i]
		if l.MessageID != want.id || l.Account != "+15105566777" || l.To != "14155552671@s.whatsapp.net" || l.Text != "lorem ipsum" || l.FileName != want.file {
			t.Errorf("outbox line %d = %+v, want message %s to 14155552671@s.whatsapp.net from +15105566777 with file %q", i, l, want.id, want.file)
		}
	}
	sum := sha256.Sum256(logoPNG)
	if l := lines[1]; l.FileType != "image/png" || *l.FileBytes != int64(len(logoPNG)) || *l.FileSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("the file sent = %s, %d bytes, sha256 %s; want the served PNG (%d bytes)", l.FileType, *l.FileBytes, *l.FileSHA256, len(logoPNG))
	}
	if gap := lines[1].At.Sub(lines[0].At); gap < interval-jitter {
		t.Errorf("second send %s after the first; the pace allows no less than %s", gap, interval-jitter)
	}

	st, got := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id, ws.ownerToken, nil)
	mustStatus(t, "get workspace", st, http.StatusOK, got)
	if got["credits"] != float64(10-1-2) {
		t.Errorf("credits = %v, want 7 (1 for text, 2 for text and file)", got["credits"])
	}
	st, att := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/webhook/attempts", ws.ownerToken, nil)
	mustStatus(t, "attempts", st, http.StatusOK, att)
	attempts, _ := att["attempts"].([]any)
	if len(attempts) != 2 {
		t.Fatalf("attempts = %d, want 2", len(attempts))
	}
	newest, _ := attempts[0].(map[string]any)
	if newest["message_id"] != second || newest["send_status"] != "sent" || newest["http_status"] != float64(200) {
		t.Errorf("newest attempt = %v; want message %s, send_status sent, http_status 200", newest, second)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		if st, body := call(t, "GET", in.base+path, "", nil); st != http.StatusOK {
			t.Errorf("GET %s = %d %v", path, st, body)
		}
	}
	resp, err := http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(metrics, []byte("go_goroutines")) {
		t.Errorf("GET /metrics = %d, %d bytes without go_goroutines", resp.StatusCode, len(metrics))
	}
	for _, want := range []string{"wagate_queue_depth 0", `wagate_messages_waiting{reason="scheduled"} 0`, `wagate_messages_waiting{reason="daily_limit"} 0`, `wagate_sender_sends_total{result="sent"} 2`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	// The store's writer: 2 accepts and, for each of the 2 sends,
	// MarkSending and MarkSent went through its group commits.
	writer := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(wagate_store_commit\w*) (\S+)$`).FindAllSubmatch(metrics, -1) {
		writer[string(m[1])], _ = strconv.ParseFloat(string(m[2]), 64)
	}
	if writer["wagate_store_commits_total"] < 1 || writer["wagate_store_commit_functions_total"] < 6 || writer["wagate_store_commit_busy_seconds_total"] <= 0 {
		t.Errorf("store writer metrics %v: want at least 1 commit carrying at least 6 writes, and busy time", writer)
	}

	in.stop()
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--data", dir}, &out, &errOut, noEnv); code != 0 {
		t.Errorf("wagate check = %d: %s%s", code, out.String(), errOut.String())
	}
}

// TestRestartResumesQueueInOrder stops wagate with messages still queued
// behind a long pace and checks a new Run on the same folder sends them
// all, in order, once each.
func TestRestartResumesQueueInOrder(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, time.Hour, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 100)
	var ids []string
	for i := 1; i <= 5; i++ {
		ids = append(ids, send(t, ws.inboundURL, map[string]any{"action": "send", "phone": "+14155552671", "text": fmt.Sprintf("m%d", i)}))
	}
	waitFor(t, "the first message sent", func() bool { return messageStatus(t, in, ws, ids[0]) == "sent" })
	if got := messageStatus(t, in, ws, ids[1]); got != "queued" {
		t.Fatalf("second message is %q while the account waits an hour; want queued", got)
	}
	in.stop()

	in = start(t, testConfig(dir, 20*time.Millisecond, 0))
	waitFor(t, "the last message sent after the restart", func() bool { return messageStatus(t, in, ws, ids[4]) == "sent" })
	lines := readOutbox(t, dir)
	if len(lines) != 5 {
		t.Fatalf("outbox has %d lines, want 5 (each message once): %+v", len(lines), lines)
	}
	for i, l := range lines {
		if l.MessageID != ids[i] || l.Text != fmt.Sprintf("m%d", i+1) {
			t.Errorf("outbox line %d = %s %q, want %s m%d", i, l.MessageID, l.Text, ids[i], i+1)
		}
	}
}

// TestDemo checks `serve --demo`: a ready inbound URL and a curl line whose
// body is accepted, and the same workspace again on a second start.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, 20*time.Millisecond, 0)
	cfg.Demo = true
	in := start(t, cfg)
	url, body := demoCurl(t, in.out.String())
	var req map[string]any
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("curl body %q: %v", body, err)
	}
	id := send(t, url, req)
	waitFor(t, "the demo message in the outbox", func() bool {
		lines := readOutbox(t, dir)
		return len(lines) == 1 && lines[0].MessageID == id
	})
	in.stop()

	in = start(t, cfg)
	if strings.Contains(in.out.String(), "Operator token") || strings.Contains(in.out.String(), "Created the demo workspace") {
		t.Errorf("second start printed new tokens: %q", in.out.String())
	}
	url2, _ := demoCurl(t, in.out.String())
	if path(url2) != path(url) {
		t.Error("second start printed another inbound URL; want the demo workspace reused")
	}
}

// demoCurl finds the curl line that --demo prints and returns its URL and body.
func demoCurl(t *testing.T, out string) (url, body string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "curl ") {
			continue
		}
		parts := strings.Split(line, "'")
		if len(parts) < 6 {
			t.Fatalf("curl line %q has no quoted URL and body", line)
		}
		return parts[1], parts[5]
	}
	t.Fatalf("no curl line in %q", out)
	return "", ""
}

func path(url string) string {
	i := strings.Index(url, "/inbound/")
	if i < 0 {
		return ""
	}
	return url[i:]
}

func noEnv(string) string { return "" }

func TestParseFlagsEnvAndCommandLine(t *testing.T) {
	env := map[string]string{
		"WAGATE_SEND_INTERVAL":           "3s",
		"WAGATE_PHONE_CHECK":             "possible",
		"WAGATE_INBOUND_RATE":            "5",
		"WAGATE_ALLOW_PRIVATE_FILE_URLS": "true",
		"WAGATE_DOWNLOADS_PER_WORKSPACE": "3",
		"WAGATE_TRUSTED_PROXIES":         "10.0.0.0/8,192.0.2.7",
		"WAGATE_MAX_CHATS":               "500",
	}
	cfg := DefaultConfig()
	fs := newServeFlagSet(&cfg)
	if err := parseFlags(fs, []string{"--send-interval", "4s"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.SendInterval != 4*time.Second {
		t.Errorf("send interval = %s; the command line must win over WAGATE_SEND_INTERVAL", cfg.SendInterval)
	}
	if cfg.PhoneCheck != "possible" || cfg.InboundRate != 5 || !cfg.AllowPrivateFileURLs || cfg.DownloadsPerWorkspace != 3 || len(cfg.TrustedProxies) != 2 || cfg.MaxChats != 500 {
		t.Errorf("env not applied: %+v", cfg)
	}

	cfg = DefaultConfig()
	err := parseFlags(newServeFlagSet(&cfg), nil, func(k string) string {
		if k == "WAGATE_SEND_JITTER" {
			return "soon"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "WAGATE_SEND_JITTER") {
		t.Errorf("bad env value: error %v does not name the variable", err)
	}

	// A bad range stops the start with an error naming the flag and the entry.
	cfg = DefaultConfig()
	err = parseFlags(newServeFlagSet(&cfg), []string{"--trusted-proxies", "10.0.0.0/8,proxy.local"}, noEnv)
	if err == nil || !strings.Contains(err.Error(), "trusted-proxies") || !strings.Contains(err.Error(), "proxy.local") {
		t.Errorf("bad --trusted-proxies: error %v, want one naming the flag and the entry", err)
	}
}

func newServeFlagSet(cfg *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	serveFlags(fs, cfg)
	return fs
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		change func(*Config)
		flag   string
	}{
		{func(c *Config) { c.SendInterval = 0 }, "--send-interval"},
		{func(c *Config) { c.SendJitter = 3 * time.Second }, "--send-jitter"},
		{func(c *Config) { c.InboundRate = 0 }, "--inbound-rate"},
		{func(c *Config) { c.InboundBurst = 0 }, "--inbound-burst"},
		{func(c *Config) { c.PublicURL = "example.com" }, "--public-url"},
		{func(c *Config) { c.PhoneCheck = "loose" }, "--phone-check"},
		{func(c *Config) { c.Downloads = 0 }, "--downloads"},
		{func(c *Config) { c.MaxAccounts = 0 }, "--max-accounts"},
		{func(c *Config) { c.MaxChats = -1 }, "--max-chats"},
		{func(c *Config) { c.DownloadsPerWorkspace = 0 }, "--downloads-per-workspace"},
		{func(c *Config) { c.DownloadsPerWorkspace = c.Downloads + 1 }, "--downloads-per-workspace"},
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		tt.change(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.flag) {
			t.Errorf("Validate() = %v; want an error naming %s", err, tt.flag)
		}
	}
}

func TestRunCommandLine(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut, noEnv); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
	if code := run([]string{"frobnicate"}, &out, &errOut, noEnv); code != 2 || !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"check", "--data", t.TempDir()}, &out, &errOut, noEnv); code != 1 || !strings.Contains(errOut.String(), "no store") {
		t.Errorf("check of an empty folder: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"serve", "--send-interval", "-1s"}, &out, &errOut, noEnv); code != 2 || !strings.Contains(errOut.String(), "--send-interval") {
		t.Errorf("serve with a bad flag: exit %d, %q", code, errOut.String())
	}
}

// TestServeFailureStopsEverything: when the HTTP server fails on its own
// (here its listener is closed under it), the sender stops too and Wait
// returns the error instead of hanging.
func TestServeFailureStopsEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := Start(ctx, testConfig(t.TempDir(), time.Second, 0), io.Discard, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	app.ln.Close()
	done := make(chan error, 1)
	go func() { done <- app.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Wait = nil after the server failed; want its error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Wait hangs after the HTTP server failed")
	}
}

// TestOperatorTokenRotation: deleting operator.token and restarting makes a
// new token and revokes the old one.
func TestOperatorTokenRotation(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, time.Second, 0))
	old := operatorToken(t, dir)
	if st, body := call(t, "GET", in.base+"/api/v1/workspaces", old, nil); st != http.StatusOK {
		t.Fatalf("operator token refused: %d %v", st, body)
	}
	in.stop()
	if err := os.Remove(filepath.Join(dir, operatorTokenFile)); err != nil {
		t.Fatal(err)
	}
	in = start(t, testConfig(dir, time.Second, 0))
	fresh := operatorToken(t, dir)
	if fresh == old || !strings.Contains(in.out.String(), fresh) {
		t.Fatalf("restart without operator.token did not make and print a new token")
	}
	if st, _ := call(t, "GET", in.base+"/api/v1/workspaces", old, nil); st != http.StatusUnauthorized {
		t.Errorf("old operator token after rotation: %d, want 401", st)
	}
	if st, body := call(t, "GET", in.base+"/api/v1/workspaces", fresh, nil); st != http.StatusOK {
		t.Errorf("new operator token: %d %v", st, body)
	}
}

// TestCheckReportsADamagedStore: `wagate check` opens the store read-only,
// so a damaged one is reported (exit 1 with the problem), not repaired.
func TestCheckReportsADamagedStore(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, time.Hour, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	send(t, ws.inboundURL, map[string]any{"action": "send", "phone": "+14155552671", "text": "hi"})
	in.stop()

	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--data", dir}, &out, &errOut, noEnv); code != 0 {
		t.Fatalf("check of a sound store = %d: %s%s", code, out.String(), errOut.String())
	}

	db, err := bolt.Open(filepath.Join(dir, storeFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("sending")) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"check", "--data", dir}, &out, &errOut, noEnv); code != 1 || !strings.Contains(out.String(), `bucket "sending" is missing`) {
		t.Errorf("check of a damaged store = %d: %q; want 1 and the missing bucket named", code, out.String())
	}
	if code := run([]string{"check", "--data", dir}, &out, &errOut, noEnv); code != 1 {
		t.Errorf("a second check = %d: the first one repaired the store it should only read", code)
	}
}
