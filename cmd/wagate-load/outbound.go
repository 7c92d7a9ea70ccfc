package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate/gateway/api"
)

// runOutbound measures the outbound event webhooks (SPEC §9, issue 14):
//
//  1. Deliveries a second from the durable queue: -events messages are
//     accepted while the receiver holds every request, so their
//     message.queued deliveries (one per endpoint) wait in the outbox;
//     wagate is killed (-9) and started again, and the deliverer drains the
//     outbox into the receiver. Then a bare Go client (net/http, as many
//     connections as wagate may have in flight) posts the very requests the
//     receiver got (same headers, same signed bodies) to the same receiver.
//     The ratio of the two rates is the headline: the receiver and the
//     machine are the same on both sides.
//  2. Latency from the state change to the receiver at -rate events a
//     second: messages are accepted open-loop at that rate in a workspace
//     with one endpoint; the receiver takes its arrival time minus the
//     payload's timestamp (the time of the change, written in its commit).
func runOutbound(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wagate-load outbound", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("wagate", "bin/wagate", "the wagate binary to measure (make build)")
	events := fs.Int("events", 5000, "messages accepted for the queue drain (each is one delivery per endpoint)")
	endpoints := fs.Int("endpoints", 4, "endpoints subscribed to message.queued for the queue drain (1 to 20)")
	rate := fs.Int("rate", 1000, "events a second of the latency run")
	duration := fs.Duration("duration", 5*time.Second, "length of the latency run")
	out := fs.String("out", "", "write the markdown report to this file too")
	logLevel := fs.String("log-level", "warn", "wagate's --log-level")
	dir := fs.String("dir", "", "work folder for the data and logs (default: a new temporary folder)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *events < 1 || *endpoints < 1 || *endpoints > 20 || *rate < 1 || *duration <= 0 {
		return usageError{errors.New("-events, -rate and -duration must be positive, -endpoints 1 to 20")}
	}
	wagateBin, err := findWagate(*bin)
	if err != nil {
		return err
	}
	work, err := workDir(*dir, "outbound")
	if err != nil {
		return err
	}
	if *dir == "" {
		defer os.RemoveAll(work)
	}
	ctx := context.Background()

	recv := newHookSink()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: recv, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	recvURL := "http://" + ln.Addr().String()

	data := filepath.Join(work, "data")
	wflags := []string{"--allow-private-endpoints", "--inbound-rate", "1e9", "--inbound-burst", "1000000000", "--send-interval", "1h", "--send-jitter", "0s"}
	logPath := filepath.Join(work, "wagate.log")
	wg, err := startWagate(nil, wagateBin, data, logPath, *logLevel, wflags...)
	if err != nil {
		return err
	}
	defer func() { wg.stop(30 * time.Second) }()
	adm := newAdmin(wg.addr, 4)
	if _, err := adm.waitReady(ctx, 30*time.Second); err != nil {
		return err
	}
	op, err := readOperatorToken(data)
	if err != nil {
		return err
	}
	ws, err := adm.createWorkspace(ctx, op, "outbound", batchCredits)
	if err != nil {
		return err
	}
	if err := adm.createAccount(ctx, ws, ingestAccount); err != nil {
		return err
	}
	for i := range *endpoints {
		// A path per endpoint: the receiver tells deliveries of one event
		// (one webhook-id) to different endpoints apart by it.
		if err := createSinkEndpoint(ctx, adm, ws, fmt.Sprintf("sink %d", i+1), fmt.Sprintf("%s/sink/%d", recvURL, i+1)); err != nil {
			return err
		}
	}

	rep := &report{w: stdout}
	rep.printf("## Outbound event webhooks: deliveries a second and latency\n\n")
	rep.printf("- Machine: %s\n", machine())
	rep.printf("- Command: `wagate-load outbound %s`\n", strings.Join(args, " "))
	rep.printf("- `wagate serve %s` (fsync on); the receiver is a net/http server in the load tool answering 204 at once\n\n", strings.Join(wflags, " "))

	// 1. Fill the outbox: the receiver holds what wagate sends meanwhile
	// (MaxInFlight per endpoint), so the rest stays pending.
	fmt.Fprintf(stderr, "outbound: accepting %d messages for %d endpoints…\n", *events, *endpoints)
	recv.hold()
	req := buildRequest(wg.addr, "/inbound/"+ws.Inbound, []byte(ingestBody))
	reqs := make([][]byte, *events)
	for i := range reqs {
		reqs[i] = req
	}
	status, err := sendAll(wg.addr, reqs, 16)
	if err != nil {
		return err
	}
	if status[200] != int64(*events) {
		return fmt.Errorf("accepting the messages: answers %v, want %d 200s", status, *events)
	}
	wg.kill()
	recv.release()
	recv.reset(true)
	wg, err = startWagate(nil, wagateBin, data, logPath, *logLevel, wflags...)
	if err != nil {
		return err
	}
	adm = newAdmin(wg.addr, 4)
	want := *events * *endpoints
	cpu0, err := readProcStat(wg.pid())
	if err != nil {
		return err
	}
	drain, err := recv.waitFor(want, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("the queue drain: %w", err)
	}
	cpu1, err := readProcStat(wg.pid())
	if err != nil {
		return err
	}
	// From its start to the last delivery: the start itself costs little
	// next to thousands of deliveries.
	wagateCPU := cpu1.CPU - cpu0.CPU
	captured := recv.requests()

	// The bare client: the same requests, the same receiver, as many
	// connections as wagate may have in flight (4 per endpoint).
	conns := 4 * *endpoints
	recv.reset(false)
	bare, err := postAll(recvURL, captured, conns)
	if err != nil {
		return fmt.Errorf("the bare client: %w", err)
	}
	wagateRate := float64(want-1) / drain.Seconds()
	bareRate := float64(len(captured)) / bare.Seconds()
	rep.printf("### Deliveries a second from the durable queue\n\n")
	rep.printf("%s message.queued deliveries (%s messages × %d endpoints) pending in the outbox when wagate starts (after a kill -9); the bare client posts the same %s requests (headers and signed bodies as received) over %d connections.\n\n",
		thousands(int64(want)), thousands(int64(*events)), *endpoints, thousands(int64(len(captured))), conns)
	rep.table([]string{"sender", "deliveries", "seconds", "deliveries/s"}, [][]string{
		{"wagate deliverer (from the outbox, each outcome committed)", thousands(int64(want)), fmt.Sprintf("%.2f", drain.Seconds()), fmt.Sprintf("%.0f", wagateRate)},
		{"bare Go client (net/http, same requests)", thousands(int64(len(captured))), fmt.Sprintf("%.2f", bare.Seconds()), fmt.Sprintf("%.0f", bareRate)},
	})
	rep.printf("- wagate delivers at **%.2f** of the bare client's rate; redeliveries seen after the restart: %d\n", wagateRate/bareRate, recv.duplicates())
	rep.printf("- wagate's CPU from its start to the last delivery: %s s, **%.0f µs a delivery**, %.2f cores over the drain\n\n",
		fmt.Sprintf("%.2f", wagateCPU.Seconds()), float64(wagateCPU.Microseconds())/float64(want), wagateCPU.Seconds()/cpu1.At.Sub(cpu0.At).Seconds())

	// 2. Latency at -rate events a second, one endpoint.
	lws, err := adm.createWorkspace(ctx, op, "latency", batchCredits)
	if err != nil {
		return err
	}
	if err := adm.createAccount(ctx, lws, ingestAccount); err != nil {
		return err
	}
	if err := createSinkEndpoint(ctx, adm, lws, "latency sink", recvURL+"/latency"); err != nil {
		return err
	}
	recv.reset(true)
	n := int(float64(*rate) * duration.Seconds())
	fmt.Fprintf(stderr, "outbound: %d events at %d/s…\n", n, *rate)
	late, err := paced(wg.addr, buildRequest(wg.addr, "/inbound/"+lws.Inbound, []byte(ingestBody)), n, *rate, 64)
	if err != nil {
		return err
	}
	if _, err := recv.waitFor(n, time.Minute); err != nil {
		return fmt.Errorf("the latency run: %w", err)
	}
	lat := recv.latencies()
	rep.printf("### Latency from the state change to the receiver at %d events/s\n\n", *rate)
	rep.printf("%s messages accepted open-loop at %d/s (%s, %d connections), one endpoint subscribed to message.queued; latency = arrival at the receiver − the payload's `timestamp` (the time of the change, set in its commit). Requests the client sent more than 5 ms behind schedule: %d.\n\n",
		thousands(int64(n)), *rate, *duration, 64, late)
	rep.table([]string{"deliveries", "p50 ms", "p90 ms", "p99 ms", "max ms"}, [][]string{{
		thousands(int64(len(lat))), ms(percentile(lat, 0.50)), ms(percentile(lat, 0.90)), ms(percentile(lat, 0.99)), ms(percentile(lat, 1)),
	}})
	rep.printf("\n")
	return rep.save(*out)
}

