package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The load generator is a closed loop over N keep-alive HTTP/1.1
// connections: each connection sends the next request as soon as the answer
// to the previous one has been read. It writes one pre-built request per
// round trip and parses only what it needs of the answer (status, length,
// message id), so on a 2-core machine it takes as little CPU as possible
// from the server it measures, and takes the same from both servers.

// rawConn is one keep-alive connection sending one pre-built request.
type rawConn struct {
	addr string
	req  []byte
	c    net.Conn
	br   *bufio.Reader
	body []byte // reused for every answer
}

func (rc *rawConn) dial() error {
	if rc.c != nil {
		rc.c.Close()
	}
	c, err := net.DialTimeout("tcp", rc.addr, 5*time.Second)
	if err != nil {
		return err
	}
	rc.c = c
	if rc.br == nil {
		rc.br = bufio.NewReaderSize(c, 16<<10)
	} else {
		rc.br.Reset(c)
	}
	return nil
}

func (rc *rawConn) close() {
	if rc.c != nil {
		rc.c.Close()
		rc.c = nil
	}
}

// roundTrip sends the request and reads the whole answer. The body is valid
// until the next call. A server that asks to close the connection gets it
// closed; the next call dials again.
func (rc *rawConn) roundTrip() (status int, body []byte, err error) {
	if rc.c == nil {
		if err := rc.dial(); err != nil {
			return 0, nil, err
		}
	}
	if _, err := rc.c.Write(rc.req); err != nil {
		rc.close()
		return 0, nil, err
	}
	status, body, closeConn, err := readResponse(rc.br, rc.body[:0])
	if err != nil {
		rc.close()
		return 0, nil, err
	}
	rc.body = body
	if closeConn {
		rc.close()
	}
	return status, body, nil
}

// buildRequest is a POST of a JSON body to path, as a client library sends it.
func buildRequest(host, path string, body []byte, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wagate-load\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, host, len(body))
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

var errMalformed = errors.New("malformed HTTP response")

// readResponse reads one HTTP/1.1 response: the status line, the headers it
// needs (Content-Length, Transfer-Encoding: chunked, Connection: close) and
// the body, appended to buf.
func readResponse(br *bufio.Reader, buf []byte) (status int, body []byte, closeConn bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	closeConn = line[7] == '0' // HTTP/1.0 closes unless told otherwise
	length, chunked := -1, false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		h := bytes.TrimRight(line, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("%w: header %q", errMalformed, h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, nil, false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closeConn = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case status < 200 || status == 204 || status == 304:
		return status, buf, closeConn, nil
	case chunked:
		body, err = readChunked(br, buf)
		return status, body, closeConn, err
	case length >= 0:
		body = slices.Grow(buf, length)[:len(buf)+length]
		if _, err := io.ReadFull(br, body[len(buf):]); err != nil {
			return 0, nil, false, err
		}
		return status, body, closeConn, nil
	default:
		return 0, nil, false, fmt.Errorf("%w: no length and not chunked", errMalformed)
	}
}

func readChunked(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		sizeHex, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(sizeHex)), 16, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			for { // trailers, up to the empty line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return nil, err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return buf, nil
				}
			}
		}
		start := len(buf)
		buf = slices.Grow(buf, int(n))[:start+int(n)]
		if _, err := io.ReadFull(br, buf[start:]); err != nil {
			return nil, err
		}
		if _, err := br.Discard(2); err != nil { // CRLF after the chunk
			return nil, err
		}
	}
}

// messageID is a wagate message id without its prefix: 10 bytes.
type messageID [10]byte

var idMarker = []byte(`"message_id":"wa_backend:`)

// parseMessageID finds the message id in a success body.
func parseMessageID(body []byte) (messageID, bool) {
	var id messageID
	i := bytes.Index(body, idMarker)
	if i < 0 || len(body) < i+len(idMarker)+20 {
		return id, false
	}
	if _, err := hex.Decode(id[:], body[i+len(idMarker):i+len(idMarker)+20]); err != nil {
		return id, false
	}
	return id, true
}

func (id messageID) String() string {
	return "wa_backend:" + fmt.Sprintf("%X", id[:])
}

// loadSpec is one closed-loop run against one server.
type loadSpec struct {
	addr     string
	req      []byte
	conns    int
	duration time.Duration
	// keepIDs keeps the message id of every 200, to check them in the
	// store afterwards. The baseline's ids are parsed too (and dropped), so
	// both servers cost the load tool the same.
	keepIDs bool
	// stop, when not nil, ends the run early when closed (the crash phase).
	stop <-chan struct{}
	// targets, when not empty, replace addr and req: connection i sends
	// targets[i%len(targets)], so one closed loop spreads its connections
	// over several servers (the replicas mode).
	targets []loadTarget
}

