package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

func withTrustedProxies(list string) option {
	return func(c *gateway.Config) {
		p, err := gateway.ParseTrustedProxies(list)
		if err != nil {
			panic(err)
		}
		c.TrustedProxies = p
	}
}

// sendVia calls the inbound URL from the TCP peer peer with the given
// X-Forwarded-For ("" = none).
func (e *env) sendVia(peer, xff, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/inbound/"+token, strings.NewReader(body))
	req.RemoteAddr = peer
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// TestTrustedProxiesClientAddress: X-Forwarded-For names the client in the
// attempt log only when the TCP peer is a trusted proxy, and then its
// rightmost hop that is not a trusted proxy (SPEC §5); from anyone else
// the header is ignored, so remote_addr cannot be spoofed.
func TestTrustedProxiesClientAddress(t *testing.T) {
	e, ws := setup(t, 100, withTrustedProxies("10.0.0.0/8, 2001:db8:aaaa::/48"))
	ok := `{"action":"send","phone":"+14155552671","text":"hi"}`
	tests := []struct {
		peer, xff, want string
	}{
		{"10.1.2.3:4000", "198.51.100.7", "198.51.100.7"},
		{"10.1.2.3:4000", "6.6.6.6, 198.51.100.7, 10.9.9.9", "198.51.100.7"}, // 6.6.6.6 is the client's claim
		{"10.1.2.3:4000", "[2001:db8:1::5]:443", "2001:db8:1::5"},
		{"10.1.2.3:4000", "10.2.2.2", "10.2.2.2"},            // all trusted: the leftmost
		{"10.1.2.3:4000", "", "10.1.2.3"},                    // no header: the proxy itself
		{"10.1.2.3:4000", "not-an-ip, 10.2.2.2", "10.2.2.2"}, // garbage: the last trusted hop
		{"[2001:db8:aaaa::1]:80", "203.0.113.9", "203.0.113.9"},
		{"192.0.2.1:1234", "198.51.100.7", "192.0.2.1"}, // not a trusted peer: header ignored
	}
	for _, tt := range tests {
		accepted(t, e.sendVia(tt.peer, tt.xff, ws.Inbound, ok))
		var list struct{ Attempts []attempt }
		mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts?limit=1", ws.Owner, ""), http.StatusOK, &list)
		if got := list.Attempts[0].RemoteAddr; got != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: remote_addr %q, want %q", tt.peer, tt.xff, got, tt.want)
		}
	}
}

// TestTrustedProxiesFeedTheLimits: behind a trusted proxy each client has
// its own guess budget; without the setting they all share the proxy's.
func TestTrustedProxiesFeedTheLimits(t *testing.T) {
	ok := `{"action":"send","phone":"+14155552671","text":"hi"}`
	const proxy = "10.0.0.1:5000"
	e, _ := setup(t, 100, withTrustedProxies("10.0.0.0/8"))
	for i := range gateway.GuessLimit {
		wantError(t, e.sendVia(proxy, "198.51.100.1", guessToken(i), ok), http.StatusNotFound, wagate.ENOTFOUND)
	}
	wantError(t, e.sendVia(proxy, "198.51.100.1", guessToken(90), ok), http.StatusTooManyRequests, wagate.ERATELIMIT)
	wantError(t, e.sendVia(proxy, "198.51.100.2", guessToken(91), ok), http.StatusNotFound, wagate.ENOTFOUND)

	plain, _ := setup(t, 100) // no trusted proxies: X-Forwarded-For is ignored
	for i := range gateway.GuessLimit {
		wantError(t, plain.sendVia(proxy, "198.51.100.1", guessToken(i), ok), http.StatusNotFound, wagate.ENOTFOUND)
	}
	wantError(t, plain.sendVia(proxy, "198.51.100.2", guessToken(91), ok), http.StatusTooManyRequests, wagate.ERATELIMIT)
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := gateway.ParseTrustedProxies(" 10.0.0.0/8 ,192.0.2.7, fd00::/8,")
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("fd00::/8")}
	if err != nil || len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("ParseTrustedProxies = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.local", "10.0.0"} {
		if _, err := gateway.ParseTrustedProxies(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "10.0.0.0/8") {
			t.Errorf("ParseTrustedProxies(%q) error = %v; want one naming the entry and an example", bad, err)
		}
	}
}