// createSinkEndpoint subscribes url to message.queued in ws.
func createSinkEndpoint(ctx context.Context, adm *admin, ws *benchWorkspace, name, url string) error {
	events := []string{"message.queued"}
	_, err := adm.as(ws.Owner).CreateEndpoint(ctx, ws.ID, &api.EndpointInput{Name: &name, URL: &url, Events: &events})
	if err != nil {
		return fmt.Errorf("create endpoint in %s: %w", ws.ID, err)
	}
	return nil
}

// capturedRequest is a delivery as the receiver got it, to post again.
type capturedRequest struct {
	path   string
	header http.Header
	body   []byte
}

// hookSink is the receiver: it counts deliveries by endpoint path and
// webhook-id, keeps the first arrival of each, and can hold every request
// until released.
type hookSink struct {
	mu       sync.Mutex
	gen      int           // counts resets: a request held across one is dropped
	held     chan struct{} // closed: not holding
	keep     bool          // keep the requests, for the bare client
	seen     map[string]bool
	dups     int
	first    time.Time
	last     time.Time
	captured []capturedRequest
	lat      []int64 // arrival − payload timestamp, nanoseconds
	count    atomic.Int64
	arrived  chan struct{} // poked at each new delivery
}

func newHookSink() *hookSink {
	h := &hookSink{held: make(chan struct{}), arrived: make(chan struct{}, 1)}
	close(h.held)
	h.reset(false)
	return h
}

