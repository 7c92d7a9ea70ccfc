package fetch_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wagate/wagate/sender"
	"github.com/wagate/wagate/sender/fetch"
)

// pngBytes is the start of a real PNG: enough for http.DetectContentType.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00")

// server starts an httptest server on 127.0.0.1 that counts its requests.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// serveFile answers with body under a declared content type.
func serveFile(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	}
}

func newFetcher(t *testing.T, cfg fetch.Config) *fetch.Fetcher {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	f := fetch.New(cfg)
	t.Cleanup(f.CloseIdleConnections)
	return f
}

// mustFail fetches rawURL, expects an error of the given kind, and returns
// its text.
func mustFail(t *testing.T, f *fetch.Fetcher, rawURL string, permanent bool) string {
	t.Helper()
	att, err := f.Fetch(t.Context(), rawURL, "file.bin")
	if err == nil {
		t.Fatalf("Fetch succeeded with %d bytes of %s; want an error", len(att.Data), att.ContentType)
	}
	if got := sender.IsPermanent(err); got != permanent {
		t.Fatalf("IsPermanent = %v; want %v (error: %v)", got, permanent, err)
	}
	t.Logf("%s: %v", rawURL, err)
	return err.Error()
}

func TestFetchSniffsContentType(t *testing.T) {
	var gotUA, gotAE atomic.Value
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		gotUA.Store(r.UserAgent())
		gotAE.Store(r.Header.Get("Accept-Encoding"))
		serveFile("text/plain", pngBytes)(w, r) // a lying Content-Type
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	att, err := f.Fetch(t.Context(), srv.URL+"/logo", "logo.png")
	if err != nil {
		t.Fatal(err)
	}
	if att.Name != "logo.png" || att.ContentType != "image/png" || !bytes.Equal(att.Data, pngBytes) {
		t.Errorf("got %q %q %d bytes; want logo.png image/png %d bytes", att.Name, att.ContentType, len(att.Data), len(pngBytes))
	}
	if ae := gotAE.Load(); ae != "identity" {
		t.Errorf("Accept-Encoding = %q; want identity", ae)
	}
	if ua, _ := gotUA.Load().(string); !strings.HasPrefix(ua, "wagate") {
		t.Errorf("User-Agent = %q; want wagate's", ua)
	}
}

func TestFetchRefinesZipByName(t *testing.T) {
	// A minimal empty zip archive (end of central directory only) is not
	// sniffed as zip; a local file header is.
	docx := append([]byte("PK\x03\x04\x14\x00\x00\x00\x00\x00"), make([]byte, 40)...)
	srv, _ := server(t, serveFile("application/octet-stream", docx))
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	att, err := f.Fetch(t.Context(), srv.URL+"/download?id=1", "Offer.docx")
	if err != nil {
		t.Fatal(err)
	}
	if want := "application/vnd.openxmlformats-officedocument.wordprocessingml.document"; att.ContentType != want {
		t.Errorf("ContentType = %q; want %q", att.ContentType, want)
	}
}

func TestFetchHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(serveFile("application/pdf", []byte("%PDF-1.7\n%%EOF\n")))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusting client's handshake fails on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	f := newFetcher(t, fetch.Config{AllowPrivate: true, RootCAs: pool})
	att, err := f.Fetch(t.Context(), srv.URL+"/a.pdf", "a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if att.ContentType != "application/pdf" {
		t.Errorf("ContentType = %q; want application/pdf", att.ContentType)
	}

	// Without the test CA the certificate is not trusted: no retry fixes it.
	untrusting := newFetcher(t, fetch.Config{AllowPrivate: true})
	msg := mustFail(t, untrusting, srv.URL+"/a.pdf", true)
	if !strings.Contains(msg, "certificate") {
		t.Errorf("error %q does not name the certificate", msg)
	}
}

func TestInternalAddressesRefused(t *testing.T) {
	srv, hits := server(t, serveFile("image/png", pngBytes))
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	f := newFetcher(t, fetch.Config{}) // production setting

	tests := []struct {
		url, want string
	}{
		{srv.URL + "/logo.png", fmt.Sprintf("file_url: host 127.0.0.1:%d is a loopback address", port)},
		{fmt.Sprintf("http://localhost:%d/logo.png", port), fmt.Sprintf("file_url: host localhost:%d resolves to a loopback address", port)},
		{fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port), "is a loopback address"},
		{fmt.Sprintf("http://0.0.0.0:%d/", port), "is an unspecified address"},
		// Refused before connect(2): no packet leaves for these.
		{"http://169.254.169.254/latest/meta-data/", "host 169.254.169.254 is a link-local address"},
		{"http://10.0.0.5/", "is a private address"},
		{"http://100.64.0.1/", "is a carrier-grade NAT address"},
	}
	for _, tt := range tests {
		msg := mustFail(t, f, tt.url, true)
		if !strings.Contains(msg, tt.want) {
			t.Errorf("%s: error %q; want it to contain %q", tt.url, msg, tt.want)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests; want 0", n)
	}

	// The flag for tests and closed networks lifts the check.
	open := newFetcher(t, fetch.Config{AllowPrivate: true})
	if _, err := open.Fetch(t.Context(), srv.URL+"/logo.png", "logo.png"); err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the loopback server got %d requests; want 1", n)
	}
}

