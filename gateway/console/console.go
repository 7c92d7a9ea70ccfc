package console

import (
	"crypto/rand"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// DefaultSessionTTL is how long a sign-in lasts: a working day, so support
// staff sign in once a shift.
const DefaultSessionTTL = 12 * time.Hour

// formBodyLimit bounds a console form: a token, a switch, or a template's
// text (4096 characters of any script, URL-encoded, with its variables).
const formBodyLimit = 128 << 10

// Config is the console's configuration; zero fields take their defaults.
type Config struct {
	// PublicURL is the gateway's public base URL. When it is https the
	// cookies are Secure; its host is accepted as an Origin besides the
	// Host the request came to (a reverse proxy may rewrite Host).
	PublicURL string
	// SessionTTL is how long a sign-in lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
	// Logger receives sign-ins, sign-outs and failures, never a token or a
	// session id; nil means zap.NewNop().
	Logger *zap.Logger
	// Rand is the source of session ids and CSRF tokens (regenerated
	// inbound tokens come from the gateway's use case); nil means
	// crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Console is the web console, an http.Handler for the paths under /ui/.
// Mount it with gateway.(*Server).MountConsole.
type Console struct {
	gw         *gateway.Server
	svc        gateway.Services
	log        *zap.Logger
	now        func() time.Time
	rand       io.Reader
	secure     bool
	publicHost string
	ttl        time.Duration // of a session
	pages      *pages
	mux        *http.ServeMux
}

// New builds the console on the gateway gw and the services it was built
// with. The console writes through svc exactly as the admin API does, and
// keeps its sessions in svc.Sessions, which must be set.
func New(gw *gateway.Server, svc gateway.Services, cfg Config) *Console {
	if svc.Sessions == nil {
		panic("console.New: Services.Sessions is nil; the console keeps its sign-ins there")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{
		gw:   gw,
		svc:  svc,
		log:  cfg.Logger,
		now:  cfg.Now,
		rand: &lockedReader{r: cfg.Rand},
		ttl:  cfg.SessionTTL,
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil {
		c.secure = u.Scheme == "https"
		c.publicHost = u.Host
	}
	c.pages = loadPages(gw)
	c.routes()
	return c
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /ui/{$}", c.home)
	m.HandleFunc("GET /ui/signin", c.signinForm)
	m.HandleFunc("POST /ui/signin", c.signin)
	m.HandleFunc("POST /ui/signout", c.signout)
	m.HandleFunc("GET /ui/workspaces", c.signedIn(c.picker))
	const ws = "/ui/w/{ws}"
	m.HandleFunc("GET "+ws, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, workspacePath(r.PathValue("ws")), http.StatusMovedPermanently)
	})
	m.HandleFunc("GET "+ws+"/{$}", c.inWorkspace(read, c.overview))
	m.HandleFunc("POST "+ws+"/webhook/enabled", c.inWorkspace(write, c.setEnabled))
	m.HandleFunc("GET "+ws+"/webhook/regenerate", c.inWorkspace(write, c.regenerateForm))
	m.HandleFunc("POST "+ws+"/webhook/regenerate", c.inWorkspace(write, c.regenerate))
	m.HandleFunc("GET "+ws+"/attempts", c.inWorkspace(read, c.attempts))
	m.HandleFunc("GET "+ws+"/attempts/download", c.inWorkspace(read, c.download))
	m.HandleFunc("GET "+ws+"/accounts", c.inWorkspace(read, c.accounts))
	m.HandleFunc("GET "+ws+"/accounts/{phone}", c.inWorkspace(read, c.account))
	m.HandleFunc("POST "+ws+"/accounts/{phone}", c.inWorkspace(write, c.saveAccount))
	m.HandleFunc("GET "+ws+"/messages", c.inWorkspace(read, c.messages))
	m.HandleFunc("GET "+ws+"/messages/{id}", c.inWorkspace(read, c.message))
	m.HandleFunc("GET "+ws+"/tokens", c.inWorkspace(write, c.tokens))
	m.HandleFunc("POST "+ws+"/tokens", c.inWorkspace(write, c.createToken))
	m.HandleFunc("GET "+ws+"/tokens/{id}/revoke", c.inWorkspace(write, c.revokeForm))
	m.HandleFunc("POST "+ws+"/tokens/{id}/revoke", c.inWorkspace(write, c.revokeToken))
	m.HandleFunc("POST "+ws+"/messages/{id}/cancel", c.inWorkspace(write, c.cancelMessage))
	m.HandleFunc("GET "+ws+"/endpoints", c.inWorkspace(read, c.endpoints))
	m.HandleFunc("POST "+ws+"/endpoints", c.inWorkspace(write, c.createEndpoint))
	m.HandleFunc("GET "+ws+"/endpoints/{id}", c.inWorkspace(read, c.endpoint))
	m.HandleFunc("POST "+ws+"/endpoints/{id}", c.inWorkspace(write, c.saveEndpoint))
	m.HandleFunc("POST "+ws+"/endpoints/{id}/enabled", c.inWorkspace(write, c.switchEndpoint))
	m.HandleFunc("POST "+ws+"/endpoints/{id}/test", c.inWorkspace(write, c.testEndpoint))
	m.HandleFunc("POST "+ws+"/endpoints/{id}/rotate", c.inWorkspace(write, c.rotateEndpoint))
	m.HandleFunc("POST "+ws+"/endpoints/{id}/delete", c.inWorkspace(write, c.deleteEndpoint))
	m.HandleFunc("POST "+ws+"/endpoints/{id}/deliveries/{d}/retry", c.inWorkspace(write, c.retryDelivery))
	m.HandleFunc("GET "+ws+"/templates", c.inWorkspace(read, c.templates))
	m.HandleFunc("POST "+ws+"/templates", c.inWorkspace(write, c.createTemplate))
	m.HandleFunc("GET "+ws+"/templates/{name}", c.inWorkspace(read, c.template))
	m.HandleFunc("POST "+ws+"/templates/{name}", c.inWorkspace(write, c.saveTemplate))
	m.HandleFunc("POST "+ws+"/templates/{name}/preview", c.inWorkspace(read, c.previewTemplate))
	m.HandleFunc("POST "+ws+"/templates/{name}/test", c.inWorkspace(write, c.testTemplate))
	m.HandleFunc("POST "+ws+"/templates/{name}/delete", c.inWorkspace(write, c.deleteTemplate))
	m.HandleFunc("GET "+ws+"/accounts/{phone}/link", c.inWorkspace(write, c.link))
	m.HandleFunc("POST "+ws+"/accounts/{phone}/link", c.inWorkspace(write, c.startLink))
	m.HandleFunc("GET "+ws+"/accounts/{phone}/link/events", c.inWorkspace(write, c.linkEvents))
	m.Handle("GET /ui/static/", staticHandler())
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, wagate.Errorf(wagate.ENOTFOUND, "there is no such page in the console"))
	})
	c.mux = m
}

