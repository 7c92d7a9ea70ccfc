package console_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/gateway/console"
)

func sessionCookieOf(t *testing.T, p answer) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "wagate_session" {
			return c
		}
	}
	return nil
}

func TestSignInSetsAStrictSessionCookie(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	p := b.signIn(ws.Owner)
	mustStatus(t, "sign in", p, http.StatusSeeOther)
	if want := "/ui/w/" + ws.ID + "/"; p.location() != want {
		t.Errorf("owner lands on %q, want %q", p.location(), want)
	}
	c := sessionCookieOf(t, p)
	if c == nil {
		t.Fatalf("no session cookie in %v", p.header["Set-Cookie"])
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || c.Secure {
		t.Errorf("session cookie = %+v; want HttpOnly, SameSite=Strict, Path=/ui/, not Secure on http", c)
	}
	if len(c.Value) < 43 { // 32 random bytes, base64url
		t.Errorf("session id %d characters long; want 256 bits", len(c.Value))
	}
	if c.MaxAge != int((12 * time.Hour).Seconds()) {
		t.Errorf("cookie Max-Age = %d, want 12 h", c.MaxAge)
	}
	overview := b.get(p.location())
	mustStatus(t, "overview", overview, http.StatusOK)
	mustContain(t, "overview", overview, "acme", e.srv.URL+"/inbound/"+ws.Inbound, "Regenerate URL", "+15105566777")
	for k, want := range map[string]string{
		"Cache-Control":          "no-store",
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := overview.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := overview.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

func TestSecureCookieBehindHTTPS(t *testing.T) {
	e := newEnv(t, withPublicURL("https://wagate.example.com"))
	ws := e.workspace("acme", 10)
	p := e.browser().signIn(ws.Owner)
	mustStatus(t, "sign in", p, http.StatusSeeOther)
	if c := sessionCookieOf(t, p); c == nil || !c.Secure {
		t.Errorf("session cookie %+v is not Secure with an https public URL", c)
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)

	b := e.browser()
	p := b.signIn("not-a-token")
	mustStatus(t, "unknown token", p, http.StatusUnauthorized)
	mustContain(t, "unknown token", p, "not known here")
	if sessionCookieOf(t, p) != nil {
		t.Error("an unknown token got a session cookie")
	}

	// No form token (a cross-site form cannot read it).
	b = e.browser()
	p = b.post("/ui/signin", url.Values{"token": {ws.Owner}})
	mustStatus(t, "sign-in without the form token", p, http.StatusForbidden)
	if sessionCookieOf(t, p) != nil {
		t.Error("a sign-in without the form token got a session")
	}

	// The right form token, posted from another site.
	b = e.browser()
	b.get("/ui/signin")
	p = b.do(http.MethodPost, "/ui/signin", url.Values{"csrf": {b.csrf}, "token": {ws.Owner}}, http.Header{"Origin": {"https://evil.example"}})
	mustStatus(t, "sign-in from another origin", p, http.StatusForbidden)

	b = e.browser()
	p = b.signIn("")
	mustStatus(t, "empty token", p, http.StatusBadRequest)
}

func TestPagesNeedASession(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	p := b.get("/ui/w/" + ws.ID + "/attempts")
	mustStatus(t, "attempts without a session", p, http.StatusSeeOther)
	if !strings.HasPrefix(p.location(), "/ui/signin?next=") {
		t.Fatalf("redirected to %q; want the sign-in page", p.location())
	}
	// After signing in, the browser goes back to the page it asked for.
	form := b.get(p.location())
	next := regexpValue(t, form.body, "next")
	p = b.post("/ui/signin", url.Values{"csrf": {b.csrf}, "token": {ws.Support}, "next": {next}})
	if p.location() != "/ui/w/"+ws.ID+"/attempts" {
		t.Errorf("after sign-in: %q; want the attempts page asked for", p.location())
	}
	// A next that leaves the console is ignored.
	b = e.browser()
	b.get("/ui/signin")
	p = b.post("/ui/signin", url.Values{"csrf": {b.csrf}, "token": {ws.Support}, "next": {"//evil.example/x"}})
	if p.location() != "/ui/w/"+ws.ID+"/" {
		t.Errorf("next=//evil.example: sent to %q; want the workspace", p.location())
	}
	// A POST without a session is refused outright.
	p = e.browser().post("/ui/w/"+ws.ID+"/webhook/regenerate", url.Values{})
	mustStatus(t, "POST without a session", p, http.StatusUnauthorized)
	if e.inboundToken(ws.ID) != ws.Inbound {
		t.Error("a POST without a session regenerated the URL")
	}
}

func regexpValue(t *testing.T, body, name string) string {
	t.Helper()
	i := strings.Index(body, `name="`+name+`" value="`)
	if i < 0 {
		t.Fatalf("no %s field in the page", name)
	}
	rest := body[i+len(`name="`+name+`" value="`):]
	v, _, _ := strings.Cut(rest, `"`)
	return html.UnescapeString(v)
}

func TestOwnerSwitchesAndRegenerates(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	b.get(base)

	p := b.post(base+"webhook/enabled", url.Values{"csrf": {b.csrf}, "enabled": {"false"}})
	mustStatus(t, "switch off", p, http.StatusSeeOther)
	if e.enabled(ws.ID) {
		t.Fatal("the URL is still on after switching off")
	}
	if st := e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi"}`); st != http.StatusForbidden {
		t.Errorf("inbound while off = %d, want 403", st)
	}
	mustContain(t, "after switching off", b.get(p.location()), "The inbound URL is off", "Switch on")

	p = b.post(base+"webhook/enabled", url.Values{"csrf": {b.csrf}, "enabled": {"true"}})
	mustStatus(t, "switch on", p, http.StatusSeeOther)
	if !e.enabled(ws.ID) {
		t.Fatal("the URL is still off after switching on")
	}

	confirm := b.get(base + "webhook/regenerate")
	mustStatus(t, "confirmation", confirm, http.StatusOK)
	mustContain(t, "confirmation", confirm, "stops working at once", "404")
	p = b.post(base+"webhook/regenerate", url.Values{"csrf": {b.csrf}})
	mustStatus(t, "regenerate", p, http.StatusSeeOther)
	fresh := e.inboundToken(ws.ID)
	if fresh == ws.Inbound || len(fresh) != 43 {
		t.Fatalf("inbound token after regenerate = %d characters, same as before: %v", len(fresh), fresh == ws.Inbound)
	}
	if st := e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi"}`); st != http.StatusNotFound {
		t.Errorf("old URL = %d, want 404", st)
	}
	if st := e.send(fresh, `{"action":"send","phone":"+14155552671","text":"hi"}`); st != http.StatusOK {
		t.Errorf("new URL = %d, want 200", st)
	}
	after := b.get(p.location())
	mustContain(t, "after regenerating", after, "A new inbound URL was made", "/inbound/"+fresh)
	if strings.Contains(after.body, ws.Inbound) {
		t.Error("the overview still shows the old URL")
	}
}

func TestFormsNeedTheCSRFTokenAndOurOrigin(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	b.get(base)
	good := b.csrf

	for _, tc := range []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"no token", url.Values{}, http.Header{"Origin": {e.srv.URL}}},
		{"wrong token", url.Values{"csrf": {good[:len(good)-1] + "x"}}, http.Header{"Origin": {e.srv.URL}}},
		{"other origin", url.Values{"csrf": {good}}, http.Header{"Origin": {"https://evil.example"}}},
		{"null origin", url.Values{"csrf": {good}}, http.Header{"Origin": {"null"}}},
		{"other referer", url.Values{"csrf": {good}}, http.Header{"Referer": {"https://evil.example/page"}}},
	} {
		p := b.do(http.MethodPost, base+"webhook/regenerate", tc.form, tc.header)
		if p.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tc.name, p.status)
		}
	}
	if e.inboundToken(ws.ID) != ws.Inbound {
		t.Fatal("a refused form regenerated the URL")
	}
	// The same form with the token and from the console works: the cases
	// above failed for the reason they test.
	p := b.do(http.MethodPost, base+"webhook/regenerate", url.Values{"csrf": {good}}, http.Header{"Referer": {e.srv.URL + base}})
	mustStatus(t, "good form", p, http.StatusSeeOther)
}

