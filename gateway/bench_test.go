package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/wagate/wagate/gateway"
)

// BenchmarkInboundAccept measures one durable accept through the whole echo
// stack and the real store (fsync included).
func BenchmarkInboundAccept(b *testing.B) {
	e := newEnv(b, func(c *gateway.Config) { c.Logger = zap.NewNop(); c.InboundRate = 1e9; c.InboundBurst = 1 << 30 })
	ws := e.workspace("Bench", 1_000_000_000)
	e.account(ws, acctPhone)
	body := `{"action":"send","phone":"+14155552671","text":"benchmark"}`
	h := e.srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/inbound/"+ws.Inbound, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
