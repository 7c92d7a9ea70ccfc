package console_test

import (
	"context"
	"crypto/rand"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/gateway/console"
	"github.com/wagate/wagate/gateway/openapi/openapitest"
	"github.com/wagate/wagate/sender/outbound"
	"github.com/wagate/wagate/store"
)

// t0 is the tests' fixed start time; the clock moves only when a test
// moves it.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a gateway with the console mounted, on a real bbolt store, served
// by a real HTTP server on 127.0.0.1.
type env struct {
	t        testing.TB
	db       *store.DB
	gw       *gateway.Server
	srv      *httptest.Server
	clock    *clock
	logs     *observer.ObservedLogs
	operator string
	// path, gcfg and ccfg rebuild the server in restart; handler is what
	// the test server serves, swapped by restart.
	path    string
	gcfg    gateway.Config
	ccfg    console.Config
	handler atomic.Value // http.Handler
	// linker, when set (then restart), links whatsapp accounts.
	linker gateway.AccountLinker
}

type envOption func(*gateway.Config, *console.Config)

// withPublicURL sets the public URL of the gateway and the console; ""
// means the test server's own address.
func withPublicURL(u string) envOption {
	return func(g *gateway.Config, c *console.Config) { g.PublicURL, c.PublicURL = u, u }
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{now: t0}}
	core, logs := observer.New(zapcore.DebugLevel)
	e.logs = logs
	log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	e.path = filepath.Join(t.TempDir(), "wagate.db")
	// The server starts first, so its address can be the public URL.
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		e.srv.Close()
		if err := e.db.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	e.gcfg = gateway.Config{PublicURL: e.srv.URL, InboundBurst: 1000, Logger: log, Now: e.clock.Now}
	e.ccfg = console.Config{PublicURL: e.srv.URL, Logger: log.Named("console"), Now: e.clock.Now}
	for _, o := range opts {
		o(&e.gcfg, &e.ccfg)
	}
	e.start()
	e.operator = e.token("", wagate.RoleOperator)
	return e
}

// start opens the store and builds the gateway and the console on it.
func (e *env) start() {
	e.t.Helper()
	db, err := store.Open(e.path, store.Options{Logger: e.gcfg.Logger, Now: e.clock.Now})
	if err != nil {
		e.t.Fatalf("store.Open: %v", err)
	}
	e.db = db
	svc := gateway.Services{Workspaces: db, Accounts: db, Chats: db, Messages: db, Attempts: db, Tokens: db, Sessions: db, Templates: db, Windows: db,
		Endpoints: db, Deliverer: outbound.New(outbound.Config{Payload: gateway.EventData, AllowPrivate: true}, nil)}
	if e.linker != nil {
		svc.Linker = e.linker
	}
	e.gw = gateway.New(e.gcfg, svc)
	e.gw.MountConsole(console.New(e.gw, svc, e.ccfg))
	e.handler.Store(e.gw.Handler())
}

// restart closes the store and starts a new gateway and console on the
// same file, as a server restart does: nothing kept in memory survives.
func (e *env) restart() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatalf("closing store: %v", err)
	}
	e.start()
}

// token stores a new admin token and returns it.
func (e *env) token(workspaceID string, role wagate.Role) string {
	e.t.Helper()
	tok, err := wagate.NewToken(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.CreateToken(context.Background(), &wagate.Token{Hash: wagate.HashToken(tok), WorkspaceID: workspaceID, Role: role, CreatedAt: t0}); err != nil {
		e.t.Fatalf("CreateToken: %v", err)
	}
	return tok
}

// workspace is a workspace with a dryrun account and its tokens.
type workspace struct {
	ID, Inbound, Owner, Support string
}

func (e *env) workspace(name string, credits int64) workspace {
	e.t.Helper()
	ws, owner, err := e.gw.CreateWorkspace(context.Background(), name, credits)
	if err != nil {
		e.t.Fatalf("CreateWorkspace: %v", err)
	}
	acct := &wagate.Account{WorkspaceID: ws.ID, Phone: "+15105566777", Transport: wagate.TransportDryrun, Active: true, ConnectedAt: t0}
	if err := e.db.CreateAccount(context.Background(), acct); err != nil {
		e.t.Fatalf("CreateAccount: %v", err)
	}
	return workspace{ID: ws.ID, Inbound: ws.Webhook.Token, Owner: owner, Support: e.token(ws.ID, wagate.RoleSupport)}
}

// inboundToken reads the workspace's current inbound token from the store.
func (e *env) inboundToken(id string) string {
	e.t.Helper()
	ws, err := e.db.FindWorkspace(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ws.Webhook.Token
}

func (e *env) enabled(id string) bool {
	e.t.Helper()
	ws, err := e.db.FindWorkspace(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ws.Webhook.Enabled
}

// send calls an inbound URL over HTTP and returns the status.
func (e *env) send(token, body string) int {
	e.t.Helper()
	resp, err := http.Post(e.srv.URL+"/inbound/"+token, "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	openapitest.CheckAnswer(e.t, http.MethodPost, resp.Request.URL.String(), resp.StatusCode, resp.Header, raw)
	return resp.StatusCode
}

// client is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each answer.
type client struct {
	t    testing.TB
	e    *env
	c    *http.Client
	jar  *cookiejar.Jar
	csrf string // the CSRF token of the last page that had a form
}

func (e *env) browser() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &client{t: e.t, e: e, jar: jar, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// answer is one HTTP answer of the console.
type answer struct {
	status int
	header http.Header
	body   string
}

func (p answer) location() string { return p.header.Get("Location") }

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *client) get(path string) answer {
	b.t.Helper()
	return b.do(http.MethodGet, path, nil, nil)
}

// post submits a form the way a page of the console does (Origin set).
func (b *client) post(path string, form url.Values) answer {
	b.t.Helper()
	return b.do(http.MethodPost, path, form, http.Header{"Origin": {b.e.srv.URL}})
}

func (b *client) do(method, path string, form url.Values, h http.Header) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	openapitest.CheckAnswer(b.t, method, path, resp.StatusCode, resp.Header, raw)
	p := answer{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if m := csrfRe.FindStringSubmatch(p.body); m != nil {
		b.csrf = m[1]
	}
	return p
}

// signIn signs in with token and returns the answer of the form's POST.
func (b *client) signIn(token string) answer {
	b.t.Helper()
	form := b.get("/ui/signin")
	if form.status != http.StatusOK {
		b.t.Fatalf("GET /ui/signin = %d", form.status)
	}
	return b.post("/ui/signin", url.Values{"csrf": {b.csrf}, "token": {token}})
}

// mustSignIn signs in and fails the test unless it worked.
func (b *client) mustSignIn(token string) {
	b.t.Helper()
	p := b.signIn(token)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/ui/") {
		b.t.Fatalf("sign-in = %d to %q; want 303 to a console page:\n%s", p.status, p.location(), p.body)
	}
}

func mustStatus(t testing.TB, what string, p answer, want int) {
	t.Helper()
	if p.status != want {
		t.Fatalf("%s: status %d, want %d\n%s", what, p.status, want, p.body)
	}
}

func mustContain(t testing.TB, what string, p answer, wants ...string) {
	t.Helper()
	text := html.UnescapeString(p.body) // html/template writes + as &#43;
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s: page lacks %q", what, w)
		}
	}
}