func TestSupportIsReadOnly(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Support)
	base := "/ui/w/" + ws.ID + "/"
	p := b.get(base)
	mustStatus(t, "support overview", p, http.StatusOK)
	// The inbound URL alone can send: support sees it masked (SPEC §4).
	mustContain(t, "support overview", p, "read only", e.srv.URL+"/inbound/"+gateway.MaskToken(ws.Inbound))
	if strings.Contains(p.body, ws.Inbound) {
		t.Error("the support overview shows the whole inbound token")
	}
	for _, hidden := range []string{"webhook/regenerate", "webhook/enabled", `id="switch"`} {
		if strings.Contains(p.body, hidden) {
			t.Errorf("the support overview shows %s", hidden)
		}
	}
	// Forged writes, with the session's own valid CSRF token: 403.
	if p := b.post(base+"webhook/regenerate", url.Values{"csrf": {b.csrf}}); p.status != http.StatusForbidden {
		t.Errorf("support regenerate = %d, want 403", p.status)
	}
	if p := b.post(base+"webhook/enabled", url.Values{"csrf": {b.csrf}, "enabled": {"false"}}); p.status != http.StatusForbidden {
		t.Errorf("support switch = %d, want 403", p.status)
	}
	if p := b.get(base + "webhook/regenerate"); p.status != http.StatusForbidden {
		t.Errorf("support confirmation page = %d, want 403", p.status)
	}
	if e.inboundToken(ws.ID) != ws.Inbound || !e.enabled(ws.ID) {
		t.Fatal("a support session changed the inbound URL")
	}
	// Reading works: every page of the workspace.
	for _, path := range []string{"attempts", "accounts", "messages", "attempts/download?format=csv"} {
		if p := b.get(base + path); p.status != http.StatusOK {
			t.Errorf("support GET %s = %d", path, p.status)
		}
	}
}