// ServeHTTP serves the console's paths with headers that keep its pages
// (which show the secret inbound URL) out of caches, frames and other
// origins' scripts.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin keeps the Referer for our own POST check and away from
	// other sites.
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

// What a page does with a workspace: the accesses of wagate.Authorize,
// the rule the admin API applies too.
const (
	read  = wagate.AccessRead
	write = wagate.AccessWrite
)

// request is what a signed-in handler knows about its request.
type request struct {
	sess session
	ws   *wagate.Workspace // set for the pages of one workspace
}

// canWrite says whether the session may change its workspace (switch,
// regenerate, cancel, tokens), by the rule the admin API applies.
func (q *request) canWrite() bool {
	return wagate.Authorize(q.sess.role, q.sess.workspace, q.sess.workspace, wagate.AccessWrite) == nil
}

type handler func(w http.ResponseWriter, r *http.Request, q *request)

// signedIn loads the session of the request, or sends the browser to the
// sign-in page; a POST must also carry the session's CSRF token and come
// from one of our pages.
func (c *Console) signedIn(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, ok := c.load(w, r)
		if !ok {
			return
		}
		if r.Method == http.MethodPost && !c.checkForm(w, r, q) {
			return
		}
		h(w, r, q)
	}
}

// inWorkspace is signedIn plus the admin API's rule (wagate.Authorize)
// for the {ws} of the path.
func (c *Console) inWorkspace(want wagate.Access, h handler) http.HandlerFunc {
	return c.signedIn(func(w http.ResponseWriter, r *http.Request, q *request) {
		id := r.PathValue("ws")
		if err := wagate.Authorize(q.sess.role, q.sess.workspace, id, want); err != nil {
			c.fail(w, r, q, err)
			return
		}
		ws, err := c.svc.Workspaces.FindWorkspace(r.Context(), id)
		if err != nil {
			if wagate.ErrorCode(err) == wagate.ENOTFOUND {
				err = wagate.Errorf(wagate.ENOTFOUND, "workspace %q not found", cut(id, 40))
			}
			c.fail(w, r, q, err)
			return
		}
		q.ws = ws
		h(w, r, q)
	})
}

