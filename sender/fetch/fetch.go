package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
	"github.com/wagate/wagate/sender/netguard"
	"github.com/wagate/wagate/sender/retryafter"
)

// Defaults of Config.
const (
	// DefaultMaxBytes is SPEC §2's "at most 2 MB", read as 2 MiB: a file
	// its owner calls 2 MB (2,000,000 bytes or 2 MiB) always fits, and
	// Meta's media limits, which are larger, are never the bottleneck.
	DefaultMaxBytes = 2 << 20
	// DefaultConnectTimeout bounds the TCP connect and the TLS handshake of
	// each hop: a host that does not accept a connection in 10 s is down.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultTimeout bounds a whole fetch, redirects and body included:
	// 2 MB in 60 s is a slow link already (about 270 kbit/s).
	DefaultTimeout = 60 * time.Second
	// DefaultMaxRedirects is SPEC §2's "at most 5 redirects".
	DefaultMaxRedirects = 5
)

const (
	// userAgent names wagate, so a file host's operator can tell who
	// downloads (Go's default agent is blocked by some hosts as a bot).
	userAgent = "wagate-fetch/1 (+https://github.com/wagate/wagate)"
	// maxHeaderBytes caps the response headers kept in memory: a file host
	// needs a few hundred bytes, a hostile one cannot make us hold more.
	maxHeaderBytes = 64 << 10
	// maxRetryAfter caps a host's Retry-After at the longest backoff step
	// of SPEC §2, so one host cannot park a message for a day.
	maxRetryAfter = 30 * time.Minute
)

// Config tunes a Fetcher. The zero value is the production setting.
type Config struct {
	// AllowPrivate lets the fetcher connect to loopback, private, link-local
	// and the other internal addresses netguard.Classify refuses (the
	// --allow-private-file-urls flag): for tests and closed networks only,
	// since it lets any workspace make the server fetch from its own network.
	AllowPrivate bool
	// MaxBytes is the largest file accepted. 0 means DefaultMaxBytes.
	MaxBytes int64
	// ConnectTimeout bounds each TCP connect and TLS handshake. 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Timeout bounds one whole Fetch, all redirects and the body included.
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRedirects is how many redirects one Fetch follows. 0 means
	// DefaultMaxRedirects; a negative value means none.
	MaxRedirects int
	// RootCAs verifies the file hosts' certificates. nil means the system's
	// pool; set it for a closed network with its own CA (and for tests).
	RootCAs *x509.CertPool
	// Logger gets one debug line per fetch, naming the host only (paths and
	// queries may hold signed tokens). nil means zap.NewNop().
	Logger *zap.Logger
}

