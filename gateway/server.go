package gateway

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Defaults of Config, with their units.
const (
	DefaultInboundRate  = 20.0 // requests per second, per inbound URL
	DefaultInboundBurst = 40   // requests, per inbound URL
)

// InboundBodyLimit is the largest inbound request body (SPEC §1: 64 KiB);
// a larger one is a 413.
const InboundBodyLimit = 64 << 10

// adminBodyLimit bounds admin request bodies: they are small objects.
const adminBodyLimit = 64 << 10

// Config is the gateway's configuration. The zero value of each field means
// its default; see DefaultConfig.
type Config struct {
	// PublicURL is where clients reach this server, e.g.
	// http://127.0.0.1:8080; the inbound URL is PublicURL + "/inbound/" + token.
	PublicURL string
	// InboundRate is the sustained rate allowed per inbound URL, in
	// requests per second (default DefaultInboundRate).
	InboundRate float64
	// InboundBurst is how many requests an inbound URL may send at once
	// (default DefaultInboundBurst).
	InboundBurst int
	// PhoneCheck is how strictly phone numbers are checked (default valid).
	PhoneCheck wagate.PhoneCheck
	// AllowPrivateFileURLs lets a file_url name a loopback, private or
	// other internal IP address (--allow-private-file-urls, which lifts the
	// fetcher's check too): the inbound URL must not refuse what the
	// fetcher is told to allow.
	AllowPrivateFileURLs bool
	// MaxTokens is how many admin tokens a workspace may have (default
	// DefaultMaxTokens; --max-tokens).
	MaxTokens int
	// Logger receives one line per request; nil means zap.NewNop().
	Logger *zap.Logger
	// Registry receives the gateway's metrics and is what /metrics serves;
	// nil means a new registry.
	Registry *prometheus.Registry
	// Rand is the source of ids and tokens; nil means crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (clientaddr.go); nil means none: the TCP peer is the
	// client.
	TrustedProxies []netip.Prefix
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		InboundRate:  DefaultInboundRate,
		InboundBurst: DefaultInboundBurst,
		PhoneCheck:   wagate.PhoneCheckValid,
		MaxTokens:    DefaultMaxTokens,
	}
}

// Waker is told that an account has a new queued message, so its sender
// does not wait for a poll. sender.(*Sender) implements it. Wake must not
// block.
type Waker interface{ Wake(ref wagate.AccountRef) }

// Services are what the gateway reads and writes through; a storage backend
// (store.DB) implements all of the wagate services at once.
type Services struct {
	Workspaces wagate.WorkspaceService
	Accounts   wagate.AccountService
	Chats      wagate.ChatService
	Messages   wagate.MessageService
	Attempts   wagate.AttemptService
	Tokens     wagate.TokenService
	// Sessions keeps the web console's sign-ins; only the console uses it.
	Sessions wagate.SessionService
	// Endpoints keeps the outbound event webhooks and their deliveries.
	Endpoints wagate.EndpointService
	// Deliverer checks endpoints and makes their test sends (see
	// EndpointDeliverer); nil: none.
	Deliverer EndpointDeliverer
	// Linker links whatsapp accounts (SPEC §10); nil without the transport.
	Linker AccountLinker
	// Templates keeps message templates (SPEC §11); nil: none (the
	// template routes answer 503, "template" on the inbound URL is a 400).
	Templates wagate.TemplateService
	// Windows knows when customers last wrote (SPEC §8's 24-hour
	// window); nil: never known, every free-form send is accepted.
	Windows wagate.WindowService
	// Waker is woken after each accepted message; nil means nobody is.
	Waker Waker
	// Ready answers /readyz: a nil error means ready. nil means always ready.
	Ready func() error
	// Transports are the transports this server sends through, by name,
	// with what can be checked about them at once. Accounts can be
	// connected only on these. nil means dryrun alone.
	Transports map[string]TransportRules
}