func TestWorkspaceTokensStayInTheirWorkspace(t *testing.T) {
	e := newEnv(t)
	a := e.workspace("a", 10)
	other := e.workspace("b", 10)
	br := e.browser()
	br.mustSignIn(a.Owner)
	br.get("/ui/w/" + a.ID + "/")
	for _, path := range []string{"", "attempts", "attempts/download?format=jsonl", "messages"} {
		if p := br.get("/ui/w/" + other.ID + "/" + path); p.status != http.StatusForbidden {
			t.Errorf("owner of a: GET b/%s = %d, want 403", path, p.status)
		}
	}
	if p := br.post("/ui/w/"+other.ID+"/webhook/regenerate", url.Values{"csrf": {br.csrf}}); p.status != http.StatusForbidden {
		t.Errorf("owner of a: regenerate b = %d, want 403", p.status)
	}
	if e.inboundToken(other.ID) != other.Inbound {
		t.Fatal("the owner of another workspace regenerated b's URL")
	}
	// An owner is sent from the operator's picker to its own workspace.
	if p := br.get("/ui/workspaces"); p.location() != "/ui/w/"+a.ID+"/" {
		t.Errorf("owner at /ui/workspaces sent to %q", p.location())
	}
}

func TestOperatorPicksAWorkspace(t *testing.T) {
	e := newEnv(t)
	a := e.workspace("alpha", 10)
	e.workspace("beta", 20)
	b := e.browser()
	p := b.signIn(e.operator)
	if p.location() != "/ui/workspaces" {
		t.Fatalf("operator lands on %q, want the picker", p.location())
	}
	picker := b.get("/ui/workspaces")
	mustContain(t, "picker", picker, "alpha", "beta", "/ui/w/"+a.ID+"/")
	mustContain(t, "operator overview", b.get("/ui/w/"+a.ID+"/"), "Regenerate URL", "All workspaces")
	if p := b.get("/ui/w/ws_0000000000000000/"); p.status != http.StatusNotFound {
		t.Errorf("unknown workspace = %d, want 404", p.status)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	b.get(base)
	csrf := b.csrf
	var id string
	for _, c := range b.jar.Cookies(mustURL(t, e.srv.URL+"/ui/")) {
		if c.Name == "wagate_session" {
			id = c.Value
		}
	}
	p := b.post("/ui/signout", url.Values{"csrf": {csrf}})
	mustStatus(t, "sign out", p, http.StatusSeeOther)
	if c := sessionCookieOf(t, p); c == nil || c.MaxAge >= 0 {
		t.Errorf("sign-out does not delete the cookie: %+v", c)
	}
	if p := b.get(base); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/ui/signin") {
		t.Errorf("after sign-out: %d to %q; want the sign-in page", p.status, p.location())
	}
	// The old cookie, kept by an attacker, no longer works.
	c := e.browser()
	c.jar.SetCookies(mustURL(t, e.srv.URL+"/ui/"), []*http.Cookie{{Name: "wagate_session", Value: id, Path: "/ui/"}})
	if p := c.get(base); p.status != http.StatusSeeOther {
		t.Errorf("replayed session cookie after sign-out = %d; want a redirect to sign in", p.status)
	}
}