// normalize fills the defaults.
func (c Config) normalize() Config {
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.MaxRedirects == 0:
		c.MaxRedirects = DefaultMaxRedirects
	case c.MaxRedirects < 0:
		c.MaxRedirects = 0
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

var _ sender.Fetcher = (*Fetcher)(nil)

// Fetcher downloads attachments under SPEC §2's rules. It is safe for
// concurrent use; one Fetcher serves every account.
type Fetcher struct {
	cfg       Config
	log       *zap.Logger
	transport *http.Transport
	now       func() time.Time

	// Test hooks, set by export_test.go before the first Fetch.
	allowAddr func(netip.AddrPort) bool // true: connect even if netguard.Classify refuses
	wrapBody  func(io.Reader) io.Reader // sees every body read
}

// New returns a Fetcher for cfg.
func New(cfg Config) *Fetcher {
	cfg = cfg.normalize()
	f := &Fetcher{cfg: cfg, log: cfg.Logger.Named("fetch"), now: time.Now}
	dialer := &net.Dialer{
		Timeout:   cfg.ConnectTimeout,
		KeepAlive: 30 * time.Second,
		// The check runs on the resolved address of every connection, just
		// before connect(2): every DNS answer, every redirect hop, and no
		// window for DNS rebinding between a check and the connect.
		ControlContext: netguard.Control(f.allow),
	}
	f.transport = &http.Transport{
		Proxy:                  nil, // an HTTP(S)_PROXY from the environment would connect for us, unchecked
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cfg.ConnectTimeout,
		ForceAttemptHTTP2:      true,
		DisableCompression:     true, // the file is the bytes the host sends (see doc.go)
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	return f
}

// CloseIdleConnections closes the kept-alive connections to file hosts, for
// a clean shutdown. The Fetcher stays usable.
func (f *Fetcher) CloseIdleConnections() { f.transport.CloseIdleConnections() }

// allow is the netguard.Control exception: everything with AllowPrivate,
// else the one address a test lets through.
func (f *Fetcher) allow(ap netip.AddrPort) bool {
	return f.cfg.AllowPrivate || (f.allowAddr != nil && f.allowAddr(ap))
}

// fetchError is an error whose text is written for the workspace that
// reads its message's error: it names the host, the status, the size or the
// address class, never the path or query (a signed link's token), never
// the fetched body. cause is kept for errors.Is and errors.As; it is never
// a *url.Error, whose text holds the whole URL.
type fetchError struct {
	msg   string
	cause error
}

func (e *fetchError) Error() string { return e.msg }
func (e *fetchError) Unwrap() error { return e.cause }

func failf(cause error, format string, args ...any) *fetchError {
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	return &fetchError{msg: fmt.Sprintf(format, args...), cause: cause}
}

// permanentf is failf for what no retry can fix.
func permanentf(cause error, format string, args ...any) error {
	return sender.Permanent(failf(cause, format, args...))
}

// errTimeout is the cause of the context that bounds a fetch, so a timeout
// of ours is told apart from the caller's cancellation.
var errTimeout = errors.New("fetch timed out")

// hop is what a Fetch knows of the request under way, for its messages.
type hop struct {
	host      string // host[:port] of the request under way
	redirects int    // redirects followed so far
}

// Fetch downloads rawURL. See the package documentation for the rules and
// the sender.Fetcher contract for the error kinds.
func (f *Fetcher) Fetch(ctx context.Context, rawURL, fileName string) (*wagate.Attachment, error) {
	start := f.now()
	u, err := checkURL(rawURL)
	if err != nil {
		f.log.Debug("fetch refused", zap.Error(err))
		return nil, err
	}
	h := &hop{host: u.Host}
	att, err := f.fetch(ctx, u, fileName, h)
	if err != nil {
		f.log.Debug("fetch failed", zap.String("host", u.Host), zap.String("last_host", h.host),
			zap.Int("redirects", h.redirects), zap.Duration("took", f.now().Sub(start)),
			zap.Bool("permanent", sender.IsPermanent(err)), zap.Error(err))
		return nil, err
	}
	f.log.Debug("fetched", zap.String("host", u.Host), zap.String("last_host", h.host),
		zap.Int("redirects", h.redirects), zap.Int("bytes", len(att.Data)),
		zap.String("content_type", att.ContentType), zap.Duration("took", f.now().Sub(start)))
	return att, nil
}

func (f *Fetcher) fetch(ctx context.Context, u *url.URL, fileName string, h *hop) (*wagate.Attachment, error) {
	tctx, cancel := context.WithTimeoutCause(ctx, f.cfg.Timeout, errTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, permanentf(err, "file_url is not a valid link; use a full link such as https://example.com/file.pdf")
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Encoding", "identity")

	// One client per fetch, sharing the transport, so checkRedirect can
	// record the hop for this fetch's messages.
	client := &http.Client{
		Transport: f.transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return f.checkRedirect(req, via, h)
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, f.failure(ctx, tctx, err, h, 0)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(resp.StatusCode, h.host, resp.Header.Get("Retry-After"), f.now())
	}
	if resp.ContentLength > f.cfg.MaxBytes {
		return nil, f.tooLarge()
	}
	var body io.Reader = resp.Body
	if f.wrapBody != nil {
		body = f.wrapBody(body)
	}
	data, err := io.ReadAll(io.LimitReader(body, f.cfg.MaxBytes+1))
	switch {
	case int64(len(data)) > f.cfg.MaxBytes:
		return nil, f.tooLarge()
	case err != nil:
		return nil, f.failure(ctx, tctx, err, h, len(data))
	case len(data) == 0:
		return nil, permanentf(nil, "file_url returned an empty file")
	}
	if isWebPage(data) {
		return nil, permanentf(nil, "file_url returned a web page, not a direct download link")
	}
	return &wagate.Attachment{
		Name:        fileName,
		ContentType: contentType(data, fileName, path.Base(resp.Request.URL.Path)),
		Data:        data,
	}, nil
}

// checkURL parses a file_url and refuses what cannot be fetched whatever
// the network says. The gateway checks the syntax at accept time already;
// this is the fetcher's own guard, since messages stored before a rule
// existed still arrive here.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return nil, permanentf(nil, "file_url is not an absolute link; use a full link such as https://example.com/file.pdf")
	}
	if err := checkHop(u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkHop holds the rules every URL of a fetch must meet, the first and
// each redirect's.
func checkHop(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https": // url.Parse lower-cases the scheme
		return permanentf(nil, "file_url: scheme %q is not supported; use an http:// or https:// link", cut(u.Scheme, 20))
	case u.Hostname() == "":
		return permanentf(nil, "file_url has no host; use a full link such as https://example.com/file.pdf")
	case u.User != nil:
		// Refused rather than sent as Basic auth: SPEC §1 asks for a public
		// link, and credentials in a URL end up in logs and error texts.
		return permanentf(nil, "file_url (host %s) contains a user name or password; use a public link that needs no login", u.Host)
	}
	return nil
}

// checkRedirect is http.Client's hook before it follows a redirect. Each
// hop's address is checked again by netguard.Control, when the hop connects.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request, h *hop) error {
	// http.Client sets Referer to the previous hop's whole URL, which would
	// hand a signed link's token to the next host.
	req.Header.Del("Referer")
	from := h.host
	h.host = req.URL.Host
	h.redirects = len(via)
	if len(via) > f.cfg.MaxRedirects {
		if f.cfg.MaxRedirects == 0 {
			return permanentf(nil, "file_url (host %s) redirects, and this server follows no redirects; use the final download link", from)
		}
		return permanentf(nil, "file_url: more than %d redirects (the last from host %s); use the final download link", f.cfg.MaxRedirects, from)
	}
	if err := checkHop(req.URL); err != nil {
		return err
	}
	if req.URL.Scheme == "http" {
		for _, v := range via {
			if v.URL.Scheme == "https" {
				return permanentf(nil, "file_url: host %s redirects from https to http (host %s), which wagate refuses: the file would travel unencrypted; use an https link that stays https", from, req.URL.Host)
			}
		}
	}
	return nil
}

// failure turns an error of the HTTP exchange into a Fetch error: permanent
// for what no retry fixes (a refused address, a redirect rule, an unknown
// host, a bad certificate), transient for the rest. got is the number of
// body bytes read before the error.
func (f *Fetcher) failure(ctx, tctx context.Context, err error, h *hop, got int) error {
	var (
		fe   *fetchError
		be   *netguard.BlockedError
		dnse *net.DNSError
		nete net.Error
	)
	switch {
	case errors.As(err, &fe):
		return sender.Permanent(fe) // checkRedirect's: a redirect rule broken
	case errors.As(err, &be):
		verb := "resolves to"
		if _, perr := netip.ParseAddr(strings.Trim(hostname(h.host), "[]")); perr == nil {
			verb = "is"
		}
		what := fmt.Sprintf("%s %s address; wagate does not fetch from internal addresses, use a public link", netguard.Article(be.Class), be.Class)
		if h.redirects > 0 {
			return permanentf(err, "file_url redirects to host %s, which %s %s", h.host, verb, what)
		}
		return permanentf(err, "file_url: host %s %s %s", h.host, verb, what)
	case ctx.Err() != nil:
		return failf(ctx.Err(), "file_url: the download from host %s was cancelled", h.host)
	case errors.Is(context.Cause(tctx), errTimeout):
		return failf(err, "file_url: host %s did not send the file within %s", h.host, f.cfg.Timeout)
	case errors.As(err, &dnse) && dnse.IsNotFound:
		return permanentf(err, "file_url: host %s was not found (DNS); check the link", h.host)
	case errors.As(err, &dnse):
		return failf(err, "file_url: the DNS lookup of host %s failed", h.host)
	case isCertError(err):
		return permanentf(err, "file_url: host %s has no valid TLS certificate (%s); use a link to a host with a valid certificate", h.host, certProblem(err))
	case errors.As(err, new(tls.RecordHeaderError)):
		return permanentf(err, "file_url: host %s does not speak TLS on that port; check whether the link should be http://", h.host)
	case errors.Is(err, syscall.ECONNREFUSED):
		return failf(err, "file_url: host %s refused the connection", h.host)
	case errors.As(err, &nete) && nete.Timeout():
		return failf(err, "file_url: host %s did not accept a connection within %s", h.host, f.cfg.ConnectTimeout)
	case got > 0:
		return failf(err, "file_url: the download from host %s broke off after %d bytes", h.host, got)
	default:
		// The underlying text is left out: it can quote the host's
		// malformed answer or a redirect's Location.
		return failf(err, "file_url: the download from host %s failed (connection lost or not a valid HTTP answer)", h.host)
	}
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func isCertError(err error) bool {
	var (
		ve  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	return errors.As(err, &ve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &cie)
}

// certProblem names a certificate error in a few words. x509's own texts
// are safe to show (they name certificate subjects, which are public), but
// short ones read better in a message's error.
func certProblem(err error) string {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &ua):
		return "signed by an unknown authority"
	case errors.As(err, &he):
		return "issued for another host name"
	case errors.As(err, &cie) && cie.Reason == x509.Expired:
		return "expired or not yet valid"
	default:
		return "not trusted"
	}
}

// statusError is the error of a non-2xx answer. The status text is Go's
// for the code, never the host's reason phrase, which the host chooses.
func statusError(code int, host, retryAfter string, now time.Time) error {
	status := strconv.Itoa(code)
	if t := http.StatusText(code); t != "" {
		status += " " + t
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return permanentf(nil, "file_url answered %s (host %s); the file must be downloadable without a login", status, host)
	case code == http.StatusNotFound || code == http.StatusGone:
		return permanentf(nil, "file_url answered %s (host %s); check the link", status, host)
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests || code >= 500:
		err := error(failf(nil, "file_url answered %s (host %s)", status, host))
		if d, ok := retryafter.Parse(retryAfter, now, maxRetryAfter); ok {
			return sender.RetryAfter(err, d)
		}
		return err
	case code >= 300 && code < 400:
		return permanentf(nil, "file_url answered %s (host %s) without a redirect to follow; use a direct download link", status, host)
	default:
		return permanentf(nil, "file_url answered %s (host %s)", status, host)
	}
}

func (f *Fetcher) tooLarge() error {
	return permanentf(nil, "file_url: the file is larger than %s", formatSize(f.cfg.MaxBytes))
}

// formatSize writes a limit the way people say it: 2 MB, 512 KB, 1000
// bytes. MB and KB are binary here (2 MB = 2 MiB), matching DefaultMaxBytes.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// cut shortens s to at most n bytes for a message, so a huge bogus scheme
// does not fill the error.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
