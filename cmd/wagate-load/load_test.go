package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// TestMain lets the test binary stand in for wagate-load when a test starts
// the tool's server modes as subprocesses (they run os.Executable()).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "baseline-server" || os.Args[1] == "serve-profiled") {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	if wagateBuild.path != "" {
		os.RemoveAll(filepath.Dir(wagateBuild.path))
	}
	os.Exit(code)
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		status    int
		body      string
		closeConn bool
		err       bool
	}{
		{name: "content-length", raw: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n{}\r\nNEXT", status: 200, body: "{}\r\n"},
		{name: "chunked", raw: "HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: t\r\n\r\n", status: 429, body: "abcde"},
		{name: "connection close", raw: "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\ncontent-length: 0\r\n\r\n", status: 503, closeConn: true},
		{name: "http/1.0 closes", raw: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x", closeConn: true},
		{name: "no body on 204", raw: "HTTP/1.1 204 No Content\r\n\r\n", status: 204},
		{name: "no length", raw: "HTTP/1.1 200 OK\r\n\r\nabc", err: true},
		{name: "not http", raw: "SSH-2.0-OpenSSH\r\n\r\n", err: true},
		{name: "bad length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: true},
		{name: "cut short", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, closeConn, err := readResponse(bufio.NewReader(strings.NewReader(tt.raw)), nil)
			if tt.err {
				if err == nil {
					t.Fatalf("readResponse = %d %q; want an error", status, body)
				}
				return
			}
			if err != nil || status != tt.status || string(body) != tt.body || closeConn != tt.closeConn {
				t.Fatalf("readResponse = %d %q close=%v %v; want %d %q close=%v", status, body, closeConn, err, tt.status, tt.body, tt.closeConn)
			}
		})
	}
}

func TestParseMessageID(t *testing.T) {
	id, ok := parseMessageID([]byte(`{"status":"success","data":{"message_id":"wa_backend:3EB09FCC85FE99662E46"}}`))
	if !ok || id.String() != "wa_backend:3EB09FCC85FE99662E46" {
		t.Fatalf("parseMessageID = %s, %v", id, ok)
	}
	for _, body := range []string{`{"status":"success"}`, `{"message_id":"wa_backend:3EB0"}`, `{"message_id":"wa_backend:ZZB09FCC85FE99662E46"}`} {
		if _, ok := parseMessageID([]byte(body)); ok {
			t.Errorf("parseMessageID(%s) found an id", body)
		}
	}
}

func TestPercentile(t *testing.T) {
	sorted := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {0.5, 5}, {0.9, 9}, {0.99, 10}, {1, 10}, {0.11, 2}} {
		if got := percentile(sorted, tt.p); got != tt.want {
			t.Errorf("percentile(1..10, %g) = %d, want %d", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %d", got)
	}
}

// TestRunLoad drives a real HTTP server and checks the bookkeeping: every
// answer is counted once, by status, on keep-alive connections, and the
// ids of the 200s are kept.
func TestRunLoad(t *testing.T) {
	var n, conns atomic.Int64
	stop := make(chan struct{})
	var once sync.Once
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		i := n.Add(1)
		if i == 500 {
			once.Do(func() { close(stop) }) // the run ends after about 500 requests
		}
		if i%5 == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"status":429,"data":{},"message":"slow down"}`)
			return
		}
		io.WriteString(w, `{"status":"success","data":{"message_id":"wa_backend:3EB09FCC85FE99662E46"}}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	res, err := runLoad(t.Context(), loadSpec{addr: addr, req: buildRequest(addr, "/inbound/x", []byte(ingestBody)), conns: 4, duration: time.Minute, keepIDs: true, stop: stop})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != n.Load() || res.Status[200]+res.Status[429] != res.Requests || res.Errors != 0 {
		t.Fatalf("requests %d (server saw %d), statuses %v, errors %d (%v)", res.Requests, n.Load(), res.Status, res.Errors, res.FirstErr)
	}
	if res.non2xx() != res.Status[429] || int64(len(res.IDs)) != res.Status[200] || res.NoID != 0 {
		t.Fatalf("non2xx %d, ids %d, 200s %d, no id %d", res.non2xx(), len(res.IDs), res.Status[200], res.NoID)
	}
	if conns.Load() != 4 {
		t.Fatalf("%d connections opened, want 4 kept alive", conns.Load())
	}
}

// TestBaselineAnswersLikeWagate checks that the ceiling parses the body and
// answers with wagate's success body, through its real HTTP stack.
func TestBaselineAnswersLikeWagate(t *testing.T) {
	srv := httptest.NewServer(baselineHandler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/inbound/"+strings.Repeat("b", 43), "application/json", strings.NewReader(ingestBody))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"success","data":{"message_id":"`+baselineMessageID+`"}}` {
		t.Fatalf("baseline = %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post(srv.URL+"/inbound/x", "application/json", strings.NewReader(`{"action":`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("baseline on bad JSON = %d, want 400: it must parse, not just echo", resp.StatusCode)
	}
}

func TestAccountPhones(t *testing.T) {
	seen := map[string]bool{}
	for i := range 20001 {
		p := accountPhone(i)
		if seen[p] {
			t.Fatalf("phone %s twice", p)
		}
		seen[p] = true
	}
	for _, i := range []int{0, 9999, 10000, 20000} { // both sides of an exchange boundary
		if _, err := wagate.NormalizePhone(accountPhone(i), wagate.PhoneCheckValid); err != nil {
			t.Errorf("accountPhone(%d): %v", i, err)
		}
	}
	if phones, err := accountPhones(3); err != nil || len(phones) != 3 {
		t.Fatalf("accountPhones(3) = %v, %v", phones, err)
	}
}

func TestReadOutboxLeavesAPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	full := `{"at":"2025-03-14T15:09:26.5Z","account":"+15105566777"}` + "\n"
	if err := os.WriteFile(path, []byte(full+full+`{"at":"2025-03-14T15:09:28Z",`), 0o600); err != nil {
		t.Fatal(err)
	}
	lines, off, err := readOutbox(path, 0)
	if err != nil || len(lines) != 2 || off != int64(2*len(full)) {
		t.Fatalf("readOutbox = %d lines, offset %d, %v", len(lines), off, err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`"account":"+15105566778"}` + "\n")
	f.Close()
	lines, _, err = readOutbox(path, off)
	if err != nil || len(lines) != 1 || lines[0].Account != "+15105566778" || lines[0].At.Second() != 28 {
		t.Fatalf("readOutbox after the line was finished = %+v, %v", lines, err)
	}
}

func TestReadProcStat(t *testing.T) {
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS <= 0 || st.HWM < st.RSS || st.RssAnon <= 0 || st.Threads < 1 || st.CPU < 0 {
		t.Fatalf("readProcStat = %+v", st)
	}
}

func TestWagateListening(t *testing.T) {
	addr, ok := wagateListening([]byte(`{"level":"info","ts":"2025-03-14T15:09:26Z","msg":"wagate listening","addr":"127.0.0.1:41234","data":"./data"}`))
	if !ok || addr != "127.0.0.1:41234" {
		t.Fatalf("wagateListening = %q, %v", addr, ok)
	}
	if _, ok := wagateListening([]byte(`{"msg":"request","path":"/inbound/:token"}`)); ok {
		t.Fatal("matched a request line")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"ingest", "-conns", "x"}, {"pacing", "-queue", "1"}, {"restart", "extra"}} {
		if code := run(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
	if code := run([]string{"ingest", "-wagate", filepath.Join(t.TempDir(), "missing")}, io.Discard, io.Discard); code != 1 {
		t.Errorf("a missing wagate binary: exit %d, want 1", code)
	}
	var u usageError
	if !errors.As(usageError{errors.New("x")}, &u) {
		t.Fatal("usageError is not matched")
	}
}
