package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// apiStatus calls the admin API with token and returns the status.
func (e *env) apiStatus(method, path, token string) int {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// tokenOf finds a workspace token by its secret, through the store.
func (e *env) tokenOf(secret string) *wagate.Token {
	e.t.Helper()
	t, err := e.db.FindToken(context.Background(), wagate.HashToken(secret))
	if err != nil {
		e.t.Fatalf("FindToken: %v", err)
	}
	return t
}

var createdTokenRe = regexp.MustCompile(`id="created-token" value="([^"]+)"`)

func TestTokensPageListCreateRevoke(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	mustContain(t, "overview", b.get(base), `href="`+base+`tokens"`)

	page := b.get(base + "tokens")
	mustStatus(t, "tokens page", page, http.StatusOK)
	mustContain(t, "tokens page", page, "first owner", ws.Owner[:wagate.TokenPrefixLen]+"…", "Support · read only", "never", "Make token")
	for _, secret := range []string{ws.Owner, ws.Support} {
		if strings.Contains(page.body, secret) {
			t.Fatal("the tokens page shows a whole token")
		}
	}

	// Create: the token is on the answer, once.
	p := b.post(base+"tokens", url.Values{"csrf": {b.csrf}, "name": {"zapier"}, "role": {"support"}})
	mustStatus(t, "create a token", p, http.StatusCreated)
	m := createdTokenRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the create answer does not show the new token:\n%s", p.body)
	}
	secret := m[1]
	mustContain(t, "create answer", p, "only time the token is shown", "zapier")
	if st := e.apiStatus(http.MethodGet, "/api/v1/workspaces/"+ws.ID, secret); st != http.StatusOK {
		t.Fatalf("the token shown on the page gets %d from the API, want 200", st)
	}
	created := e.tokenOf(secret)
	if created.Name != "zapier" || created.Role != wagate.RoleSupport {
		t.Errorf("created token = name %q role %q, want zapier/support", created.Name, created.Role)
	}
	again := b.get(base + "tokens")
	if strings.Contains(again.body, secret) {
		t.Error("the new token is shown again on the next visit")
	}
	mustContain(t, "tokens page after create", again, "zapier", secret[:wagate.TokenPrefixLen]+"…")

	// Revoke, after a confirmation that names the token.
	confirm := b.get(base + "tokens/" + created.ID + "/revoke")
	mustStatus(t, "revoke confirmation", confirm, http.StatusOK)
	mustContain(t, "revoke confirmation", confirm, "zapier", "stops working at once")
	if st := e.apiStatus(http.MethodGet, "/api/v1/workspaces/"+ws.ID, secret); st != http.StatusOK {
		t.Fatalf("the confirmation page alone revoked the token (API %d)", st)
	}
	p = b.post(base+"tokens/"+created.ID+"/revoke", url.Values{"csrf": {b.csrf}})
	mustStatus(t, "revoke", p, http.StatusSeeOther)
	if p.location() != base+"tokens?done=revoked" {
		t.Errorf("revoke sends to %q", p.location())
	}
	mustContain(t, "after revoke", b.get(p.location()), "The token is revoked")
	if st := e.apiStatus(http.MethodGet, "/api/v1/workspaces/"+ws.ID, secret); st != http.StatusUnauthorized {
		t.Errorf("revoked token gets %d from the API, want 401", st)
	}
	if p := b.get(base + "tokens/" + created.ID + "/revoke"); p.status != http.StatusNotFound {
		t.Errorf("confirmation of a revoked token = %d, want 404", p.status)
	}

	// The last owner token stays, with a page that says what to do.
	owner := e.tokenOf(ws.Owner)
	b.get(base + "tokens")
	p = b.post(base+"tokens/"+owner.ID+"/revoke", url.Values{"csrf": {b.csrf}})
	mustStatus(t, "revoke the last owner", p, http.StatusConflict)
	mustContain(t, "revoke the last owner", p, "create another owner token first")

	// A revoke form without the CSRF token does nothing.
	support := e.tokenOf(ws.Support)
	p = b.post(base+"tokens/"+support.ID+"/revoke", url.Values{})
	mustStatus(t, "revoke without CSRF", p, http.StatusForbidden)
	if st := e.apiStatus(http.MethodGet, "/api/v1/workspaces/"+ws.ID, ws.Support); st != http.StatusOK {
		t.Errorf("a revoke without the CSRF token revoked the token (API %d)", st)
	}
}

func TestSupportDoesNotSeeTheTokensPage(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Support)
	base := "/ui/w/" + ws.ID + "/"
	if p := b.get(base); strings.Contains(p.body, `href="`+base+`tokens"`) {
		t.Error("support sees the Tokens tab")
	}
	mustStatus(t, "tokens page as support", b.get(base+"tokens"), http.StatusForbidden)
	b.get(base)
	mustStatus(t, "create as support", b.post(base+"tokens", url.Values{"csrf": {b.csrf}, "role": {"owner"}}), http.StatusForbidden)
	owner := e.tokenOf(ws.Owner)
	mustStatus(t, "revoke as support", b.post(base+"tokens/"+owner.ID+"/revoke", url.Values{"csrf": {b.csrf}}), http.StatusForbidden)
}

