package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate/gateway"
)

// TestSupportSeesInboundURLMasked: the inbound URL alone can send and spend
// credits, so a support token, which only reads, gets it masked; the owner
// and the operator get it whole (SPEC §4).
func TestSupportSeesInboundURLMasked(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	var support struct {
		Token string `json:"token"`
	}
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"support"}`), http.StatusCreated, &support)

	whole := "http://wagate.test/inbound/" + ws.Inbound
	urlFor := func(token string) string {
		t.Helper()
		var got struct {
			Webhook struct {
				URL string `json:"url"`
			} `json:"webhook"`
		}
		mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID, token, ""), http.StatusOK, &got)
		return got.Webhook.URL
	}
	if got := urlFor(ws.Owner); got != whole {
		t.Errorf("owner sees %q, want the whole URL %q", got, whole)
	}
	if got := urlFor(e.operator); got != whole {
		t.Errorf("operator sees %q, want the whole URL %q", got, whole)
	}
	token := ws.Inbound
	masked := urlFor(support.Token)
	if strings.Contains(masked, token) {
		t.Fatalf("support sees the whole token in %q", masked)
	}
	if want := strings.TrimSuffix(whole, token) + gateway.MaskToken(token); masked != want {
		t.Errorf("support sees %q, want %q", masked, want)
	}
	if !strings.HasPrefix(gateway.MaskToken(token), token[:4]) || !strings.HasSuffix(gateway.MaskToken(token), token[len(token)-4:]) {
		t.Errorf("MaskToken(%q) = %q: keeps neither end", token, gateway.MaskToken(token))
	}
	// The masked URL is no inbound URL: it cannot send.
	wantError(t, e.do(http.MethodPost, strings.TrimPrefix(masked, "http://wagate.test"), "", `{"action":"send","phone":"+14155552671","text":"hi"}`), http.StatusNotFound, "not_found", "Webhook not found")
}