// TransportRules are the checks of one transport that the gateway runs at
// once, so a request that its transport could never send is a 400 now
// rather than a failed, refunded message later. The transport packages
// provide them; the gateway never imports a transport.
type TransportRules struct {
	// ValidateSettings checks an account's settings when it is connected,
	// refusing the keys the transport does not know (SPEC §4); nil means
	// the transport takes none, and any setting is a 400. Its error names
	// the setting.
	ValidateSettings func(settings map[string]string) error
	// CheckRecipient checks a resolved JID on the inbound URL; nil means
	// every JID is fine. Its error names the transport.
	CheckRecipient func(jid string) error
	// SyncTemplates reads an account's templates from the provider (SPEC
	// §8); nil means the transport has none. An account with nowhere to
	// read them from is an error wrapping wagate.ErrNoProviderTemplates.
	SyncTemplates func(ctx context.Context, settings map[string]string) ([]wagate.ProviderTemplate, error)
	// Window names the conversation of an account's settings and a JID
	// for the 24-hour customer service window (SPEC §8); ok is false when
	// the transport has no such window. nil means none.
	Window func(settings map[string]string, jid string) (key wagate.ChatKey, ok bool)
}

// Server is the HTTP gateway. Create it with New and serve Handler().
type Server struct {
	cfg      Config
	svc      Services
	log      *zap.Logger
	now      func() time.Time
	rand     io.Reader
	ids      *wagate.MessageIDs
	echo     *echo.Echo
	limits   *limiterSet
	metrics  *metrics
	draining atomic.Bool
	// routes are the registered path templates: only these ever reach a
	// log line or a metric label, never a raw path, which may hold a token.
	routes map[string]bool
}