// loadTarget is one server and the request a connection sends it.
type loadTarget struct {
	addr string
	req  []byte
}

// loadResult is what one run measured.
type loadResult struct {
	Conns    int
	Requests int64         // answers read
	Elapsed  time.Duration // from the first request to the last answer
	Lat      []int64       // every request's latency, ns; sorted by sortLat
	Status   map[int]int64 // answers by HTTP status
	Errors   int64         // connection errors (not HTTP statuses)
	FirstErr error
	IDs      []messageID // when keepIDs: the ids answered 200
	NoID     int64       // 200s without a parsable message id
}

func (r *loadResult) rps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// non2xx counts answers outside 200-299.
func (r *loadResult) non2xx() int64 {
	var n int64
	for s, c := range r.Status {
		if s < 200 || s > 299 {
			n += c
		}
	}
	return n
}

func (r *loadResult) ok() int64 { return r.Status[200] }

// percentile of the sorted latencies, p in [0, 1]: the smallest value with
// at least p of the samples at or below it.
func percentile(sorted []int64, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return time.Duration(sorted[i])
}

// runLoad dials every connection first, then starts them together and
// stops sending at the deadline; answers already on their way are read and
// counted.
func runLoad(ctx context.Context, s loadSpec) (*loadResult, error) {
	conns := make([]*rawConn, s.conns)
	for i := range conns {
		conns[i] = &rawConn{addr: s.addr, req: s.req}
		if len(s.targets) > 0 {
			t := s.targets[i%len(s.targets)]
			conns[i].addr, conns[i].req = t.addr, t.req
		}
		if err := conns[i].dial(); err != nil {
			for _, c := range conns[:i] {
				c.close()
			}
			return nil, fmt.Errorf("dial %s: %w", conns[i].addr, err)
		}
	}
	type part struct {
		lat    []int64
		status map[int]int64
		errs   int64
		first  error
		ids    []messageID
		noID   int64
	}
	parts := make([]part, s.conns)
	start := make(chan struct{})
	var wg sync.WaitGroup
	var t0 time.Time
	deadline := make(chan struct{})
	for i, rc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer rc.close()
			p := &parts[i]
			p.status = map[int]int64{}
			p.lat = make([]int64, 0, 4096)
			<-start
			for {
				select {
				case <-deadline:
					return
				case <-ctx.Done():
					return
				case <-s.stop:
					return
				default:
				}
				t := time.Now()
				status, body, err := rc.roundTrip()
				d := time.Since(t)
				if err != nil {
					p.errs++
					if p.first == nil {
						p.first = err
					}
					// Do not spin on a server that is gone.
					time.Sleep(10 * time.Millisecond)
					continue
				}
				p.lat = append(p.lat, int64(d))
				p.status[status]++
				if status == 200 {
					id, ok := parseMessageID(body)
					switch {
					case !ok:
						p.noID++
					case s.keepIDs:
						p.ids = append(p.ids, id)
					}
				}
			}
		}()
	}
	t0 = time.Now()
	close(start)
	timer := time.AfterFunc(s.duration, func() { close(deadline) })
	wg.Wait()
	timer.Stop()
	res := &loadResult{Conns: s.conns, Elapsed: time.Since(t0), Status: map[int]int64{}}
	n := 0
	for _, p := range parts {
		n += len(p.lat)
	}
	res.Lat = make([]int64, 0, n)
	for _, p := range parts {
		res.Lat = append(res.Lat, p.lat...)
		for k, v := range p.status {
			res.Status[k] += v
		}
		res.Errors += p.errs
		if res.FirstErr == nil {
			res.FirstErr = p.first
		}
		res.IDs = append(res.IDs, p.ids...)
		res.NoID += p.noID
	}
	res.Requests = int64(len(res.Lat))
	slices.Sort(res.Lat)
	return res, nil
}

// merge pools several runs of the same server and connection count: the
// rate is total answers over total time, the percentiles are over every
// sample.
func merge(rs []*loadResult) *loadResult {
	out := &loadResult{Status: map[int]int64{}}
	for _, r := range rs {
		out.Conns = r.Conns
		out.Requests += r.Requests
		out.Elapsed += r.Elapsed
		out.Lat = append(out.Lat, r.Lat...)
		for k, v := range r.Status {
			out.Status[k] += v
		}
		out.Errors += r.Errors
		if out.FirstErr == nil {
			out.FirstErr = r.FirstErr
		}
		out.NoID += r.NoID
	}
	slices.Sort(out.Lat)
	return out
}