func TestSessionExpiresAfter12Hours(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	e.clock.Advance(12*time.Hour - time.Second)
	mustStatus(t, "just before 12 h", b.get(base), http.StatusOK)
	e.clock.Advance(time.Second)
	if p := b.get(base); p.status != http.StatusSeeOther {
		t.Errorf("after 12 h: %d, want a redirect to sign in", p.status)
	}
}

func TestAttemptsPageAndDownloads(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	if st := e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hello there"}`); st != http.StatusOK {
		t.Fatalf("send = %d", st)
	}
	if st := e.send(ws.Inbound, `{"action":"send","phone":"+14151231234","text":"=HYPERLINK(\"x\")"}`); st != http.StatusBadRequest {
		t.Fatalf("bad phone = %d", st)
	}
	b := e.browser()
	b.mustSignIn(ws.Support)
	base := "/ui/w/" + ws.ID + "/"
	p := b.get(base + "attempts")
	mustStatus(t, "attempts", p, http.StatusOK)
	mustContain(t, "attempts", p, "phone +14155552671", "phone +14151231234", "not a valid phone number", "Accepted", ">200<", ">400<", `"text": "hello there"`, "Download CSV")

	// The console's files are the admin API's files, byte for byte.
	for _, format := range []string{"csv", "jsonl"} {
		p := b.get(base + "attempts/download?format=" + format)
		mustStatus(t, "download "+format, p, http.StatusOK)
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/workspaces/"+ws.ID+"/webhook/attempts/download?format="+format, nil)
		req.Header.Set("Authorization", "Bearer "+ws.Support)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		api, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if p.body != string(api) || p.header.Get("Content-Disposition") != resp.Header.Get("Content-Disposition") || p.header.Get("Content-Type") != resp.Header.Get("Content-Type") {
			t.Errorf("%s: console file differs from the admin API's:\n%s\n---\n%s", format, p.body, api)
		}
		if !strings.HasPrefix(p.header.Get("Content-Disposition"), "attachment; filename=\"wagate-attempts-"+ws.ID) {
			t.Errorf("Content-Disposition = %q", p.header.Get("Content-Disposition"))
		}
	}
	rows, err := csv.NewReader(strings.NewReader(b.get(base + "attempts/download?format=csv").body)).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][5] != "200" || rows[2][5] != "400" {
		t.Fatalf("CSV rows = %v, %v; want a header, the 200, then the 400 (oldest first)", rows, err)
	}
	if p := b.get(base + "attempts/download?format=xml"); p.status != http.StatusBadRequest {
		t.Errorf("format=xml = %d, want 400", p.status)
	}
}

func TestMessagesAndAccountsPages(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	if st := e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"first"}`); st != http.StatusOK {
		t.Fatalf("send = %d", st)
	}
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	list := b.get(base + "messages")
	mustContain(t, "messages", list, "first", "queued", "14155552671@s.whatsapp.net")
	i := strings.Index(list.body, `href="`+base+"messages/wa_backend:")
	if i < 0 {
		t.Fatalf("no message link in:\n%s", list.body)
	}
	link, _, _ := strings.Cut(list.body[i+len(`href="`):], `"`)
	detail := b.get(link)
	mustStatus(t, "message", detail, http.StatusOK)
	mustContain(t, "message", detail, "first", "Not tried yet")
	if p := b.get(base + "messages/wa_backend:00000000000000000000"); p.status != http.StatusNotFound {
		t.Errorf("unknown message = %d, want 404", p.status)
	}
	if p := b.get(base + "messages?status=lost"); p.status != http.StatusBadRequest {
		t.Errorf("status=lost = %d, want 400", p.status)
	}
	overview := b.get(base)
	if !bytes.Contains([]byte(overview.body), []byte(`<td class="num">1</td>`)) {
		t.Errorf("overview does not show 1 queued message for the account")
	}
	accounts := b.get(base + "accounts")
	mustContain(t, "accounts", accounts, "+15105566777", "dryrun", "14155552671@s.whatsapp.net")
}