// New builds a Server from cfg (zero fields take their defaults) and svc.
// It registers the gateway's metrics in cfg.Registry; calling New twice
// with one registry shares the collectors.
func New(cfg Config, svc Services) *Server {
	if cfg.InboundRate <= 0 {
		cfg.InboundRate = DefaultInboundRate
	}
	if cfg.InboundBurst <= 0 {
		cfg.InboundBurst = DefaultInboundBurst
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.PhoneCheck == "" {
		cfg.PhoneCheck = wagate.PhoneCheckValid
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Server{
		cfg:     cfg,
		svc:     svc,
		log:     cfg.Logger.Named("gateway"),
		now:     cfg.Now,
		rand:    &lockedReader{r: cfg.Rand},
		limits:  newLimiterSet(cfg.InboundRate, cfg.InboundBurst),
		metrics: newMetrics(cfg.Registry),
		routes:  map[string]bool{},
	}
	s.ids = wagate.NewMessageIDs(s.rand) // s.rand: cfg.Rand need not be safe for concurrent use
	s.echo = s.newEcho()
	return s
}

// Handler returns the HTTP handler of the whole gateway (the echo instance).
func (s *Server) Handler() http.Handler { return s.echo }

// Drain starts the shutdown: from now on the inbound URL and every admin
// write answer 503 and accept nothing, and /readyz reports not ready, while
// requests already running finish. It cannot be undone.
func (s *Server) Drain() { s.draining.Store(true) }

// ConsolePath is where MountConsole serves the web console.
const ConsolePath = "/ui/"

// MountConsole serves the web console h under ConsolePath, through the
// gateway's request id, log, recovery and drain middleware (so a console
// write answers 503 while shutting down), and sends a browser that opens /
// or /ui to it. Call it before serving: echo's router is not safe to change
// while it serves. h sees the full path, /ui/ included.
func (s *Server) MountConsole(h http.Handler) {
	toConsole := func(c echo.Context) error { return c.Redirect(http.StatusFound, ConsolePath) }
	s.routes["/"], s.routes["/ui"], s.routes[ConsolePath+"*"] = true, true, true
	s.echo.GET("/", toConsole)
	s.echo.GET("/ui", toConsole)
	s.echo.Any(ConsolePath+"*", echo.WrapHandler(h), s.drainWrites)
}

// Mount serves h at path for methods, through the gateway's request id,
// log and recovery middleware: for endpoints a transport owns, such as the
// Cloud API's status webhook (the gateway never imports a transport). path
// is a fixed path; it becomes the route label of log lines and metrics.
// Call it before serving.
func (s *Server) Mount(path string, h http.Handler, methods ...string) {
	s.routes[path] = true
	for _, m := range methods {
		s.echo.Add(m, path, echo.WrapHandler(h))
	}
}

// InboundURL returns the full inbound URL of an inbound token.
func (s *Server) InboundURL(token string) string {
	return s.cfg.PublicURL + "/inbound/" + token
}

// InboundURLFor returns the inbound URL as a token of role may see it: whole
// for the operator and owners, masked for support staff
// (…/inbound/Xy12…9aBc), who only read and must not be able to send.
func (s *Server) InboundURLFor(token string, role wagate.Role) string {
	if role == wagate.RoleOwner || role == wagate.RoleOperator {
		return s.InboundURL(token)
	}
	return s.cfg.PublicURL + "/inbound/" + MaskToken(token)
}

// MaskToken keeps the first and last four characters of a token, enough to
// tell two URLs apart and far too little to use one.
func MaskToken(token string) string {
	const keep = 4
	if len(token) <= 3*keep {
		return "…"
	}
	return token[:keep] + "…" + token[len(token)-keep:]
}

func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	// X-Forwarded-For is whatever the client says: it counts only from a
	// trusted proxy, so the attempt log and the limits are not spoofable.
	e.IPExtractor = func(r *http.Request) string { return clientAddr(r, s.cfg.TrustedProxies) }
	e.Use(s.requestIDMiddleware, s.logMiddleware, s.recoverMiddleware, s.noNULInURL)

	add := func(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
		s.routes[path] = true
		e.Add(method, path, h, m...)
	}

	add(http.MethodGet, "/healthz", s.healthz)
	add(http.MethodGet, "/readyz", s.readyz)
	metricsHandler := echo.WrapHandler(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	add(http.MethodGet, "/metrics", metricsHandler)

	add(http.MethodPost, "/inbound/:token", s.inbound)
	add(http.MethodPost, "/inbound/:token/batch", s.inboundBatch) // batch.go
	// Other paths under /inbound/ (an extra segment, a trailing slash, an
	// empty token) are an unknown webhook too, with SPEC's exact 404.
	webhookNotFound := func(echo.Context) error { return wagate.ErrWebhookNotFound() }
	add(echo.RouteNotFound, "/inbound/:token/*", webhookNotFound)
	add(http.MethodPost, "/inbound/", webhookNotFound) // an empty token

	api := []echo.MiddlewareFunc{s.drainWrites, s.authenticate}
	const ws = "/api/v1/workspaces/:ws"
	add(http.MethodPost, "/api/v1/workspaces", s.createWorkspace, api...)
	add(http.MethodGet, "/api/v1/workspaces", s.listWorkspaces, api...)
	add(http.MethodGet, ws, s.getWorkspace, api...)
	add(http.MethodPatch, ws, s.patchWorkspace, api...)
	add(http.MethodPost, ws+"/credits", s.addCredits, api...)
	add(http.MethodPatch, ws+"/webhook", s.setWebhook, api...)
	add(http.MethodPost, ws+"/webhook/regenerate", s.regenerateWebhook, api...)
	add(http.MethodGet, ws+"/webhook/attempts", s.listAttempts, api...)
	add(http.MethodGet, ws+"/webhook/attempts/download", s.downloadAttempts, api...)
	add(http.MethodPost, ws+"/accounts", s.createAccount, api...)
	add(http.MethodGet, ws+"/accounts", s.listAccounts, api...)
	add(http.MethodPatch, ws+"/accounts/:phone", s.setAccountActive, api...)
	add(http.MethodDelete, ws+"/accounts/:phone", s.deleteAccount, api...)
	add(http.MethodPost, ws+"/accounts/:phone/link", s.startLink, api...)
	add(http.MethodGet, ws+"/accounts/:phone/link", s.getLink, api...)
	add(http.MethodDelete, ws+"/accounts/:phone/link", s.deleteLink, api...)
	add(http.MethodGet, ws+"/accounts/:phone/link/events", s.linkEvents, api...)
	add(http.MethodPost, ws+"/chats", s.createChat, api...)
	add(http.MethodGet, ws+"/chats", s.listChats, api...)
	add(http.MethodGet, ws+"/messages/:id", s.getMessage, api...)
	add(http.MethodGet, ws+"/messages", s.listMessages, api...)
	add(http.MethodDelete, ws+"/messages/:id", s.cancelMessage, api...)
	add(http.MethodPost, ws+"/tokens", s.createToken, api...)
	add(http.MethodGet, "/api/v1/openapi.json", s.openAPI)
	add(http.MethodGet, ws+"/tokens", s.listTokens, api...)
	add(http.MethodDelete, ws+"/tokens/:id", s.revokeToken, api...)
	add(http.MethodGet, "/api/v1/events", s.listEvents) // public, as the OpenAPI document is
	add(http.MethodPost, ws+"/endpoints", s.createEndpoint, api...)
	add(http.MethodGet, ws+"/endpoints", s.listEndpoints, api...)
	add(http.MethodGet, ws+"/endpoints/:id", s.getEndpoint, api...)
	add(http.MethodPatch, ws+"/endpoints/:id", s.patchEndpoint, api...)
	add(http.MethodDelete, ws+"/endpoints/:id", s.deleteEndpoint, api...)
	add(http.MethodPost, ws+"/endpoints/:id/secret/rotate", s.rotateEndpointSecret, api...)
	add(http.MethodPost, ws+"/endpoints/:id/test", s.testEndpoint, api...)
	add(http.MethodGet, ws+"/endpoints/:id/deliveries", s.listDeliveries, api...)
	add(http.MethodPost, ws+"/endpoints/:id/deliveries/:delivery/retry", s.retryDelivery, api...)
	add(http.MethodPost, ws+"/templates", s.createTemplate, api...)
	add(http.MethodGet, ws+"/templates", s.listTemplates, api...)
	add(http.MethodGet, ws+"/templates/:name", s.getTemplate, api...)
	add(http.MethodPatch, ws+"/templates/:name", s.updateTemplate, api...)
	add(http.MethodDelete, ws+"/templates/:name", s.deleteTemplate, api...)
	add(http.MethodPost, ws+"/templates/:name/preview", s.previewTemplate, api...)
	add(http.MethodPost, ws+"/templates/:name/test", s.testTemplate, api...)
	add(http.MethodGet, ws+"/accounts/:phone/templates", s.listAccountTemplates, api...)
	add(http.MethodPost, ws+"/accounts/:phone/templates/sync", s.syncAccountTemplates, api...)
	return e
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return wagate.Errorf(wagate.EUNAVAILABLE, "not ready: shutting down")
	}
	if s.svc.Ready != nil {
		if err := s.svc.Ready(); err != nil {
			return notReady(err)
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// notReady keeps a domain reason (written by us, safe to show) and hides
// anything else behind a generic text; the raw error still reaches the log.
func notReady(err error) error {
	msg := "not ready"
	if wagate.ErrorCode(err) != wagate.EINTERNAL {
		msg += ": " + wagate.ErrorMessage(err)
	}
	return &wrapped{err: wagate.Errorf(wagate.EUNAVAILABLE, "%s", msg), cause: err}
}

// lockedReader serializes reads: crypto/rand.Reader is safe for concurrent
// use, but an injected reader (a seeded one in tests) may not be.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