// load returns the request's live session, or answers for it: a sign-in
// page for a GET, a 401 for a form (which cannot be replayed after a
// sign-in), an error page when the storage fails.
func (c *Console) load(w http.ResponseWriter, r *http.Request) (*request, bool) {
	sess, id, ok, err := c.current(r)
	switch {
	case err != nil:
		c.fail(w, r, nil, err)
		return nil, false
	case ok:
		return &request{sess: sess}, true
	}
	if id != "" {
		http.SetCookie(w, c.cookie(sessionCookie, "", -1))
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		c.fail(w, r, nil, wagate.Errorf(wagate.EUNAUTHORIZED, "your sign-in has ended; sign in again and repeat what you did"))
		return nil, false
	}
	http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	return nil, false
}

// checkForm refuses a POST without the session's CSRF token or from another
// origin.
func (c *Console) checkForm(w http.ResponseWriter, r *http.Request, q *request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, formBodyLimit)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, q, wagate.Errorf(wagate.EINVALID, "the form could not be read; reload the page and try again"))
		return false
	}
	if !c.sameOrigin(r) || !equalSecret(r.PostForm.Get(csrfField), q.sess.csrf) {
		c.log.Info("console form refused: CSRF token or origin", zap.String("path_template", r.Pattern), zap.String("workspace", q.sess.workspace))
		c.fail(w, r, q, wagate.Errorf(wagate.EFORBIDDEN, "this form is out of date or did not come from this console; reload the page and try again"))
		return false
	}
	// No value wagate keeps may hold a NUL (U+0000): WhatsApp takes none
	// and PostgreSQL cannot store one (the API refuses it alike).
	for _, k := range slices.Sorted(maps.Keys(r.PostForm)) {
		if strings.IndexByte(k, 0) >= 0 || slices.ContainsFunc(r.PostForm[k], func(v string) bool { return strings.IndexByte(v, 0) >= 0 }) {
			c.fail(w, r, q, wagate.Errorf(wagate.EINVALID, "the form field %q contains a NUL character (U+0000), which wagate does not store; remove it and send the form again", strings.ReplaceAll(k, "\x00", `\u0000`)))
			return false
		}
	}
	return true
}

// fail renders an error page with the status of err's code. Internal
// errors show a generic text; the cause goes to the log.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, q *request, err error) {
	status := gateway.StatusFor(wagate.ErrorCode(err))
	if status >= 500 {
		c.log.Error("console request failed", zap.String("path_template", r.Pattern), zap.Int("status", status), zap.Error(err))
	}
	v := c.view(q, "Something went wrong", "")
	v.Data = errorPage{Heading: errorHeading(status), Status: status, StatusText: http.StatusText(status), Message: wagate.ErrorMessage(err), SignIn: q == nil}
	c.render(w, status, "error", v)
}

func workspacePath(id string) string { return "/ui/w/" + url.PathEscape(id) + "/" }

// cut shortens a client-given string before it goes into a message.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// lockedReader serializes reads of an injected reader (a seeded one in
// tests may not be safe for concurrent use).
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
