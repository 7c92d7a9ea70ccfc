package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/wagate/wagate/gateway"
)

// benchRequest is the first reference request of SPEC §1, the one the load
// tool (cmd/wagate-load) sends too.
const benchRequest = `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14155552671","text":"lorem ipsum"}`

// benchEnv is a gateway on a real store with a workspace that can pay for
// every iteration and no rate limit in the way.
func benchEnv(b *testing.B) (http.Handler, string) {
	e := newEnv(b, func(c *gateway.Config) { c.Logger = zap.NewNop(); c.InboundRate = 1e9; c.InboundBurst = 1 << 30 })
	ws := e.workspace("Bench", 1_000_000_000)
	e.account(ws, acctPhone)
	return e.srv.Handler(), "/inbound/" + ws.Inbound
}

// BenchmarkInboundAccept measures one durable accept through the whole echo
// stack and the real store (fsync included), one request at a time: the
// latency floor of a lone client, one fsync per request.
func BenchmarkInboundAccept(b *testing.B) {
	h, path := benchEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		postAccept(b, h, path)
	}
}

// BenchmarkInboundAcceptParallel is the same accept from 16 goroutines per
// CPU, as a loaded server sees it: concurrent requests share group commits,
// so ns/op is the server's cost per accept (CPU plus the fsync share), not a
// latency. Run it with -cpuprofile to see where an accept's time goes
// without the HTTP server and the network.
func BenchmarkInboundAcceptParallel(b *testing.B) {
	h, path := benchEnv(b)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			postAccept(b, h, path)
		}
	})
}

func postAccept(b *testing.B, h http.Handler, path string) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(benchRequest))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Errorf("status %d: %s", rec.Code, rec.Body)
	}
}
