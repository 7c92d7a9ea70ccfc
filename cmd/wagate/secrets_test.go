package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate/sender/cloudapi"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

// loggedProcess is a running wagate binary whose stderr (its JSON log) and
// stdout are kept whole.
type loggedProcess struct {
	*process
	mu     sync.Mutex
	stderr []string
	stdout bytes.Buffer
}

func (p *loggedProcess) logLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stderr...)
}

// startLogged runs `wagate serve` on 127.0.0.1:0 with env added to the
// environment, keeping every line it writes.
func startLogged(t *testing.T, bin string, env []string, args ...string) *loggedProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	lp := &loggedProcess{process: &process{cmd: cmd, exit: make(chan error, 1)}}
	cmd.Stdout = &lockedWriter{mu: &lp.mu, w: &lp.stdout}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lp.mu.Lock()
			lp.stderr = append(lp.stderr, sc.Text())
			lp.mu.Unlock()
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "wagate listening" {
				addr <- line.Addr
			}
		}
		lp.exit <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case lp.addr = <-addr:
	case err := <-lp.exit:
		t.Fatalf("wagate exited before listening: %v\n%s", err, strings.Join(lp.logLines(), "\n"))
	case <-time.After(30 * time.Second):
		t.Fatal("wagate did not log its address")
	}
	return lp
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// exchange is one HTTP exchange of the scenario, kept for the final check.
type exchange struct {
	what   string
	status int
	header http.Header
	body   string
}

// scenario drives the binary over HTTP and keeps every exchange.
type scenario struct {
	t       *testing.T
	base    string
	client  *http.Client
	answers []exchange
}

// do sends a request; headers are name, value pairs.
func (s *scenario) do(what, method, target string, body []byte, headers ...string) exchange {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	checkOpenAPI(s.t, method, target, resp.StatusCode, resp.Header, raw)
	a := exchange{what: what, status: resp.StatusCode, header: resp.Header, body: string(raw)}
	s.answers = append(s.answers, a)
	return a
}

// json sends a JSON request with an optional bearer token and wants status.
func (s *scenario) json(what, method, path, token string, body any, want int) map[string]any {
	s.t.Helper()
	var raw []byte
	headers := []string{}
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			s.t.Fatal(err)
		}
		headers = append(headers, "Content-Type", "application/json")
	}
	if token != "" {
		headers = append(headers, "Authorization", "Bearer "+token)
	}
	a := s.do(what, method, s.base+path, raw, headers...)
	if a.status != want {
		s.t.Fatalf("%s: status %d, want %d: %s", what, a.status, want, a.body)
	}
	var out map[string]any
	if strings.HasPrefix(a.header.Get("Content-Type"), "application/json") && a.body != "" {
		if err := json.Unmarshal([]byte(a.body), &out); err != nil {
			s.t.Fatalf("%s: %v: %s", what, err, a.body)
		}
	}
	return out
}

func randomSecret(t *testing.T, prefix string) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// nearMiss changes the last character of a token: a guess of the right
// shape that shares all but one character with the real one.
func nearMiss(tok string) string {
	last := "A"
	if strings.HasSuffix(tok, "A") {
		last = "B"
	}
	return tok[:len(tok)-1] + last
}