// allowOnly makes f refuse internal addresses except srv's own.
func allowOnly(t *testing.T, f *fetch.Fetcher, srv *httptest.Server) {
	t.Helper()
	allowed, err := netip.ParseAddrPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fetch.SetAllowAddr(f, func(ap netip.AddrPort) bool { return ap == allowed })
}

func TestRedirectToInternalAddressRefused(t *testing.T) {
	inside, insideHits := server(t, serveFile("image/png", pngBytes))
	insidePort := inside.Listener.Addr().(*net.TCPAddr).Port
	for _, target := range []string{
		inside.URL + "/secret.png",
		fmt.Sprintf("http://localhost:%d/secret.png", insidePort),
	} {
		outside, outsideHits := server(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusFound)
		})
		f := newFetcher(t, fetch.Config{})
		allowOnly(t, f, outside)

		msg := mustFail(t, f, outside.URL+"/logo.png", true)
		if !strings.Contains(msg, fmt.Sprintf("redirects to host %s", strings.TrimPrefix(strings.TrimSuffix(target, "/secret.png"), "http://"))) ||
			!strings.Contains(msg, "loopback address") {
			t.Errorf("error %q does not name the redirect's host and the loopback class", msg)
		}
		if n := outsideHits.Load(); n != 1 {
			t.Errorf("the allowed server got %d requests; want 1", n)
		}
	}
	if n := insideHits.Load(); n != 0 {
		t.Errorf("the internal server got %d requests; want 0", n)
	}
}

func TestRedirectSendsNoReferer(t *testing.T) {
	var referer atomic.Value
	target, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		referer.Store(r.Referer())
		serveFile("image/png", pngBytes)(w, r)
	})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/logo.png", http.StatusFound)
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	if _, err := f.Fetch(t.Context(), srv.URL+"/signed/logo.png?token=SECRET", "logo.png"); err != nil {
		t.Fatal(err)
	}
	if ref := referer.Load(); ref != "" {
		t.Errorf("the redirect's target got Referer %q; want none", ref)
	}
}

func TestRedirectLimit(t *testing.T) {
	// /hop/N redirects to /hop/N-1; /hop/0 is the file.
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
			return
		}
		serveFile("image/png", pngBytes)(w, r)
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	if _, err := f.Fetch(t.Context(), srv.URL+"/hop/5", "a.png"); err != nil {
		t.Fatalf("5 redirects: %v", err)
	}
	hits.Store(0)
	msg := mustFail(t, f, srv.URL+"/hop/6", true)
	if !strings.Contains(msg, "more than 5 redirects") {
		t.Errorf("error %q does not name the limit", msg)
	}
	if n := hits.Load(); n != 6 {
		t.Errorf("the server got %d requests; want 6 (the first and 5 redirects)", n)
	}

	// A redirect loop stops at the limit too.
	loop, loopHits := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusMovedPermanently)
	})
	mustFail(t, f, loop.URL+"/again", true)
	if n := loopHits.Load(); n != 6 {
		t.Errorf("the loop got %d requests; want 6", n)
	}

	none := newFetcher(t, fetch.Config{AllowPrivate: true, MaxRedirects: -1})
	if msg := mustFail(t, none, srv.URL+"/hop/1", true); !strings.Contains(msg, "follows no redirects") {
		t.Errorf("MaxRedirects -1: error %q", msg)
	}
}

func TestRedirectHTTPSToHTTPRefused(t *testing.T) {
	plain, plainHits := server(t, serveFile("image/png", pngBytes))
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/logo.png", http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())

	f := newFetcher(t, fetch.Config{AllowPrivate: true, RootCAs: pool})
	msg := mustFail(t, f, tlsSrv.URL+"/logo.png", true)
	if !strings.Contains(msg, "from https to http") {
		t.Errorf("error %q does not say https to http", msg)
	}
	if n := plainHits.Load(); n != 0 {
		t.Errorf("the http server got %d requests; want 0", n)
	}
}

func TestRedirectToOtherSchemeRefused(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://files.example.com/a.png", http.StatusFound)
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	if msg := mustFail(t, f, srv.URL, true); !strings.Contains(msg, `scheme "ftp"`) {
		t.Errorf("error %q does not name the scheme", msg)
	}
}