func TestRevokingATokenEndsItsConsoleSessions(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	base := "/ui/w/" + ws.ID + "/"
	staff := e.browser()
	staff.mustSignIn(ws.Support)
	mustStatus(t, "support before the revoke", staff.get(base), http.StatusOK)

	// The owner revokes the support token over the admin API.
	support := e.tokenOf(ws.Support)
	if st := e.apiStatus(http.MethodDelete, "/api/v1/workspaces/"+ws.ID+"/tokens/"+support.ID, ws.Owner); st != http.StatusNoContent {
		t.Fatalf("revoke = %d", st)
	}
	if p := staff.get(base); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/ui/signin") {
		t.Errorf("the revoked token's session: %d to %q; want the sign-in page", p.status, p.location())
	}
}

func TestSessionsSurviveARestart(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	b.get(base)
	csrf := b.csrf
	e.restart()
	mustStatus(t, "the session after a restart", b.get(base), http.StatusOK)
	if b.csrf != csrf {
		t.Error("the session's CSRF token changed over the restart")
	}
	// And its forms still work.
	mustStatus(t, "a form after a restart", b.post(base+"webhook/enabled", url.Values{"csrf": {csrf}, "enabled": {"false"}}), http.StatusSeeOther)
	if e.enabled(ws.ID) {
		t.Error("the switch posted after the restart did nothing")
	}
}

// signInSpaced signs in with token, first letting the clock move so that
// the sign-in limit per address never bites.
func (b *client) signInSpaced(token string) {
	b.t.Helper()
	b.e.clock.Advance(gateway.SignInWindow / gateway.SignInLimit)
	b.mustSignIn(token)
}

func TestTheTwentyFirstSessionEndsOnlyThatTokensOldest(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	base := "/ui/w/" + ws.ID + "/"
	staff := e.browser()
	staff.signInSpaced(ws.Support)
	var owners []*client
	for range wagate.SessionsPerToken + 1 {
		b := e.browser()
		b.signInSpaced(ws.Owner)
		owners = append(owners, b)
	}
	if p := owners[0].get(base); p.status != http.StatusSeeOther {
		t.Errorf("the owner token's oldest session after its 21st sign-in: %d, want a redirect to sign in", p.status)
	}
	for i, b := range owners[1:] {
		if p := b.get(base); p.status != http.StatusOK {
			t.Errorf("owner session %d: %d, want 200", i+1, p.status)
		}
	}
	mustStatus(t, "another token's session", staff.get(base), http.StatusOK)
}

func TestSignInsAreLimitedPerAddress(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	for i := range gateway.SignInLimit {
		b := e.browser()
		if p := b.signIn(ws.Owner); p.status != http.StatusSeeOther {
			t.Fatalf("sign-in %d: %d, want 303", i+1, p.status)
		}
	}
	b := e.browser()
	p := b.signIn(ws.Owner)
	mustStatus(t, "one sign-in too many", p, http.StatusTooManyRequests)
	mustContain(t, "one sign-in too many", p, "Too many sign-ins from your address", "at most 10 a minute")
	if p.header.Get("Retry-After") == "" || sessionCookieOf(t, p) != nil {
		t.Errorf("limited sign-in: Retry-After %q, session cookie %v; want a delay and no session", p.header.Get("Retry-After"), sessionCookieOf(t, p))
	}
	e.clock.Advance(gateway.SignInWindow / gateway.SignInLimit)
	mustStatus(t, "sign in once the level drained", b.signIn(ws.Owner), http.StatusSeeOther)
}

func TestSignInRecordsTheTokensUse(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	e.clock.Advance(time.Hour)
	e.browser().mustSignIn(ws.Support)
	if got := e.tokenOf(ws.Support).LastUsedAt; !got.Equal(e.clock.Now()) {
		t.Errorf("support token's last use = %v after a sign-in at %v", got, e.clock.Now())
	}
}

// A form value with a NUL character (U+0000) is refused with a 400 naming
// the field, and nothing is made: the API refuses it alike.
func TestConsoleFormRefusesNUL(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	b.get(base + "tokens")
	p := b.post(base+"tokens", url.Values{"csrf": {b.csrf}, "name": {"qqz\x00zz"}, "role": {"support"}})
	mustStatus(t, "create a token with a NUL in its name", p, http.StatusBadRequest)
	mustContain(t, "the refusal", p, `form field "name" contains a NUL character`, "remove it")
	if page := b.get(base + "tokens"); strings.Contains(page.body, "qqz") {
		t.Error("a token with a NUL in its name was made")
	}
}