func TestRootAndStaticAssets(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, path := range []string{"/", "/ui"} {
		if p := b.get(path); p.status != http.StatusFound || p.location() != "/ui/" {
			t.Errorf("GET %s = %d to %q; want 302 to /ui/", path, p.status, p.location())
		}
	}
	if p := b.get("/ui/"); p.location() != "/ui/signin" {
		t.Errorf("GET /ui/ signed out sent to %q", p.location())
	}
	css := b.get("/ui/static/console.css")
	if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("console.css = %d %q", css.status, css.header.Get("Content-Type"))
	}
	if p := b.get("/ui/static/"); p.status != http.StatusNotFound {
		t.Errorf("static folder listing = %d, want 404", p.status)
	}
	if p := b.get("/ui/nothing-here"); p.status != http.StatusNotFound {
		t.Errorf("unknown page = %d, want 404", p.status)
	}
}

// TestLogsKeepSecretsOut signs in, switches, regenerates and fails a form,
// then checks no log line holds a token, a session id or an inbound token.
func TestLogsKeepSecretsOut(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	b.mustSignIn(ws.Owner)
	base := "/ui/w/" + ws.ID + "/"
	b.get(base)
	b.post(base+"webhook/enabled", url.Values{"csrf": {b.csrf}, "enabled": {"false"}})
	b.post(base+"webhook/regenerate", url.Values{"csrf": {"forged"}})
	b.post(base+"webhook/regenerate", url.Values{"csrf": {b.csrf}})
	e.browser().signIn("wrong-token-value")
	secrets := []string{ws.Owner, ws.Support, ws.Inbound, e.inboundToken(ws.ID), e.operator, b.csrf}
	for _, c := range b.jar.Cookies(mustURL(t, e.srv.URL+"/ui/")) {
		secrets = append(secrets, c.Value)
	}
	if e.logs.Len() == 0 {
		t.Fatal("nothing was logged; the test would prove nothing")
	}
	signins := 0
	for _, entry := range e.logs.All() {
		line := entry.Message
		for k, v := range entry.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("log line holds a secret: %s", line)
			}
		}
		if strings.Contains(line, "wrong-token-value") {
			t.Errorf("log line holds the tried token: %s", line)
		}
		if entry.Message == "console sign-in" {
			signins++
		}
	}
	if signins != 1 {
		t.Errorf("%d sign-in log lines, want 1", signins)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRecipient(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"action":"send","phone":"+14155552671","text":"x"}`, "phone +14155552671"},
		{`{"chat_id":77234}`, "chat 77234"},
		{`{"chat_id":"77234"}`, "chat 77234"},
		{`{"jid":"120363@g.us"}`, "jid 120363@g.us"},
		{`{"chat_name":"Jane Roe"}`, "chat name Jane Roe"},
		{`{"phone":"+1415","jid":"x@s.whatsapp.net"}`, "jid x@s.whatsapp.net, phone +1415"},
		{`{"phone":null,"text":"x"}`, ""},
		{`{"text":"no one"}`, ""},
		{`not json`, ""},
		{``, ""},
	} {
		if got := console.Recipient(tc.body); got != tc.want {
			t.Errorf("Recipient(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestSignInGuessingIsLimited: the console's sign-in shares the admin API's
// limit on wrong tokens per address; once over it, further wrong tokens
// wait, but a right token signs in at once (SPEC §6: everyone behind one
// proxy shares the address).
func TestSignInGuessingIsLimited(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	b := e.browser()
	for i := 0; i < gateway.AuthFailureLimit; i++ {
		mustStatus(t, "wrong token", b.signIn("guess-"+string(rune('a'+i))), http.StatusUnauthorized)
	}
	p := b.signIn("guess-z")
	mustStatus(t, "wrong token after the guesses", p, http.StatusTooManyRequests)
	mustContain(t, "blocked sign-in", p, "Too many wrong tokens")
	if p.header.Get("Retry-After") == "" || sessionCookieOf(t, p) != nil {
		t.Errorf("blocked sign-in: Retry-After %q, session cookie %v; want a delay and no session", p.header.Get("Retry-After"), sessionCookieOf(t, p))
	}
	mustStatus(t, "right token from the limited address", e.browser().signIn(ws.Owner), http.StatusSeeOther)
	e.clock.Advance(gateway.AuthFailureWindow)
	mustStatus(t, "wrong token after the window", b.signIn("guess-y"), http.StatusUnauthorized)
}