// countingBody counts the body bytes the fetcher reads.
type countingBody struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func countBody(f *fetch.Fetcher) *atomic.Int64 {
	var n atomic.Int64
	fetch.SetWrapBody(f, func(r io.Reader) io.Reader { return countingBody{r, &n} })
	return &n
}

func TestSizeLimit(t *testing.T) {
	const max = 4096
	chunked, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.(http.Flusher).Flush() // no Content-Length: the body goes chunked
		chunk := bytes.Repeat([]byte{0xAB}, 1000)
		for range 64 { // 64 kB, 16 times the limit
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true, MaxBytes: max})
	read := countBody(f)
	if msg := mustFail(t, f, chunked.URL, true); msg != "file_url: the file is larger than 4 KB" {
		t.Errorf("error %q", msg)
	}
	if n := read.Load(); n != max+1 {
		t.Errorf("read %d body bytes; want MaxBytes+1 = %d", n, max+1)
	}

	// Exactly MaxBytes is fine, chunked or not.
	exact, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush()
		}
		w.Write(bytes.Repeat([]byte{0xCD}, max))
	})
	for _, u := range []string{exact.URL, exact.URL + "?chunked"} {
		att, err := f.Fetch(t.Context(), u, "a.bin")
		if err != nil || len(att.Data) != max {
			t.Fatalf("%s: a file of exactly MaxBytes: %v", u, err)
		}
	}
}

func TestContentLengthOverLimitRejectedEarly(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(fetch.DefaultMaxBytes+1))
		w.Write(bytes.Repeat([]byte{0xAB}, fetch.DefaultMaxBytes+1)) // fails once the fetcher hangs up
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	read := countBody(f)
	if msg := mustFail(t, f, srv.URL, true); msg != "file_url: the file is larger than 2 MB" {
		t.Errorf("error %q", msg)
	}
	if n := read.Load(); n != 0 {
		t.Errorf("read %d body bytes; want 0: the Content-Length says it all", n)
	}
}

func TestWebPageRefused(t *testing.T) {
	const page = `<!DOCTYPE html><html><head><title>Shared file</title></head><body><a href="/dl">Download</a></body></html>`
	for _, declared := range []string{"application/octet-stream", "application/pdf", "text/html; charset=utf-8"} {
		srv, _ := server(t, serveFile(declared, []byte(page)))
		f := newFetcher(t, fetch.Config{AllowPrivate: true})
		if msg := mustFail(t, f, srv.URL+"/s/abc", true); msg != "file_url returned a web page, not a direct download link" {
			t.Errorf("page served as %s: error %q", declared, msg)
		}
	}
}

func TestEmptyFileRefused(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	if msg := mustFail(t, f, srv.URL, true); msg != "file_url returned an empty file" {
		t.Errorf("error %q", msg)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		permanent  bool
		want       string
		delay      time.Duration // with wantDelay
		wantDelay  bool
	}{
		{404, "", true, "file_url answered 404 Not Found", 0, false},
		{410, "", true, "file_url answered 410 Gone", 0, false},
		{403, "", true, "file_url answered 403 Forbidden", 0, false},
		{401, "", true, "file_url answered 401 Unauthorized", 0, false},
		{400, "", true, "file_url answered 400 Bad Request", 0, false},
		{300, "", true, "file_url answered 300 Multiple Choices", 0, false},
		{503, "7", false, "file_url answered 503 Service Unavailable", 7 * time.Second, true},
		{429, "120", false, "file_url answered 429 Too Many Requests", 2 * time.Minute, true},
		{500, "", false, "file_url answered 500 Internal Server Error", 0, false},
		{502, "soon", false, "file_url answered 502 Bad Gateway", 0, false},
	}
	for _, tt := range tests {
		srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
			if tt.retryAfter != "" {
				w.Header().Set("Retry-After", tt.retryAfter)
			}
			w.WriteHeader(tt.status)
			io.WriteString(w, "BODY-OF-THE-ERROR-PAGE")
		})
		f := newFetcher(t, fetch.Config{AllowPrivate: true})
		_, err := f.Fetch(t.Context(), srv.URL+"/f.png", "f.png")
		if err == nil {
			t.Fatalf("%d: no error", tt.status)
		}
		msg := err.Error()
		host := strings.TrimPrefix(srv.URL, "http://")
		if sender.IsPermanent(err) != tt.permanent || !strings.HasPrefix(msg, tt.want) || !strings.Contains(msg, host) {
			t.Errorf("%d: error %q (permanent %v); want %q naming %s, permanent %v", tt.status, msg, sender.IsPermanent(err), tt.want, host, tt.permanent)
		}
		if strings.Contains(msg, "BODY-OF") {
			t.Errorf("%d: error %q echoes the body", tt.status, msg)
		}
		d, ok := sender.RetryDelay(err)
		if ok != tt.wantDelay || d != tt.delay {
			t.Errorf("%d: RetryDelay = %v, %v; want %v, %v", tt.status, d, ok, tt.delay, tt.wantDelay)
		}
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // until the fetcher hangs up
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true, Timeout: 200 * time.Millisecond})
	msg := mustFail(t, f, srv.URL, false)
	if !strings.Contains(msg, "did not send the file within 200ms") {
		t.Errorf("error %q", msg)
	}
	<-arrived

	// A body that stalls halfway times out the same way.
	stall, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(pngBytes)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	if msg := mustFail(t, f, stall.URL, false); !strings.Contains(msg, "did not send the file within") {
		t.Errorf("stalled body: error %q", msg)
	}
}

