package outbound_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// received is one request a receiver got, as it arrived.
type received struct {
	Method string
	URL    string // path and query as sent
	Host   string
	Header http.Header
	Body   []byte
	Err    error // the verifier's verdict
}

// receiver is a local endpoint that records each request and checks its
// signature with verify. answer decides the response (nil: 204).
type receiver struct {
	t      *testing.T
	secret string
	now    func() time.Time
	answer func(w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []received
	srv  *httptest.Server
}

func newReceiver(t *testing.T, secret string) *receiver {
	rc := &receiver{t: t, secret: secret, now: time.Now}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	got := received{Method: r.Method, URL: r.URL.RequestURI(), Host: r.Host, Header: r.Header.Clone(), Body: body,
		Err: verify(rc.secret, r.Header, body, rc.now(), 5*time.Minute)}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, got)
	answer := rc.answer
	rc.mu.Unlock()
	if answer != nil {
		answer(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// requests returns what arrived so far.
func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// last returns the last request, failing the test when none came or its
// signature did not verify.
func (rc *receiver) last() received {
	rc.t.Helper()
	reqs := rc.requests()
	if len(reqs) == 0 {
		rc.t.Fatal("the receiver got no request")
	}
	r := reqs[len(reqs)-1]
	if r.Err != nil {
		rc.t.Fatalf("the receiver's verifier refused the request: %v", r.Err)
	}
	return r
}

func readCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
