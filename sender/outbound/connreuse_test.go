package outbound_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/outbound"
)

// Several endpoints on one host (a CRM with a path per automation) each
// keep their connections: the real transport holds an idle connection for
// every delivery that may be in flight to the host, instead of dialling
// again for most deliveries. The receiver holds each wave of requests until
// every endpoint has MaxInFlight of them open, so each wave needs that many
// connections at once.
func TestEndpointsOnOneHostReuseConnections(t *testing.T) {
	const endpoints, perEndpoint = 5, 10 * outbound.MaxInFlight
	wave := endpoints * outbound.MaxInFlight
	var (
		mu      sync.Mutex
		arrived int
		gates   = make([]chan struct{}, perEndpoint*endpoints/wave)
		dials   atomic.Int64
	)
	for i := range gates {
		gates[i] = make(chan struct{})
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		gate := gates[(arrived-1)/wave]
		if arrived%wave == 0 {
			close(gate)
		}
		mu.Unlock()
		<-gate
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	q := newFakeQueue()
	for i := range endpoints {
		ep := endpoint(wagate.EndpointBody{})
		ep.ID, ep.URL = fmt.Sprintf("ep_%d", i), srv.URL+fmt.Sprintf("/hook/%d", i)
		ref := q.addEndpoint(ep)
		for j := range perEndpoint {
			q.add(ref, event(i*100+j), time.Now())
		}
	}
	var finished atomic.Int64
	all := make(chan struct{})
	q.mu.Lock()
	q.onFinish = func(d *wagate.EndpointDelivery) {
		if d.Status != wagate.DeliverySucceeded {
			t.Errorf("delivery %s: %s (%s)", d.ID, d.Status, d.Error)
		}
		if finished.Add(1) == endpoints*perEndpoint {
			close(all)
		}
	}
	q.mu.Unlock()
	d := outbound.New(outbound.Config{AllowPrivate: true, Poll: time.Hour}, q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	<-all
	cancel()
	<-done
	if n := dials.Load(); n > int64(wave) {
		t.Errorf("%d connections for %d deliveries in waves of %d: the idle ones were dropped and dialled again", n, endpoints*perEndpoint, wave)
	}
}