func TestCallerCancelIsTransient(t *testing.T) {
	arrived := make(chan struct{})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := f.Fetch(ctx, srv.URL, "a.png")
	if err == nil || sender.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v (permanent %v); want a transient error wrapping context.Canceled", err, sender.IsPermanent(err))
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	if msg := mustFail(t, f, "http://"+addr+"/a.png", false); !strings.Contains(msg, "refused the connection") {
		t.Errorf("error %q", msg)
	}
}

func TestBadURLs(t *testing.T) {
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	tests := []struct{ url, want string }{
		{"ftp://files.example.com/a.png", `scheme "ftp" is not supported`},
		{"file:///etc/passwd", `scheme "file" is not supported`},
		{"gopher://x/", `scheme "gopher" is not supported`},
		{"/relative/a.png", "not an absolute link"},
		{"http:///a.png", "has no host"},
		{"https://user:hunter2@files.example.com/a.png", "contains a user name or password"},
	}
	for _, tt := range tests {
		msg := mustFail(t, f, tt.url, true)
		if !strings.Contains(msg, tt.want) {
			t.Errorf("%s: error %q; want %q", tt.url, msg, tt.want)
		}
		if strings.Contains(msg, "hunter2") || strings.Contains(msg, "user:") {
			t.Errorf("%s: error %q shows the credentials", tt.url, msg)
		}
	}
}

func TestGzipDeliveredAsIs(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("a tar archive, say"))
	zw.Close()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set("Content-Encoding", "gzip") // Apache's classic for .tar.gz
		w.Write(gz.Bytes())
	})
	f := newFetcher(t, fetch.Config{AllowPrivate: true})
	att, err := f.Fetch(t.Context(), srv.URL+"/backup.tar.gz", "backup.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(att.Data, gz.Bytes()) || att.ContentType != "application/x-gzip" {
		t.Errorf("got %d bytes of %s; want the %d gzip bytes as sent", len(att.Data), att.ContentType, gz.Len())
	}
}

// TestErrorsAndLogsHideSecrets fails in every way the fetcher knows and
// checks that neither the errors nor the debug log show the URL's path,
// query or the fetched body.
func TestErrorsAndLogsHideSecrets(t *testing.T) {
	const secret = "SECRET-TOKEN-123"
	blocked, _ := server(t, serveFile("image/png", pngBytes))
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("case") {
		case "404":
			w.WriteHeader(404)
			io.WriteString(w, secret)
		case "html":
			io.WriteString(w, "<html><body>"+secret+"</body></html>")
		case "big":
			w.Write(bytes.Repeat([]byte(secret), 1000))
		case "redirect-blocked":
			http.Redirect(w, r, blocked.URL+"/"+secret+"?sig="+secret, http.StatusFound)
		case "loop":
			http.Redirect(w, r, r.URL.String(), http.StatusFound)
		case "bad-location":
			w.Header().Set("Location", "http://[::1/"+secret)
			w.WriteHeader(http.StatusFound)
		case "slow":
			<-r.Context().Done()
		}
	})
	core, logs := observer.New(zapcore.DebugLevel)
	f := newFetcher(t, fetch.Config{MaxBytes: 1000, Timeout: 200 * time.Millisecond, Logger: zap.New(core)})
	allowOnly(t, f, srv)

	for _, c := range []string{"404", "html", "big", "redirect-blocked", "loop", "bad-location", "slow"} {
		u := fmt.Sprintf("%s/files/%s/report.pdf?case=%s&token=%s", srv.URL, secret, c, secret)
		_, err := f.Fetch(t.Context(), u, "report.pdf")
		if err == nil {
			t.Fatalf("%s: no error", c)
		}
		t.Logf("%s: %v (permanent %v)", c, err, sender.IsPermanent(err))
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "/files/") {
			t.Errorf("%s: error %q shows the URL's path, query or the body", c, err)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("no debug log lines")
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, secret) {
			t.Errorf("log line shows a secret: %s", line)
		}
	}
}
