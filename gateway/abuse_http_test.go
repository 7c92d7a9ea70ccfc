package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// from sends a request through the whole echo stack as the client at addr
// (host:port) would.
func (e *env) from(addr, method, path, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = addr
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	checkOpenAPI(e.t, req, rec)
	return rec
}

// guessToken is a token of the right shape that no workspace has.
func guessToken(i int) string { return fmt.Sprintf("%043d", i) }

// TestInboundGuessingLimit: an address that calls GuessLimit unknown
// inbound URLs within a minute gets 429 with Retry-After for the next
// unknown ones, until they drain; its calls of a real URL, and other
// addresses, are not limited. The 429 tells nothing a 404 would not.
func TestInboundGuessingLimit(t *testing.T) {
	e, ws := setup(t, 100)
	const guesser, other = "192.0.2.1:1234", "198.51.100.1:5555"
	ok := `{"action":"send","phone":"+14155552671","text":"hi"}`
	for i := range gateway.GuessLimit {
		wantError(t, e.from(guesser, http.MethodPost, "/inbound/"+guessToken(i), "", ok), http.StatusNotFound, wagate.ENOTFOUND, "Webhook not found")
	}
	for _, tok := range []string{guessToken(100), "short"} {
		rec := e.from(guesser, http.MethodPost, "/inbound/"+tok, "", ok)
		b := wantError(t, rec, http.StatusTooManyRequests, wagate.ERATELIMIT, "unknown inbound URLs", "retry after 6 s")
		if got := rec.Header().Get("Retry-After"); got != "6" { // 10 a minute: one drains every 6 s
			t.Errorf("Retry-After = %q, want 6", got)
		}
		if strings.Contains(b.Message, tok) {
			t.Errorf("429 message %q echoes the token", b.Message)
		}
	}
	// The real URL, from the same address, is not limited by it.
	accepted(t, e.from(guesser, http.MethodPost, "/inbound/"+ws.Inbound, "", ok))
	// Another address has its own budget.
	wantError(t, e.from(other, http.MethodPost, "/inbound/"+guessToken(200), "", ok), http.StatusNotFound, wagate.ENOTFOUND)
	// One guess drains every 6 s.
	e.clock.Advance(6 * time.Second)
	wantError(t, e.from(guesser, http.MethodPost, "/inbound/"+guessToken(300), "", ok), http.StatusNotFound, wagate.ENOTFOUND)
	wantError(t, e.from(guesser, http.MethodPost, "/inbound/"+guessToken(301), "", ok), http.StatusTooManyRequests, wagate.ERATELIMIT)
	// A regenerated URL counts as unknown: the limit does not care why.
	e.clock.Advance(time.Hour)
	wantError(t, e.from(guesser, http.MethodPost, "/inbound/"+guessToken(302), "", ok), http.StatusNotFound, wagate.ENOTFOUND)
}

// TestAdminBruteForceLimit: an address that sent AuthFailureLimit wrong or
// missing admin tokens within a minute gets 429 for its further wrong
// tokens until one failure drained; its right tokens (the operator's, an
// owner's: everyone behind one proxy shares the address) are served all the
// while and do not count; other addresses and the inbound URL are not
// affected (SPEC §6).
func TestAdminBruteForceLimit(t *testing.T) {
	e, ws := setup(t, 100)
	const guesser, other = "192.0.2.1:1234", "[2001:db8::1]:443"
	path := "/api/v1/workspaces/" + ws.ID
	for i := range gateway.AuthFailureLimit {
		tok := guessToken(i)
		if i == 0 {
			tok = "" // a missing token counts too
		}
		wantError(t, e.from(guesser, http.MethodGet, path, tok, ""), http.StatusUnauthorized, wagate.EUNAUTHORIZED)
	}
	for _, tok := range []string{guessToken(99), ""} {
		rec := e.from(guesser, http.MethodGet, path, tok, "")
		b := wantError(t, rec, http.StatusTooManyRequests, wagate.ERATELIMIT, "wrong admin token", "retry after 6 s")
		if got := rec.Header().Get("Retry-After"); got != "6" {
			t.Errorf("Retry-After = %q, want 6", got)
		}
		if tok != "" && (strings.Contains(b.Message, tok) || strings.Contains(rec.Body.String(), tok)) {
			t.Errorf("429 answer echoes the token: %s", rec.Body)
		}
	}
	// The right tokens are served from the limited address, again and
	// again: they neither wait nor count.
	for range 3 * gateway.AuthFailureLimit {
		mustStatus(t, e.from(guesser, http.MethodGet, path, ws.Owner, ""), http.StatusOK)
	}
	mustStatus(t, e.from(guesser, http.MethodGet, "/api/v1/workspaces", e.operator, ""), http.StatusOK)
	mustStatus(t, e.from(other, http.MethodGet, path, ws.Owner, ""), http.StatusOK)
	wantError(t, e.from(other, http.MethodGet, path, guessToken(98), ""), http.StatusUnauthorized, wagate.EUNAUTHORIZED)
	accepted(t, e.from(guesser, http.MethodPost, "/inbound/"+ws.Inbound, "", `{"action":"send","phone":"+14155552671","text":"hi"}`))

	e.clock.Advance(6 * time.Second) // one failure drained
	wantError(t, e.from(guesser, http.MethodGet, path, guessToken(100), ""), http.StatusUnauthorized, wagate.EUNAUTHORIZED)
	wantError(t, e.from(guesser, http.MethodGet, path, guessToken(101), ""), http.StatusTooManyRequests, wagate.ERATELIMIT)
	mustStatus(t, e.from(guesser, http.MethodGet, path, ws.Owner, ""), http.StatusOK)
}

// TestInboundGuessLimitServesRealURLs: the inbound guess limit counts only
// unknown tokens; a limited address still gets every request to a real
// inbound URL accepted, however many, and they do not count.
func TestInboundGuessLimitServesRealURLs(t *testing.T) {
	e, ws := setup(t, 100)
	const addr = "192.0.2.7:1234"
	ok := `{"action":"send","phone":"+14155552671","text":"hi"}`
	for i := range gateway.GuessLimit {
		wantError(t, e.from(addr, http.MethodPost, "/inbound/"+guessToken(i), "", ok), http.StatusNotFound, wagate.ENOTFOUND)
	}
	wantError(t, e.from(addr, http.MethodPost, "/inbound/"+guessToken(50), "", ok), http.StatusTooManyRequests, wagate.ERATELIMIT, "unknown inbound URLs")
	for range 2 * gateway.GuessLimit {
		accepted(t, e.from(addr, http.MethodPost, "/inbound/"+ws.Inbound, "", ok))
	}
	e.clock.Advance(6 * time.Second) // one guess drained; the sends above added none
	wantError(t, e.from(addr, http.MethodPost, "/inbound/"+guessToken(51), "", ok), http.StatusNotFound, wagate.ENOTFOUND)
	wantError(t, e.from(addr, http.MethodPost, "/inbound/"+guessToken(52), "", ok), http.StatusTooManyRequests, wagate.ERATELIMIT)
}
