package outbound_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/outbound"
)

// fakeEndpoints is an http.RoundTripper standing in for the receivers on
// fake time: it verifies each request's signature with the independent
// verifier and answers with the handler of the request's host.
type fakeEndpoints struct {
	t *testing.T

	mu       sync.Mutex
	handlers map[string]func(n int, r *http.Request) *http.Response // by host; n counts from 1
	calls    map[string]int
	inFlight map[string]int
	maxIn    map[string]int
	ids      map[string][]string // webhook-ids by host, in arrival order
}

func newFakeEndpoints(t *testing.T) *fakeEndpoints {
	return &fakeEndpoints{t: t, handlers: map[string]func(int, *http.Request) *http.Response{},
		calls: map[string]int{}, inFlight: map[string]int{}, maxIn: map[string]int{}, ids: map[string][]string{}}
}

func (f *fakeEndpoints) handle(host string, h func(n int, r *http.Request) *http.Response) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[host] = h
}

func (f *fakeEndpoints) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	if err := verify(vectors[0].secret, r.Header, body, time.Now(), time.Minute); err != nil {
		f.t.Errorf("the receiver refused the signature of a delivery to %s: %v", r.URL.Host, err)
	}
	host := r.URL.Host
	f.mu.Lock()
	f.calls[host]++
	n := f.calls[host]
	f.inFlight[host]++
	f.maxIn[host] = max(f.maxIn[host], f.inFlight[host])
	f.ids[host] = append(f.ids[host], r.Header.Get("webhook-id"))
	h := f.handlers[host]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight[host]--
		f.mu.Unlock()
	}()
	resp := answer(http.StatusNoContent)
	if h != nil {
		resp = h(n, r)
	}
	if resp == nil {
		return nil, r.Context().Err()
	}
	resp.Request = r
	return resp, nil
}

func (f *fakeEndpoints) stats(host string) (calls, inFlight, maxIn int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[host], f.inFlight[host], f.maxIn[host]
}

func answer(code int, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader("")), ContentLength: 0}
}

// env is a deliverer on fake time with a fake queue and fake endpoints.
type env struct {
	q   *fakeQueue
	rt  *fakeEndpoints
	d   *outbound.Deliverer
	reg *prometheus.Registry
	t0  time.Time
}

func newEnv(t *testing.T, poll time.Duration) *env {
	e := &env{q: newFakeQueue(), rt: newFakeEndpoints(t), reg: prometheus.NewRegistry(), t0: time.Now()}
	e.d = outbound.New(outbound.Config{Transport: e.rt, Poll: poll, Rand: rand.New(rand.NewPCG(1, 2)), Registerer: e.reg}, e.q)
	return e
}

// start runs the deliverer until the returned stop is called.
func (e *env) start(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	return func() { cancel(); <-done }
}

// endpointAt adds an enabled endpoint whose requests go to host.
func (e *env) endpointAt(host string) (*wagate.Endpoint, wagate.EndpointRef) {
	ep := endpoint(wagate.EndpointBody{})
	ep.ID = "ep_" + strings.ReplaceAll(host, ".", "_")
	ep.URL = "https://" + host + "/hook"
	return ep, e.q.addEndpoint(ep)
}

func event(n int) *wagate.Event {
	ev := sampleEvent(fmt.Sprintf("message %d", n))
	ev.ID = fmt.Sprintf("evt_%03d", n)
	return ev
}

// untilFinished returns a channel closed once done(d) holds for a recorded
// attempt.
func (e *env) untilFinished(done func(d *wagate.EndpointDelivery) bool) <-chan struct{} {
	c := make(chan struct{})
	var once sync.Once
	e.q.mu.Lock()
	e.q.onFinish = func(d *wagate.EndpointDelivery) {
		if done(d) {
			once.Do(func() { close(c) })
		}
	}
	e.q.mu.Unlock()
	return c
}

func TestScheduleUntilFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, time.Hour)
		_, ref := e.endpointAt("down.example")
		e.rt.handle("down.example", func(int, *http.Request) *http.Response { return answer(500) })
		id := e.q.add(ref, event(1), e.t0)
		failed := e.untilFinished(func(d *wagate.EndpointDelivery) bool { return d.Status == wagate.DeliveryFailed })
		stop := e.start(t)
		defer stop()
		<-failed

		as := e.q.attempts(id)
		if len(as) != len(outbound.Schedule)+1 {
			t.Fatalf("%d attempts; want %d (the first and one per step of the schedule)", len(as), len(outbound.Schedule)+1)
		}
		at := e.t0
		for i, a := range as {
			if !a.At.Equal(at) || a.Attempt != i+1 || a.Response.Status != 500 || a.Error != "endpoint answered 500 Internal Server Error" {
				t.Errorf("attempt %d: at +%s, attempt %d, %d %q; want at +%s", i+1, a.At.Sub(e.t0), a.Attempt, a.Response.Status, a.Error, at.Sub(e.t0))
			}
			if i == len(outbound.Schedule) {
				if a.Status != wagate.DeliveryFailed || !a.NextTryAt.IsZero() {
					t.Errorf("last attempt: %s, next %v; want failed, no next try", a.Status, a.NextTryAt)
				}
				break
			}
			wait, plan := a.NextTryAt.Sub(a.At), outbound.Schedule[i]
			if a.Status != wagate.DeliveryPending || wait < plan*8/10 || wait > plan*12/10 {
				t.Errorf("attempt %d: %s, next try after %s; want pending, %s ±20%%", i+1, a.Status, wait, plan)
			}
			at = a.NextTryAt
		}
		if got := gathered(t, e.reg, "wagate_outbound_attempts_total", wagate.DeliveryPending); got != 7 {
			t.Errorf("attempts_total{result=pending} = %v; want 7", got)
		}
		if ep := e.q.endpoint(ref); !ep.Enabled {
			t.Errorf("endpoint disabled (%q) after %s of failures; want enabled until 5 days", ep.DisabledReason, at.Sub(e.t0))
		}
	})
}

func TestRetryAfterBetweenOneAndTwoTimesTheWait(t *testing.T) {
	tests := []struct {
		retryAfter string
		lo, hi     time.Duration
	}{
		{"", 4 * time.Second, 6 * time.Second},                              // the schedule: 5 s ±20 %
		{"1", 4 * time.Second, 6 * time.Second},                             // shorter than planned: the plan
		{"7", 7 * time.Second, 7 * time.Second},                             // within 1×–2×: as asked
		{"3600", 8 * time.Second, 12 * time.Second},                         // longer: twice the plan
		{"Sun, 06 Nov 1994 08:49:37 GMT", 4 * time.Second, 6 * time.Second}, // a date in the past
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, time.Hour)
			_, ref := e.endpointAt("busy.example")
			e.rt.handle("busy.example", func(n int, _ *http.Request) *http.Response {
				if n == 1 {
					return answer(503, "Retry-After", tt.retryAfter)
				}
				return answer(200)
			})
			id := e.q.add(ref, event(1), e.t0)
			ok := e.untilFinished(func(d *wagate.EndpointDelivery) bool { return d.Status == wagate.DeliverySucceeded })
			stop := e.start(t)
			defer stop()
			<-ok
			as := e.q.attempts(id)
			if wait := as[1].At.Sub(as[0].At); len(as) != 2 || wait < tt.lo || wait > tt.hi {
				t.Errorf("Retry-After %q: the retry came after %s; want %s–%s", tt.retryAfter, wait, tt.lo, tt.hi)
			}
		})
	}
}

