package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The admin command tests run the commands through run(), as main does,
// against a whole wagate started in-process on 127.0.0.1:0.

// cliResult is one command's exit code and output.
type cliResult struct {
	code           int
	stdout, stderr string
}

// wagateCLI runs one command line with env as its environment.
func wagateCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut, func(k string) string { return env[k] })
	return cliResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

// ok runs a command that must succeed and returns its standard output.
func ok(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	r := wagateCLI(t, env, args...)
	if r.code != exitOK {
		t.Fatalf("wagate %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// okJSON runs a command with --json and decodes its output.
func okJSON(t *testing.T, env map[string]string, out any, args ...string) {
	t.Helper()
	stdout := ok(t, env, append(args, "--json")...)
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("wagate %s --json: output is not JSON: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

func mustFail(t *testing.T, r cliResult, code int, stderrHas ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"action":"send","phone":"+14155552671","text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCLIWalkThrough does the README's walk-through with the admin commands
// instead of curl: every command's human output and its --json.
func TestCLIWalkThrough(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, time.Hour, 0)) // nothing is sent: messages stay queued
	op := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_DATA": dir}
	opToken := operatorToken(t, dir)

	var ws struct {
		ID         string `json:"id"`
		Credits    int64  `json:"credits"`
		OwnerToken string `json:"owner_token"`
		Webhook    struct {
			URL     string `json:"url"`
			Enabled bool   `json:"enabled"`
		} `json:"webhook"`
	}
	okJSON(t, op, &ws, "workspace", "create", "acme", "--credits", "100")
	if !strings.HasPrefix(ws.ID, "ws_") || ws.OwnerToken == "" || ws.Credits != 100 || !strings.HasPrefix(ws.Webhook.URL, in.base+"/inbound/") {
		t.Fatalf("workspace create --json = %+v", ws)
	}
	human := ok(t, op, "workspace", "create", "beta")
	for _, want := range []string{`Created workspace "beta"`, "Inbound URL", in.base + "/inbound/", "Owner token (shown only now"} {
		if !strings.Contains(human, want) {
			t.Errorf("workspace create output lacks %q:\n%s", want, human)
		}
	}

	list := ok(t, op, "workspace", "list")
	if !strings.HasPrefix(list, "ID ") || !strings.Contains(list, ws.ID) || !strings.Contains(list, "beta") || strings.Contains(list, opToken) {
		t.Errorf("workspace list:\n%s", list)
	}
	var all struct {
		Workspaces []struct {
			ID string `json:"id"`
		} `json:"workspaces"`
	}
	okJSON(t, op, &all, "workspace", "list")
	if len(all.Workspaces) != 2 {
		t.Errorf("workspace list --json: %d workspaces, want 2", len(all.Workspaces))
	}

	if out := ok(t, op, "credits", "add", "-5", "-w", ws.ID); !strings.Contains(out, "now has 95 credits") {
		t.Errorf("credits add -5: %q", out)
	}
	var after struct {
		Credits int64 `json:"credits"`
	}
	okJSON(t, op, &after, "credits", "add", "10", "--workspace="+ws.ID)
	if after.Credits != 105 {
		t.Errorf("credits after +10 = %d, want 105", after.Credits)
	}

	owner := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_TOKEN": ws.OwnerToken, "WAGATE_WORKSPACE": ws.ID}
	ok(t, owner, "account", "add", "+15105566777")
	if out := ok(t, owner, "account", "list"); !strings.Contains(out, "+15105566777") || !strings.Contains(out, "dryrun") || !strings.Contains(out, "active") {
		t.Errorf("account list:\n%s", out)
	}
	var acct struct {
		Phone  string `json:"phone"`
		Active bool   `json:"active"`
	}
	okJSON(t, owner, &acct, "account", "disable", "+15105566777")
	if acct.Active || acct.Phone != "+15105566777" {
		t.Errorf("account disable --json = %+v", acct)
	}
	if out := ok(t, owner, "account", "enable", "+15105566777"); !strings.Contains(out, "is active") {
		t.Errorf("account enable: %q", out)
	}
	out := ok(t, owner, "account", "set", "+15105566777", "--daily-limit", "200", "--quiet-hours", "21:00-08:00",
		"--warmup-start", "20", "--warmup-growth", "1.3", "--time-zone", "Europe/Berlin", "--send-interval", "5s", "--send-jitter", "1s")
	for _, want := range []string{"at most 200 sends a day", "warm-up from 20 a day, ×1.3", "quiet 21:00-08:00", "Europe/Berlin", "every 5s ± 1s"} {
		if !strings.Contains(out, want) {
			t.Errorf("account set output lacks %q:\n%s", want, out)
		}
	}
	var rules struct {
		DailyLimit int    `json:"daily_limit"`
		QuietHours string `json:"quiet_hours"`
	}
	okJSON(t, owner, &rules, "account", "set", "+15105566777", "--daily-limit", "150")
	if rules.DailyLimit != 150 || rules.QuietHours != "21:00-08:00" {
		t.Errorf("account set --daily-limit 150 --json = %+v, want the quiet hours kept", rules)
	}
	mustFail(t, wagateCLI(t, owner, "account", "set", "+15105566777", "--quiet-hours", "9pm-8am"), exitRefused, "quiet_hours", "HH:MM-HH:MM")
	mustFail(t, wagateCLI(t, owner, "account", "set", "+15105566777"), exitUsage, "nothing to set")
	var accounts struct {
		Accounts []struct {
			Active bool `json:"active"`
		} `json:"accounts"`
	}
	okJSON(t, owner, &accounts, "account", "list")
	if len(accounts.Accounts) != 1 || !accounts.Accounts[0].Active {
		t.Errorf("account list --json = %+v", accounts)
	}

	if out := ok(t, owner, "chat", "add", "--account", "+15105566777", "--phone", "+14155552671", "--name", "Jane Roe"); !strings.Contains(out, `"chat_id":"1"`) {
		t.Errorf("chat add: %q", out)
	}
	var chats struct {
		Chats []struct {
			ID, Name, JID string
		} `json:"chats"`
	}
	okJSON(t, owner, &chats, "chat", "list", "--name", "Jane Roe")
	if len(chats.Chats) != 1 || chats.Chats[0].Name != "Jane Roe" || chats.Chats[0].JID != "14155552671@s.whatsapp.net" {
		t.Errorf("chat list --json = %+v", chats)
	}
	if out := ok(t, owner, "chat", "list"); !strings.Contains(out, "Jane Roe") || !strings.Contains(out, "person") {
		t.Errorf("chat list:\n%s", out)
	}
	// chat list follows next_cursor: every chat, on several pages.
	ok(t, owner, "chat", "add", "--account", "+15105566777", "--phone", "+14155552672", "--name", "Two")
	ok(t, owner, "chat", "add", "--account", "+15105566777", "--phone", "+14155552673", "--name", "Three")
	defer func(n int) { chatPageSize = n }(chatPageSize)
	chatPageSize = 2
	okJSON(t, owner, &chats, "chat", "list")
	if len(chats.Chats) != 3 || chats.Chats[2].Name != "Three" {
		t.Errorf("chat list over pages of 2 = %+v, want the 3 chats", chats)
	}
	chatPageSize = 1000

	if out := ok(t, owner, "webhook", "show"); !strings.Contains(out, ws.Webhook.URL) || !strings.Contains(out, "on: calls are accepted") {
		t.Errorf("webhook show:\n%s", out)
	}
	ok(t, owner, "webhook", "disable")
	if st := httpStatus(t, ws.Webhook.URL); st != http.StatusForbidden {
		t.Errorf("inbound after webhook disable = %d, want 403", st)
	}
	var wh struct {
		URL     string `json:"url"`
		Enabled bool   `json:"enabled"`
	}
	okJSON(t, owner, &wh, "webhook", "show")
	if wh.Enabled || wh.URL != ws.Webhook.URL {
		t.Errorf("webhook show --json after disable = %+v", wh)
	}
	ok(t, owner, "webhook", "enable")
	if st := httpStatus(t, ws.Webhook.URL); st != http.StatusOK {
		t.Errorf("inbound after webhook enable = %d, want 200", st)
	}
	bad, _ := http.Post(ws.Webhook.URL, "application/json", strings.NewReader(`{"action":"send","phone":"+14151231234","text":"x"}`))
	bad.Body.Close()

	attempts := ok(t, owner, "attempts", "list")
	for _, want := range []string{"TIME", "200", "400", "phone +14155552671", "wa_backend:", "accepted (1 credit)", "not a valid phone number"} {
		if !strings.Contains(attempts, want) {
			t.Errorf("attempts list lacks %q:\n%s", want, attempts)
		}
	}
	var att struct {
		Attempts []struct {
			HTTPStatus int `json:"http_status"`
		} `json:"attempts"`
	}
	okJSON(t, owner, &att, "attempts", "list", "--limit", "1")
	if len(att.Attempts) != 1 || att.Attempts[0].HTTPStatus != 400 {
		t.Errorf("attempts list --limit 1 --json = %+v; want the newest, the 400", att)
	}

	csvFile := filepath.Join(t.TempDir(), "log.csv")
	ok(t, owner, "attempts", "download", "--format", "csv", "-o", csvFile)
	f, err := os.Open(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 4 || rows[0][0] != "at" || rows[1][5] != "403" || rows[2][5] != "200" || rows[3][5] != "400" {
		t.Errorf("downloaded CSV = %v, %v; want a header and 403, 200, 400 (oldest first)", rows, err)
	}
	jsonl := ok(t, owner, "attempts", "download", "-o", "-")
	if n := strings.Count(jsonl, "\n"); n != 3 || !strings.HasPrefix(jsonl, "{") {
		t.Errorf("download -o - gave %d lines:\n%s", n, jsonl)
	}
	t.Chdir(t.TempDir())
	var saved struct {
		File  string `json:"file"`
		Bytes int    `json:"bytes"`
	}
	okJSON(t, owner, &saved, "attempts", "download")
	// The same attempts as the download to stdout; their send_status may
	// have moved on meanwhile (an account's first message goes at once).
	if b, err := os.ReadFile(saved.File); err != nil || !strings.HasPrefix(saved.File, "wagate-attempts-"+ws.ID+"-") || !strings.HasSuffix(saved.File, ".jsonl") || len(b) != saved.Bytes || !slices.Equal(requestIDs(string(b)), requestIDs(jsonl)) {
		t.Errorf("download with the server's name: %+v, %v", saved, err)
	}

	var tok struct {
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	okJSON(t, owner, &tok, "token", "create", "--role", "support")
	if tok.Role != "support" || len(tok.Token) != 43 {
		t.Fatalf("token create --json = %+v", tok)
	}
	support := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_TOKEN": tok.Token, "WAGATE_WORKSPACE": ws.ID}
	ok(t, support, "webhook", "show")
	r := wagateCLI(t, support, "webhook", "regenerate", "--yes")
	mustFail(t, r, exitRefused, "HTTP 403", "hint:")
	if strings.Contains(r.stdout+r.stderr, tok.Token) {
		t.Error("a refusal printed the token")
	}

	mustFail(t, wagateCLI(t, owner, "webhook", "regenerate"), exitUsage, "--yes")
	okJSON(t, owner, &wh, "webhook", "regenerate", "--yes")
	if wh.URL == ws.Webhook.URL || !strings.HasPrefix(wh.URL, in.base+"/inbound/") {
		t.Fatalf("regenerate gave %q", redact(wh.URL))
	}
	if st := httpStatus(t, ws.Webhook.URL); st != http.StatusNotFound {
		t.Errorf("old URL after regenerate = %d, want 404", st)
	}
	if st := httpStatus(t, wh.URL); st != http.StatusOK {
		t.Errorf("new URL = %d, want 200", st)
	}

	mustFail(t, wagateCLI(t, owner, "workspace", "set"), exitUsage, "--low-credits")
	if out := ok(t, owner, "workspace", "set", "--low-credits", "7"); !strings.Contains(out, "below 7") {
		t.Errorf("workspace set --low-credits 7 printed %q", out)
	}
	show := ok(t, owner, "workspace", "show")
	for _, want := range []string{ws.ID, "acme", "Credits", "+15105566777 dryrun, active", wh.URL, "Low credits  below 7"} {
		if !strings.Contains(show, want) {
			t.Errorf("workspace show lacks %q:\n%s", want, show)
		}
	}
	if strings.Contains(show, ws.OwnerToken) {
		t.Error("workspace show printed the token")
	}
}

// TestCLIExitCodes checks what scripts rely on: 1 when the server refuses
// (with its message and a hint), 2 for a wrong command line (nothing sent),
// 3 when no server answers.
func TestCLIExitCodes(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, time.Hour, 0))
	op := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_DATA": dir}
	var ws struct {
		ID         string `json:"id"`
		OwnerToken string `json:"owner_token"`
	}
	okJSON(t, op, &ws, "workspace", "create", "acme")
	owner := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_TOKEN": ws.OwnerToken, "WAGATE_WORKSPACE": ws.ID}

	t.Run("401", func(t *testing.T) {
		r := wagateCLI(t, op, "workspace", "list", "--token", "not-the-token")
		mustFail(t, r, exitRefused, "HTTP 401", "unknown admin token", "hint: check --token")
		if strings.Contains(r.stdout+r.stderr, "not-the-token") {
			t.Error("the token was printed")
		}
	})
	t.Run("403", func(t *testing.T) {
		mustFail(t, wagateCLI(t, owner, "workspace", "list"), exitRefused, "HTTP 403", "operator token")
	})
	t.Run("404", func(t *testing.T) {
		mustFail(t, wagateCLI(t, op, "workspace", "show", "-w", "ws_0000000000000000"), exitRefused, "HTTP 404", "not found", "hint: check --workspace")
		mustFail(t, wagateCLI(t, owner, "account", "disable", "+14155552671"), exitRefused, "HTTP 404", "not found")
	})
	t.Run("400 names the field", func(t *testing.T) {
		mustFail(t, wagateCLI(t, owner, "account", "add", "+14151231234"), exitRefused, "HTTP 400", "not a valid phone number")
	})
	t.Run("--json error", func(t *testing.T) {
		r := wagateCLI(t, op, "workspace", "show", "-w", "ws_0000000000000000", "--json")
		mustFail(t, r, exitRefused)
		var env struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &env); err != nil || env.Status != 404 || env.Error != "not_found" {
			t.Errorf("--json error output = %q (%v); want the server's envelope", r.stdout, err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		r := wagateCLI(t, map[string]string{"WAGATE_TOKEN": "x"}, "workspace", "list", "--server", "http://"+addr)
		mustFail(t, r, exitUnreachable, "cannot reach wagate at http://"+addr, "wagate serve")
	})
	t.Run("usage", func(t *testing.T) {
		for _, tc := range []struct {
			env  map[string]string
			args []string
			says string
		}{
			{op, []string{"webhook", "show"}, "--workspace"},
			{op, []string{"webhook", "frob"}, `unknown command "frob"`},
			{op, []string{"webhook"}, "say what to do"},
			{op, []string{"workspace", "list", "--colour"}, "unknown flag --colour"},
			{op, []string{"workspace", "create"}, "missing NAME"},
			{op, []string{"workspace", "create", "a", "b"}, "too many arguments"},
			{op, []string{"workspace", "list", "--server", "127.0.0.1:8080"}, "http://"},
			{map[string]string{"WAGATE_SERVER": in.base}, []string{"workspace", "list"}, "no admin token"},
			{map[string]string{"WAGATE_SERVER": in.base, "WAGATE_DATA": t.TempDir()}, []string{"workspace", "list"}, "operator.token"},
			{op, []string{"credits", "add", "lots", "-w", ws.ID}, "not a whole number"},
			{owner, []string{"attempts", "download", "--format", "xml"}, "jsonl or csv"},
			{owner, []string{"attempts", "list", "--limit", "500"}, "1 to 100"},
			{owner, []string{"token", "create"}, "--role"},
			{owner, []string{"chat", "add", "--phone", "+14155552671"}, "--account"},
			{owner, []string{"chat", "add", "--account", "+15105566777"}, "exactly one of --phone and --jid"},
			{owner, []string{"workspace", "show", "--credits"}, "unknown flag"},
		} {
			r := wagateCLI(t, tc.env, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.says) {
				t.Errorf("wagate %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.says)
			}
		}
	})
	t.Run("help", func(t *testing.T) {
		for _, args := range [][]string{{"workspace", "-h"}, {"attempts", "download", "--help"}} {
			if r := wagateCLI(t, nil, args...); r.code != exitOK || r.stdout == "" {
				t.Errorf("wagate %s: exit %d, no help on stdout", strings.Join(args, " "), r.code)
			}
		}
		if r := wagateCLI(t, nil, "help"); !strings.Contains(r.stdout, "wagate webhook regenerate") {
			t.Errorf("wagate help does not list the admin commands:\n%s", r.stdout)
		}
	})
}

func TestParseInterleaved(t *testing.T) {
	var yes bool
	var n int
	var s string
	fs := newTestFlagSet(&yes, &n, &s)
	pos, err := parseInterleaved(fs, []string{"a", "--yes", "-n", "3", "-7", "--s=x=y", "b", "--", "--yes"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, ",") != "a,-7,b,--yes" || !yes || n != 3 || s != "x=y" {
		t.Errorf("pos %q yes %v n %d s %q", pos, yes, n, s)
	}
	if _, err := parseInterleaved(newTestFlagSet(&yes, &n, &s), []string{"-n"}); err == nil || !strings.Contains(err.Error(), "needs a value") {
		t.Errorf("a flag without its value: %v", err)
	}
	if _, err := parseInterleaved(newTestFlagSet(&yes, &n, &s), []string{"-n", "three"}); err == nil || !strings.Contains(err.Error(), "--n") {
		t.Errorf("a bad value: %v", err)
	}
}

func newTestFlagSet(yes *bool, n *int, s *string) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(yes, "yes", false, "")
	fs.IntVar(n, "n", 0, "")
	fs.StringVar(s, "s", "", "")
	return fs
}

// TestConsoleIsMounted checks that `wagate serve` serves the web console:
// / leads to it and its sign-in page is HTML.
func TestConsoleIsMounted(t *testing.T) {
	in := start(t, testConfig(t.TempDir(), time.Hour, 0))
	resp, err := http.Get(in.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/ui/signin" || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "Sign in to wagate") {
		t.Errorf("GET / ended at %s with %d %q", resp.Request.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestCLISettingFromEnv: --setting key=env:NAME sends the variable's value,
// so an access token need not be on the command line.
func TestCLISettingFromEnv(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, time.Hour, 0))
	op := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_DATA": dir}
	var ws struct {
		ID         string `json:"id"`
		OwnerToken string `json:"owner_token"`
	}
	okJSON(t, op, &ws, "workspace", "create", "acme")
	owner := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_TOKEN": ws.OwnerToken, "WAGATE_WORKSPACE": ws.ID, "CLOUD_TOKEN": "EAAG-from-the-environment"}

	mustFail(t, wagateCLI(t, owner, "account", "add", "+14155550123", "--transport", "cloudapi",
		"--setting", "phone_number_id=106540352242922", "--setting", "access_token=env:NO_SUCH_VAR"), exitUsage, "NO_SUCH_VAR")
	out := ok(t, owner, "account", "add", "+14155550123", "--transport", "cloudapi",
		"--setting", "phone_number_id=106540352242922", "--setting", "access_token=env:CLOUD_TOKEN")
	if strings.Contains(out, "EAAG") || !strings.Contains(out, "+14155550123") {
		t.Errorf("account add output: %q", out)
	}
	if list := ok(t, owner, "account", "list"); !strings.Contains(list, "cloudapi") {
		t.Errorf("account list lacks the cloudapi account:\n%s", list)
	}
}

// requestIDs lists the request_id of each line of a JSONL attempt log.
func requestIDs(jsonl string) []string {
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		var a struct {
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal([]byte(line), &a) == nil {
			ids = append(ids, a.RequestID)
		}
	}
	return ids
}