func (h *hookSink) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = make(chan struct{})
}

func (h *hookSink) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.held)
}

// reset forgets what arrived; keep says whether to keep the requests.
func (h *hookSink) reset(keep bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	h.keep, h.seen, h.dups, h.first, h.last, h.captured, h.lat = keep, map[string]bool{}, 0, time.Time{}, time.Time{}, nil, nil
	h.count.Store(0)
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	now := time.Now()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	held, gen := h.held, h.gen
	h.mu.Unlock()
	<-held
	var p struct {
		Timestamp time.Time `json:"timestamp"`
	}
	_ = json.Unmarshal(body, &p)
	key := r.URL.Path + " " + r.Header.Get("Webhook-Id")
	h.mu.Lock()
	if gen != h.gen { // held while wagate was killed: its answer goes nowhere
		h.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if h.seen[key] {
		h.dups++
	} else {
		h.seen[key] = true
		if h.first.IsZero() {
			h.first = now
		}
		h.last = now
		if h.keep {
			h.captured = append(h.captured, capturedRequest{path: r.URL.Path, header: r.Header.Clone(), body: body})
			if !p.Timestamp.IsZero() {
				h.lat = append(h.lat, int64(now.Sub(p.Timestamp)))
			}
		}
		h.count.Add(1)
	}
	h.mu.Unlock()
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitFor waits until n distinct deliveries arrived and returns the time
// from the first to the last of them.
func (h *hookSink) waitFor(n int, timeout time.Duration) (time.Duration, error) {
	deadline := time.After(timeout)
	for h.count.Load() < int64(n) {
		select {
		case <-h.arrived:
		case <-deadline:
			return 0, fmt.Errorf("%d deliveries arrived within %s, want %d", h.count.Load(), timeout, n)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last.Sub(h.first), nil
}

func (h *hookSink) requests() []capturedRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.captured
}

func (h *hookSink) duplicates() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dups
}

func (h *hookSink) latencies() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	lat := slices.Clone(h.lat)
	slices.Sort(lat)
	return lat
}

// postAll posts every request once over conns connections with net/http
// and returns how long it took.
func postAll(base string, reqs []capturedRequest, conns int) (time.Duration, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				c := reqs[i]
				req, err := http.NewRequest(http.MethodPost, base+c.path, bytes.NewReader(c.body))
				if err == nil {
					req.Header = c.header.Clone()
					var resp *http.Response
					if resp, err = cl.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode/100 != 2 {
							err = fmt.Errorf("status %d", resp.StatusCode)
						}
					}
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// paced sends req n times at rate a second, open loop (each at its
// scheduled moment, whatever the answers before it), over up to conns
// connections; it returns how many went out more than 5 ms late.
func paced(addr string, req []byte, n, rate, conns int) (late int, err error) {
	jobs := make(chan struct{}, n)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			rc := &rawConn{addr: addr, req: req}
			defer rc.close()
			for range jobs {
				s, _, err := rc.roundTrip()
				if err == nil && s != http.StatusOK {
					err = fmt.Errorf("inbound answered %d", s)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d) // open loop: the schedule, not the answers, sets the pace
		} else if -d > 5*time.Millisecond {
			late++
		}
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return late, firstErr
}