// TestNoSecretsAnywhere runs a whole scenario against the real binary at
// debug level — the inbound URL (accepted, refused, replayed, guessed),
// the admin API (right and wrong tokens), the console's sign-in, a Cloud
// API account sending through the Graph fake with an access token, its
// status webhook (signed, badly signed, the handshake), a send that the
// Graph API refuses, a file download that fails, a regenerated URL — and
// checks that no secret reaches any log line, any error exchange, any
// response header, /metrics or the attempt log downloads: no inbound token
// (old, new or a near miss), admin token (operator, owner, support or a
// guess), console session or sign-in cookie, access token, app secret,
// verify token, or a file URL's signature. stdout shows the operator token
// once, by design, and nothing else.
func TestNoSecretsAnywhere(t *testing.T) {
	appSecret, verifyToken := randomSecret(t, "appsecret"), randomSecret(t, "verify")
	accessToken := randomSecret(t, "EAAG")
	fileSig := randomSecret(t, "sig")
	fake := graphfake.Start(t, graphfake.Options{Token: accessToken})
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/logo.png" {
			w.Write(logoPNG)
			return
		}
		http.NotFound(w, r)
	}))
	defer files.Close()

	bin := buildBinary(t)
	dir := t.TempDir()
	p := startLogged(t, bin, []string{"WAGATE_CLOUDAPI_APP_SECRET=" + appSecret, "WAGATE_CLOUDAPI_VERIFY_TOKEN=" + verifyToken, EnvTestSendDelay + "="},
		"--data", dir, "--log-level", "debug", "--send-interval", "20ms", "--send-jitter", "0s", "--allow-private-file-urls", "--cloudapi-base-url", fake.URL)
	jar := &cookieJar{}
	s := &scenario{t: t, base: "http://" + p.addr, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	op := operatorToken(t, dir)

	// The admin API: a workspace, tokens, accounts (one on the Cloud API).
	ws := s.json("create workspace", "POST", "/api/v1/workspaces", op, map[string]any{"name": "acme", "credits": 50}, http.StatusCreated)
	wsID, owner := str(ws["id"]), str(ws["owner_token"])
	inbound := strings.TrimPrefix(str(ws["webhook"].(map[string]any)["url"]), s.base+"/inbound/")
	support := str(s.json("support token", "POST", "/api/v1/workspaces/"+wsID+"/tokens", owner, map[string]any{"role": "support"}, http.StatusCreated)["token"])
	s.json("dryrun account", "POST", "/api/v1/workspaces/"+wsID+"/accounts", owner, map[string]any{"phone": "+15105566777", "transport": "dryrun"}, http.StatusCreated)
	settings := map[string]any{}
	for k, v := range fake.Settings() {
		settings[k] = v
	}
	s.json("cloudapi account", "POST", "/api/v1/workspaces/"+wsID+"/accounts", owner, map[string]any{"phone": "+14155550123", "transport": "cloudapi", "settings": settings}, http.StatusCreated)
	s.json("chat", "POST", "/api/v1/workspaces/"+wsID+"/chats", owner, map[string]any{"account_phone": "+15105566777", "phone": "+14155552671", "name": "Jane Roe"}, http.StatusCreated)
	s.json("accounts list", "GET", "/api/v1/workspaces/"+wsID+"/accounts", support, nil, http.StatusOK)
	s.json("wrong admin token", "GET", "/api/v1/workspaces/"+wsID, nearMiss(owner), nil, http.StatusUnauthorized)
	s.json("inbound token as admin token", "GET", "/api/v1/workspaces/"+wsID, inbound, nil, http.StatusUnauthorized)
	s.json("support writes", "POST", "/api/v1/workspaces/"+wsID+"/tokens", support, map[string]any{"role": "owner"}, http.StatusForbidden)
	s.json("unknown workspace", "GET", "/api/v1/workspaces/ws_"+owner[:10], op, nil, http.StatusNotFound)
	s.json("bad account settings", "POST", "/api/v1/workspaces/"+wsID+"/accounts", owner, map[string]any{"phone": "+14155550124", "transport": "cloudapi", "settings": map[string]any{"access_token": accessToken}}, http.StatusBadRequest)

	// The inbound URL: accepted, refused, replayed, guessed.
	send := func(what, token string, body any, want int, headers ...string) map[string]any {
		t.Helper()
		raw, _ := json.Marshal(body)
		a := s.do(what, "POST", s.base+"/inbound/"+token, raw, append([]string{"Content-Type", "application/json"}, headers...)...)
		if a.status != want {
			t.Fatalf("%s: status %d, want %d: %s", what, a.status, want, a.body)
		}
		var out map[string]any
		json.Unmarshal([]byte(a.body), &out)
		return out
	}
	text := func(from, msg string) map[string]any {
		return map[string]any{"action": "send", "whatsapp_account_phone": from, "phone": "+14155552671", "text": msg}
	}
	send("dryrun text", inbound, text("+15105566777", "hello"), http.StatusOK, "Idempotency-Key", "k1")
	send("replay", inbound, text("+15105566777", "hello"), http.StatusOK, "Idempotency-Key", "k1")
	send("key reused", inbound, text("+15105566777", "other"), http.StatusUnprocessableEntity, "Idempotency-Key", "k1")
	send("file", inbound, map[string]any{"action": "send", "phone": "+14155552671", "whatsapp_account_phone": "+15105566777", "text": "logo", "file_url": files.URL + "/logo.png?sig=" + fileSig, "file_name": "logo.png"}, http.StatusOK)
	send("file that 404s", inbound, map[string]any{"action": "send", "phone": "+14155552671", "whatsapp_account_phone": "+15105566777", "text": "", "file_url": files.URL + "/gone.png?sig=" + fileSig, "file_name": "gone.png"}, http.StatusOK)
	send("cloudapi text", inbound, text("+14155550123", "via Meta"), http.StatusOK)
	send("typo", inbound, map[string]any{"action": "send", "phone_number": "+14155552671", "text": "x"}, http.StatusBadRequest)
	send("bad phone", inbound, map[string]any{"action": "send", "phone": "+14151231234", "text": "x"}, http.StatusBadRequest)
	send("near-miss token", nearMiss(inbound), text("+15105566777", "x"), http.StatusNotFound)
	send("admin token as inbound token", owner, text("+15105566777", "x"), http.StatusNotFound)
	s.do("form body", "POST", s.base+"/inbound/"+inbound, []byte("action=send&text=hi"), "Content-Type", "application/x-www-form-urlencoded")
	s.do("too large", "POST", s.base+"/inbound/"+inbound, bytes.Repeat([]byte(" "), 70<<10), "Content-Type", "application/json")
	s.do("GET the inbound URL", "GET", s.base+"/inbound/"+inbound, nil)
	s.do("extra path segment", "POST", s.base+"/inbound/"+inbound+"/x", []byte(`{}`), "Content-Type", "application/json")

	// The Cloud API: wait for the send, then its status callbacks.
	waitFor(t, "the Cloud API send", func() bool { return len(fake.Messages()) == 1 })
	wamid := fake.Messages()[0].ID
	callback := graphfake.StatusWebhook(fake.PhoneNumberID, graphfake.Status{ID: wamid, Status: "delivered", At: time.Now()})
	s.do("signed callback", "POST", s.base+cloudapi.WebhookPath, callback, cloudapi.SignatureHeader, graphfake.Sign(appSecret, callback), "Content-Type", "application/json")
	s.do("badly signed callback", "POST", s.base+cloudapi.WebhookPath, callback, cloudapi.SignatureHeader, graphfake.Sign(nearMiss(appSecret), callback), "Content-Type", "application/json")
	s.do("handshake", "GET", s.base+cloudapi.WebhookPath+"?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="+url.QueryEscape(verifyToken), nil)
	s.do("handshake with a wrong token", "GET", s.base+cloudapi.WebhookPath+"?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="+url.QueryEscape(nearMiss(verifyToken)), nil)
	// Meta refuses the next send (code 190, a token problem): the message
	// fails, and its error must not carry the token.
	fake.FailNext(1, graphfake.Failure{Edge: graphfake.EdgeMessages, Code: 190, Message: "Error validating access token: Session has expired"})
	// Another recipient: the Cloud API keeps 6 s between two messages to one person.
	refused := str(send("cloudapi refused", inbound, map[string]any{"action": "send", "whatsapp_account_phone": "+14155550123", "phone": "+4915112345678", "text": "refused"}, http.StatusOK)["data"].(map[string]any)["message_id"])
	waitFor(t, "the refused send to fail", func() bool {
		m := s.json("message", "GET", "/api/v1/workspaces/"+wsID+"/messages/"+refused, support, nil, http.StatusOK)
		return m["status"] == "failed"
	})

	// The console: a sign-in with a wrong token, then the owner's.
	form := s.do("sign-in form", "GET", s.base+"/ui/signin", nil)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(form.body)
	if csrf == nil {
		t.Fatalf("no csrf field in the sign-in form: %s", form.body)
	}
	signin := func(what, token string) exchange {
		return s.do(what, "POST", s.base+"/ui/signin", []byte(url.Values{"csrf": {csrf[1]}, "token": {token}}.Encode()),
			"Content-Type", "application/x-www-form-urlencoded", "Origin", s.base)
	}
	if a := signin("console sign-in, wrong token", nearMiss(owner)); a.status != http.StatusUnauthorized {
		t.Fatalf("wrong console token: %d", a.status)
	}
	csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(s.answers[len(s.answers)-1].body)
	if a := signin("console sign-in", owner); a.status != http.StatusSeeOther {
		t.Fatalf("console sign-in: %d %s", a.status, a.body)
	}
	session := jar.value("wagate_session")
	if session == "" {
		t.Fatal("no session cookie after the console sign-in")
	}
	for _, page := range []string{"/ui/w/" + wsID + "/", "/ui/w/" + wsID + "/attempts", "/ui/w/" + wsID + "/messages", "/ui/w/" + wsID + "/messages/" + refused, "/ui/w/" + wsID + "/messages/wa_backend:00000000000000000000", "/ui/w/ws_nope/", "/ui/nope"} {
		s.do("console "+page, "GET", s.base+page, nil)
	}

	// A regenerated URL; the old one is a 404 now.
	hook := s.json("regenerate", "POST", "/api/v1/workspaces/"+wsID+"/webhook/regenerate", owner, nil, http.StatusOK)
	fresh := strings.TrimPrefix(str(hook["url"]), s.base+"/inbound/")
	send("old URL", inbound, text("+15105566777", "x"), http.StatusNotFound)
	send("new URL", fresh, text("+15105566777", "x"), http.StatusOK)
	s.do("metrics", "GET", s.base+"/metrics", nil)
	s.do("attempts csv", "GET", s.base+"/api/v1/workspaces/"+wsID+"/webhook/attempts/download?format=csv", nil, "Authorization", "Bearer "+support)
	s.do("attempts jsonl", "GET", s.base+"/api/v1/workspaces/"+wsID+"/webhook/attempts/download?format=jsonl", nil, "Authorization", "Bearer "+support)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.exit; err != nil {
		t.Fatalf("wagate exited with %v", err)
	}

	// Every token wagate issued is 256 random bits (43 base64url
	// characters).
	for name, tok := range map[string]string{"operator": op, "owner": owner, "support": support, "inbound": inbound, "regenerated inbound": fresh, "console session": session} {
		if b, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(b) != 32 {
			t.Errorf("the %s token is %d bytes (%v), want 32", name, len(b), err)
		}
	}

	secrets := map[string]string{
		"operator token": op, "owner token": owner, "support token": support,
		"inbound token": inbound, "regenerated inbound token": fresh, "near-miss inbound token": nearMiss(inbound),
		"near-miss owner token": nearMiss(owner), "access token": accessToken, "app secret": appSecret,
		"verify token": verifyToken, "console session": session, "console sign-in form token": csrf[1], "file URL signature": fileSig,
	}
	// find reports which secret text holds, whole or a 16-character end
	// of it.
	find := func(text string) string {
		for name, secret := range secrets {
			if strings.Contains(text, secret) || strings.Contains(text, secret[:16]) || strings.Contains(text, secret[len(secret)-16:]) {
				return name
			}
		}
		return ""
	}

	lines := p.logLines()
	debug := 0
	for _, line := range lines {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("a log line that is not JSON: %s", line)
			continue
		}
		if entry["level"] == "debug" {
			debug++
		}
		if name := find(line); name != "" {
			t.Errorf("log line holds the %s: %s", name, line)
		}
		if strings.Contains(line, "Bearer") || strings.Contains(line, "sig=") {
			t.Errorf("log line holds a header or a signed link: %s", line)
		}
	}
	if len(lines) < 40 || debug == 0 {
		t.Fatalf("only %d log lines (%d at debug) captured; the scenario did not run", len(lines), debug)
	}
	p.mu.Lock()
	stdout := p.stdout.String()
	p.mu.Unlock()
	if !strings.Contains(stdout, op) {
		t.Errorf("stdout does not show the operator token on the first start: %q", stdout)
	}
	delete(secrets, "operator token")
	if name := find(stdout); name != "" {
		t.Errorf("stdout holds the %s", name)
	}
	secrets["operator token"] = op

	// Answers may show two of them by design: a sign-in form holds its own
	// form token, and the attempt log keeps request bodies (file_url and
	// all). Every other secret stays out of answers too.
	delete(secrets, "console sign-in form token")
	delete(secrets, "file URL signature")
	errorsSeen := 0
	for _, a := range s.answers {
		for name, values := range a.header {
			if name == "Set-Cookie" {
				continue // the console's cookies carry its session, by design
			}
			if secret := find(strings.Join(values, " ")); secret != "" {
				t.Errorf("%s: header %s holds the %s", a.what, name, secret)
			}
		}
		if a.status >= 400 || a.what == "metrics" || strings.HasPrefix(a.what, "attempts ") {
			errorsSeen++
			if secret := find(a.body); secret != "" {
				t.Errorf("%s (%d): the exchange holds the %s: %.300s", a.what, a.status, secret, a.body)
			}
		}
	}
	if errorsSeen < 15 {
		t.Errorf("only %d error answers checked", errorsSeen)
	}
	t.Logf("%d log lines (%d at debug) and %d answers (%d errors, /metrics, downloads) hold no secret", len(lines), debug, len(s.answers), errorsSeen)
}

// cookieJar is the smallest http.CookieJar that lets the test read the
// session cookie's value: one host, paths ignored.
type cookieJar struct {
	mu      sync.Mutex
	cookies map[string]*http.Cookie
}

func (j *cookieJar) SetCookies(_ *url.URL, cookies []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cookies == nil {
		j.cookies = map[string]*http.Cookie{}
	}
	for _, c := range cookies {
		if c.MaxAge < 0 {
			delete(j.cookies, c.Name)
			continue
		}
		j.cookies[c.Name] = c
	}
}

func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

func (j *cookieJar) value(name string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if c := j.cookies[name]; c != nil {
		return c.Value
	}
	return ""
}