// A 410 disables the endpoint at once; its delivery stays pending and is
// made when the endpoint is enabled again.
func TestGoneDisablesAndEnableResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, time.Hour)
		_, ref := e.endpointAt("gone.example")
		e.rt.handle("gone.example", func(n int, _ *http.Request) *http.Response {
			if n == 1 {
				return answer(410)
			}
			return answer(200)
		})
		id := e.q.add(ref, event(1), e.t0)
		stop := e.start(t)
		defer stop()
		synctest.Wait()
		time.Sleep(24 * time.Hour) // fake time: a day passes, nothing happens
		synctest.Wait()
		ep := e.q.endpoint(ref)
		if ep.Enabled || ep.DisabledReason != outbound.ReasonGone {
			t.Fatalf("after a 410: enabled %v, reason %q; want disabled, %q", ep.Enabled, ep.DisabledReason, outbound.ReasonGone)
		}
		if d := e.q.delivery(id); d.Status != wagate.DeliveryPending || d.Attempt != 1 {
			t.Fatalf("delivery after a 410: %s, attempt %d; want pending after 1", d.Status, d.Attempt)
		}
		if calls, _, _ := e.rt.stats("gone.example"); calls != 1 {
			t.Fatalf("%d requests to a disabled endpoint; want 1", calls)
		}

		ok := e.untilFinished(func(d *wagate.EndpointDelivery) bool { return d.Status == wagate.DeliverySucceeded })
		e.q.enable(ref)
		e.d.Wake(ref)
		<-ok
		if d := e.q.delivery(id); d.Attempt != 2 || !d.At.Equal(e.t0.Add(24*time.Hour)) {
			t.Errorf("resumed delivery: attempt %d at +%s; want 2 at once on enable", d.Attempt, d.At.Sub(e.t0))
		}
	})
}

func TestFailingForFiveDaysDisables(t *testing.T) {
	for _, failing := range []time.Duration{4 * 24 * time.Hour, outbound.FailingLimit} {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, time.Hour)
			ep, ref := e.endpointAt("flaky.example")
			ep.FailingSince = e.t0.Add(-failing)
			e.rt.handle("flaky.example", func(int, *http.Request) *http.Response { return answer(502) })
			e.q.add(ref, event(1), e.t0)
			done := e.untilFinished(func(*wagate.EndpointDelivery) bool { return true })
			stop := e.start(t)
			defer stop()
			<-done
			got := e.q.endpoint(ref)
			want := failing >= outbound.FailingLimit
			if !got.Enabled != want || (want && got.DisabledReason != outbound.ReasonFailing) {
				t.Errorf("failing for %s: enabled %v, reason %q; want disabled %v", failing, got.Enabled, got.DisabledReason, want)
			}
		})
	}
}

// A receiver that never answers holds 4 deliveries of its own endpoint and
// nothing of another's.
func TestSlowEndpointDelaysNoOther(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, time.Hour)
		_, slow := e.endpointAt("slow.example")
		_, fast := e.endpointAt("fast.example")
		release := make(chan struct{})
		e.rt.handle("slow.example", func(_ int, r *http.Request) *http.Response {
			select {
			case <-release:
				return answer(200)
			case <-r.Context().Done():
				return nil
			}
		})
		for i := range 10 {
			e.q.add(slow, event(100+i), e.t0)
			e.q.add(fast, event(200+i), e.t0)
		}
		var mu sync.Mutex
		fastDone := 0
		allFast := e.untilFinished(func(d *wagate.EndpointDelivery) bool {
			mu.Lock()
			defer mu.Unlock()
			if d.EndpointID == "ep_fast_example" && d.Status == wagate.DeliverySucceeded {
				fastDone++
			}
			return fastDone == 10
		})
		stop := e.start(t)
		defer stop()
		<-allFast
		if since := time.Since(e.t0); since != 0 {
			t.Errorf("the fast endpoint's deliveries took %s of fake time; want none", since)
		}
		synctest.Wait()
		if _, in, maxIn := e.rt.stats("slow.example"); in != outbound.MaxInFlight || maxIn != outbound.MaxInFlight {
			t.Errorf("slow endpoint: %d in flight (at most %d); want %d", in, maxIn, outbound.MaxInFlight)
		}
		if got := gathered(t, e.reg, "wagate_outbound_in_flight", ""); got != outbound.MaxInFlight {
			t.Errorf("in_flight = %v; want %d", got, outbound.MaxInFlight)
		}
		close(release)
		slowDone := e.untilFinished(func(*wagate.EndpointDelivery) bool {
			calls, _, _ := e.rt.stats("slow.example")
			return calls == 10
		})
		<-slowDone
		synctest.Wait()
		if calls, _, maxIn := e.rt.stats("slow.example"); calls != 10 || maxIn > outbound.MaxInFlight {
			t.Errorf("slow endpoint: %d calls, at most %d in flight; want 10, ≤ %d", calls, maxIn, outbound.MaxInFlight)
		}
	})
}

