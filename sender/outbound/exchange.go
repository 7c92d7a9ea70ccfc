package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/netguard"
	"github.com/wagate/wagate/sender/retryafter"
)

// Delivery rules of SPEC §9.
const (
	// DefaultTimeout bounds one whole exchange: connect, request, answer.
	DefaultTimeout = 15 * time.Second
	// connectTimeout bounds the TCP connect and the TLS handshake, within
	// the whole.
	connectTimeout = 10 * time.Second
	// maxResponseHeaderBytes caps the answer's headers: a receiver needs a
	// few hundred bytes, a hostile one cannot make us hold more.
	maxResponseHeaderBytes = 64 << 10
	// maxKeptHeaders caps the response headers kept in the history.
	maxKeptHeaders = 30
	// maxRetryAfter caps a receiver's Retry-After before it is clamped to
	// the schedule (which never waits more than twice its 10 h).
	maxRetryAfter = 24 * time.Hour
)

// outcome is what one attempt came to, before the deliverer decides what
// follows.
type outcome struct {
	req      wagate.DeliveryRequest
	resp     wagate.DeliveryResponse
	at       time.Time
	duration time.Duration
	err      error         // nil: a 2xx
	final    bool          // no other attempt can succeed (a BuildError)
	gone     bool          // 410: disable the endpoint
	retry    time.Duration // the receiver's Retry-After, when hasRetry
	hasRetry bool
}

// newTransport returns the HTTP transport of deliveries: every connection
// checked by netguard.Control unless allowPrivate, no proxy from the
// environment (a proxy would connect for us, out of the check's reach), no
// compressed answers asked for.
func newTransport(allow func(netip.AddrPort) bool, roots *x509.CertPool) *http.Transport {
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second, ControlContext: netguard.Control(allow)}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: connectTimeout,
		ForceAttemptHTTP2:   true,
		DisableCompression:  true,
		// Every endpoint of a workspace may be on one host (a CRM with a
		// path per automation): keep a connection for each delivery in
		// flight, or all but 4 are dialled again for every delivery.
		MaxIdleConns:           4 * MaxInFlight * wagate.EndpointLimit,
		MaxIdleConnsPerHost:    MaxInFlight * wagate.EndpointLimit,
		IdleConnTimeout:        60 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
}

// errTimeout is the cause of the context that bounds an exchange, so our
// timeout is told apart from a stop.
var errTimeout = errors.New("delivery timed out")

// exchange makes one attempt of delivering ev to e: build, sign, send,
// read up to DeliveryBodyLimit+1 bytes of the answer. Redirects are not
// followed: a 3xx is a failure like any other non-2xx.
func (d *Deliverer) exchange(ctx context.Context, e *wagate.Endpoint, ev *wagate.Event) *outcome {
	start := d.now()
	o := &outcome{at: start}
	defer func() { o.duration = d.now().Sub(start) }()

	r, err := Build(e, ev, d.cfg.Payload)
	if err != nil {
		o.err, o.final = err, true
		o.req = wagate.DeliveryRequest{Method: method(e), URL: safeURL(e.URL)}
		return o
	}
	ts := start.Unix()
	sig, err := Signature(e, start, ev.ID, ts, r.Body)
	if err != nil {
		o.err, o.final = err, true
		o.req = r.Masked()
		return o
	}
	signed := []wagate.Field{
		{Key: HeaderID, Value: ev.ID},
		{Key: HeaderTimestamp, Value: strconv.FormatInt(ts, 10)},
		{Key: HeaderSignature, Value: sig},
	}
	o.req = r.Masked(signed...)

	tctx, cancel := context.WithTimeoutCause(ctx, d.cfg.Timeout, errTimeout)
	defer cancel()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(tctx, r.Method, r.URL.String(), body)
	if err != nil {
		// Not err's text: a *url.Error quotes the whole URL, whose query
		// may hold a secret, and this error goes to the history and the log.
		o.err, o.final = buildErrorf("the request cannot be made; check the endpoint's url, path, query and method"), true
		return o
	}
	for _, h := range append(r.Headers, signed...) {
		req.Header.Set(h.Key, h.Value)
	}
	req.Header.Set("Accept-Encoding", "identity")

	resp, err := d.client.Do(req)
	if err != nil {
		o.err = d.failure(ctx, tctx, err)
		return o
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, wagate.DeliveryBodyLimit+1))
	o.resp = wagate.DeliveryResponse{Status: resp.StatusCode, Headers: keptHeaders(resp.Header), Body: capBody(data)}
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		// The answer counts, whatever happens to the rest of its body.
		return o
	case code == http.StatusGone:
		o.gone = true
		o.err = errors.New("endpoint answered 410 Gone")
	case code >= 300 && code <= 399:
		o.err = fmt.Errorf("endpoint answered %s; redirects are not followed, set the endpoint's url to the final address", statusText(code))
	default:
		o.err = fmt.Errorf("endpoint answered %s", statusText(code))
		o.retry, o.hasRetry = retryafter.Parse(resp.Header.Get("Retry-After"), d.now(), maxRetryAfter)
	}
	if rerr != nil && o.err == nil {
		o.err = d.failure(ctx, tctx, rerr)
	}
	return o
}

// failure words an error of the exchange for the history: the kind of
// failure, never the URL (a *url.Error's text holds it, and the query may
// carry the receiver's key) nor a blocked address itself.
func (d *Deliverer) failure(ctx, tctx context.Context, err error) error {
	var (
		be   *netguard.BlockedError
		dnse *net.DNSError
		nete net.Error
	)
	switch {
	case errors.As(err, &be):
		return fmt.Errorf("the endpoint's host is %s %s address; wagate does not deliver to internal addresses unless started with --allow-private-endpoints", netguard.Article(be.Class), be.Class)
	case ctx.Err() != nil:
		return errors.New("the delivery was interrupted by a stop of wagate")
	case errors.Is(context.Cause(tctx), errTimeout):
		return fmt.Errorf("the endpoint did not answer within %s", d.cfg.Timeout)
	case errors.As(err, &dnse) && dnse.IsNotFound:
		return errors.New("the endpoint's host was not found (DNS); check the url")
	case errors.As(err, &dnse):
		return errors.New("the DNS lookup of the endpoint's host failed")
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("the endpoint refused the connection")
	case isCertError(err):
		return errors.New("the endpoint has no valid TLS certificate")
	case errors.As(err, &nete) && nete.Timeout():
		return fmt.Errorf("the endpoint did not accept a connection within %s", connectTimeout)
	default:
		return errors.New("the connection to the endpoint failed (lost, or not a valid HTTP answer)")
	}
}

func isCertError(err error) bool {
	var (
		ve *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
	)
	return errors.As(err, &ve) || errors.As(err, &ua) || errors.As(err, &he)
}

// statusText is "503 Service Unavailable": Go's text, never the
// receiver's reason phrase.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// keptHeaders are the answer's headers for the history, sorted, at most
// maxKeptHeaders, each value cut.
func keptHeaders(h http.Header) []wagate.Field {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []wagate.Field
	for _, k := range keys {
		for _, v := range h[k] {
			if len(out) == maxKeptHeaders {
				return out
			}
			out = append(out, wagate.Field{Key: k, Value: cutText(v, 512)})
		}
	}
	return out
}

// safeURL is an endpoint URL as the history shows it when the request
// could not be built: the base as stored.
func safeURL(raw string) string { return cutText(raw, 2048) }