func TestWakeAndPollBackstop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const poll = 10 * time.Minute
		e := newEnv(t, poll)
		_, ref := e.endpointAt("crm.example")
		stop := e.start(t)
		defer stop()
		synctest.Wait()

		woken := e.q.add(ref, event(1), time.Now())
		ok := e.untilFinished(func(d *wagate.EndpointDelivery) bool { return d.ID == woken })
		e.d.Wake(ref)
		<-ok
		if d := e.q.delivery(woken); d.Status != wagate.DeliverySucceeded || !d.At.Equal(e.t0) {
			t.Errorf("woken delivery: %s at +%s; want succeeded at once", d.Status, d.At.Sub(e.t0))
		}

		synctest.Wait() // the worker has nothing left and exits
		missed := e.q.add(ref, event(2), time.Now())
		ok = e.untilFinished(func(d *wagate.EndpointDelivery) bool { return d.ID == missed })
		<-ok
		if d := e.q.delivery(missed); !d.At.Equal(e.t0.Add(poll)) {
			t.Errorf("delivery without a wake made at +%s; want at the poll, +%s", d.At.Sub(e.t0), poll)
		}
	})
}

func TestStopWaitsForTheAttemptUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, time.Hour)
		_, ref := e.endpointAt("crm.example")
		release := make(chan struct{})
		e.rt.handle("crm.example", func(int, *http.Request) *http.Response { <-release; return answer(200) })
		id := e.q.add(ref, event(1), e.t0)
		ctx, cancel := context.WithCancel(context.Background())
		returned := make(chan struct{})
		go func() { e.d.Run(ctx); close(returned) }()
		synctest.Wait()
		cancel()
		synctest.Wait()
		select {
		case <-returned:
			t.Fatal("Run returned with an attempt under way")
		default:
		}
		close(release)
		<-returned
		if d := e.q.delivery(id); d.Status != wagate.DeliverySucceeded {
			t.Errorf("the attempt under way at the stop: %s; want recorded as succeeded", d.Status)
		}
	})
}

// When the outcome cannot be recorded, the delivery is still pending: it
// is made again after a pause, with the same webhook-id.
func TestUnrecordedAttemptIsMadeAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, time.Hour)
		_, ref := e.endpointAt("crm.example")
		e.q.failNext = 1
		id := e.q.add(ref, event(1), e.t0)
		ok := e.untilFinished(func(d *wagate.EndpointDelivery) bool { return true })
		stop := e.start(t)
		defer stop()
		<-ok
		d := e.q.delivery(id)
		e.rt.mu.Lock()
		ids := e.rt.ids["crm.example"]
		e.rt.mu.Unlock()
		if d.Status != wagate.DeliverySucceeded || d.Attempt != 1 || len(ids) != 2 || ids[0] != ids[1] || !d.At.Equal(e.t0.Add(5*time.Second)) {
			t.Errorf("delivery %s attempt %d at +%s, webhook-ids %v; want succeeded, recorded once, sent twice with one id after 5 s", d.Status, d.Attempt, d.At.Sub(e.t0), ids)
		}
	})
}

// gathered reads one series from reg: the metric name, and the value of
// its one label ("" for a metric without labels).
func gathered(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() != label {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
