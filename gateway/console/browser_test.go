package console_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/wagate/wagate"
)

// The browser tests drive the console in a real headless Chromium (Debian's
// chromium package), through chromedp: no npm, no driver binary, just the
// DevTools protocol over a pipe. They fail, never skip, when Chromium is
// missing: `make test-deps` installs it.

// browserTimeout bounds the whole browser session, so a stuck page fails
// the test instead of hanging `make test`. The suite takes a few seconds.
const browserTimeout = 60 * time.Second

// chromiumPath finds the browser: $WAGATE_CHROMIUM, else chromium on PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WAGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser tests need Chromium and it is not installed: run `make test-deps` " +
		"(apt-get install chromium), or set WAGATE_CHROMIUM to a Chromium or Chrome binary")
	return ""
}

// screenshotDir is testoutput/screenshots at the module root (gitignored).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
	out := filepath.Join(dir, "testoutput", "screenshots")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// newBrowser starts Chromium with a new empty profile. The flags keep it
// from calling home: the machine's network may be closed, and refused
// connections would only slow it down.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 860),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Do starts the browser; its context must not have a
	// deadline, or the deadline would stop the browser.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// withTimeout derives a context that bounds the actions run with it.
func withTimeout(t *testing.T, ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	t.Cleanup(cancel)
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitJS waits until a JavaScript condition holds on the page: after a
// form, the old page is still there until the new one loads, so waiting
// for an element that both have would race.
func waitJS(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond)); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, cond, err)
	}
}

// clickToLoad clicks an element that leads to another page (a link or a
// form) and returns once that page has loaded.
func clickToLoad[S chromedp.Selectable](t *testing.T, ctx context.Context, what string, sel S) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel))); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sendID calls the inbound URL and returns the message id of a 200.
func (e *env) sendID(token, body string) string {
	e.t.Helper()
	resp, err := http.Post(e.srv.URL+"/inbound/"+token, "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			MessageID string `json:"message_id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("inbound %s = %d (%v)", body, resp.StatusCode, err)
	}
	return out.Data.MessageID
}

// seed gives the pages something to show: a chat, accepted and refused
// calls, a sent message and a failed one.
func seed(t *testing.T, e *env, ws workspace) {
	t.Helper()
	ctx := context.Background()
	chat := &wagate.Chat{WorkspaceID: ws.ID, AccountPhone: "+15105566777", JID: "14155552671@s.whatsapp.net", Name: "Jane Roe", CreatedAt: t0}
	if err := e.db.CreateChat(ctx, chat); err != nil {
		t.Fatal(err)
	}
	sent := e.sendID(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"Your interview is confirmed for Tuesday at 10:00."}`)
	failed := e.sendID(ws.Inbound, `{"action":"send","phone":"+4915112345678","text":"Ihr Termin ist bestätigt.","file_url":"https://example.com/plan.pdf","file_name":"plan.pdf"}`)
	e.send(ws.Inbound, `{"action":"send","phone":"+14151231234","text":"hi"}`)
	e.send(ws.Inbound, `{"action":"send","phone_number":"+14155552671","text":"hi"}`)
	e.sendID(ws.Inbound, `{"action":"send","chat_id":"`+chatIDOf(chat)+`","text":"See you soon, Jane!"}`)

	at := t0.Add(2 * time.Second)
	if err := e.db.MarkSending(ctx, sent, at); err != nil {
		t.Fatal(err)
	}
	if err := e.db.MarkSent(ctx, sent, wagate.Try{At: at, Result: wagate.TryResultSent, ProviderID: "dry-1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.MarkSending(ctx, failed, at); err != nil {
		t.Fatal(err)
	}
	if err := e.db.MarkFailed(ctx, failed, wagate.Try{At: at.Add(time.Second), Result: wagate.TryResultFailed, Error: "recipient is not on WhatsApp (permanent)"}); err != nil {
		t.Fatal(err)
	}
}

func chatIDOf(c *wagate.Chat) string { return jsonNumber(c.ID) }

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestBrowser is the walk-through in Chromium: an owner signs in,
// copies the URL, switches it off and on, regenerates it (and the old URL
// answers 404 over HTTP), reads the attempts, downloads both files and
// signs out; a support session sees no write controls and its forged POST
// is refused; an owner makes a token on the Tokens page and revokes it. Screenshots of every page go to testoutput/screenshots.
func TestBrowser(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme Recruiting", 250)
	seed(t, e, ws)
	shots := screenshotDir(t)
	root := newBrowser(t)
	base := e.srv.URL
	overview := base + "/ui/w/" + ws.ID + "/"
	var current string // the inbound URL after the owner's regenerate

	t.Run("owner", func(t *testing.T) {
		ctx := withTimeout(t, root)
		do(t, ctx, "open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("token")))
		if loc := get(t, ctx, "location", chromedp.Location()); loc != base+"/ui/signin" {
			t.Errorf("signed out, / leads to %q; want the sign-in page", loc)
		}
		shot(t, ctx, shots, "01-signin")

		do(t, ctx, "sign in", chromedp.SendKeys(chromedp.ID("token"), ws.Owner), chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("webhook")))
		old := base + "/inbound/" + ws.Inbound
		if got := get(t, ctx, "inbound URL", chromedp.Value(chromedp.ID("inbound-url"))); got != old {
			t.Fatalf("overview shows another URL than the workspace's")
		}

		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: base,
			}); err != nil {
				t.Fatalf("granting %s: %v", name, err)
			}
		}
		do(t, ctx, "copy", chromedp.Click(chromedp.ID("copy-url")))
		waitJS(t, ctx, "the copy note", `document.querySelector('.copied').textContent === 'Copied'`)
		if got := get(t, ctx, "clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); got != old {
			t.Errorf("the clipboard holds %d characters, not the inbound URL", len(got))
		}
		shot(t, ctx, shots, "02-overview-owner")

		clickToLoad(t, ctx, "switch off", chromedp.ID("switch"))
		if state := get(t, ctx, "state", chromedp.Text(chromedp.ID("webhook-state"))); !strings.HasPrefix(state, "Off") {
			t.Errorf("after switching off the page says %q", state)
		}
		if e.enabled(ws.ID) {
			t.Fatal("the switch did not turn the URL off")
		}
		if st := e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"while off"}`); st != http.StatusForbidden {
			t.Errorf("inbound while switched off = %d, want 403", st)
		}
		shot(t, ctx, shots, "03-overview-switched-off")
		clickToLoad(t, ctx, "switch on", chromedp.ID("switch"))
		if state := get(t, ctx, "state", chromedp.Text(chromedp.ID("webhook-state"))); !strings.HasPrefix(state, "On") {
			t.Errorf("after switching on the page says %q", state)
		}
		if !e.enabled(ws.ID) {
			t.Fatal("the switch did not turn the URL on")
		}

		do(t, ctx, "regenerate", chromedp.Click(chromedp.ID("regenerate")), chromedp.WaitVisible(chromedp.ID("confirm-regenerate")))
		if warning := get(t, ctx, "warning", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(warning, "stops working at once") {
			t.Errorf("the confirmation does not warn that the old URL stops working:\n%s", warning)
		}
		shot(t, ctx, shots, "04-regenerate-confirm")
		clickToLoad(t, ctx, "confirm", chromedp.ID("confirm-regenerate"))
		if flash := get(t, ctx, "notice", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(flash, "old URL now answers 404") {
			t.Errorf("after regenerating the notice says %q", flash)
		}
		current = get(t, ctx, "new URL", chromedp.Value(chromedp.ID("inbound-url")))
		if current == old || !strings.HasPrefix(current, base+"/inbound/") {
			t.Fatal("the overview does not show a new inbound URL")
		}
		if st := e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"old URL"}`); st != http.StatusNotFound {
			t.Errorf("old URL after regenerating = %d over HTTP, want 404", st)
		}
		if st := e.send(strings.TrimPrefix(current, base+"/inbound/"), `{"action":"send","phone":"+14155552671","text":"After the new URL."}`); st != http.StatusOK {
			t.Errorf("new URL = %d, want 200", st)
		}

		do(t, ctx, "attempts", chromedp.Click(chromedp.CSS(`nav a[href$="/attempts"]`)), chromedp.WaitVisible(chromedp.ID("attempts")))
		do(t, ctx, "expand the newest", chromedp.Click(chromedp.CSS(`button[data-toggle="body-0"]`)), chromedp.WaitVisible(chromedp.ID("body-0")))
		if body := get(t, ctx, "request body", chromedp.Text(chromedp.CSS("#body-0 pre"))); !strings.Contains(body, `"text": "After the new URL."`) {
			t.Errorf("the expanded row shows %q; want the newest request", body)
		}
		// A click anywhere on a row expands it too.
		do(t, ctx, "expand by row", chromedp.Click(chromedp.CSS(`tr[data-toggle="body-2"] td:nth-child(5)`)), chromedp.WaitVisible(chromedp.ID("body-2")))
		rows := get(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll('#attempts tr.row').length`))
		if rows != 7 {
			t.Errorf("attempts table has %d rows, want 7 calls", rows)
		}
		shot(t, ctx, shots, "05-attempts")

		// Downloads, saved by Chromium under their GUID.
		dir := t.TempDir()
		if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true),
		}); err != nil {
			t.Fatal(err)
		}
		download := func(id string) []byte {
			t.Helper()
			events := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
			do(t, ctx, "click "+id, chromedp.Click(chromedp.ID(id)))
			for ev, err := range events {
				if err != nil {
					t.Fatalf("waiting for the download of %s: %v", id, err)
				}
				if ev.State == browser.DownloadProgressStateCanceled {
					t.Fatalf("download of %s was canceled", id)
				}
				if ev.State == browser.DownloadProgressStateCompleted {
					b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
			}
			return nil
		}
		records, err := csv.NewReader(strings.NewReader(string(download("download-csv")))).ReadAll()
		if err != nil {
			t.Fatalf("downloaded CSV: %v", err)
		}
		if len(records) != 8 || strings.Join(records[0], ",") != "at,request_id,remote_addr,content_type,body,http_status,message,message_id,credits,send_status,send_error,warnings" {
			t.Fatalf("downloaded CSV has %d records, header %v; want a header and 7 rows", len(records), records[0])
		}
		var statuses []string
		for _, r := range records[1:] {
			statuses = append(statuses, r[5])
		}
		if got := strings.Join(statuses, " "); got != "200 200 400 400 200 403 200" {
			t.Errorf("CSV statuses (oldest first) = %s", got)
		}
		if records[2][9] != "failed" || records[2][10] != "recipient is not on WhatsApp (permanent)" {
			t.Errorf("CSV row of the failed message: send_status %q, send_error %q", records[2][9], records[2][10])
		}
		lines := strings.Split(strings.TrimSpace(string(download("download-jsonl"))), "\n")
		var last struct {
			HTTPStatus int    `json:"http_status"`
			Body       string `json:"body"`
		}
		if len(lines) != 7 || json.Unmarshal([]byte(lines[6]), &last) != nil || last.HTTPStatus != 200 || !strings.Contains(last.Body, "After the new URL.") {
			t.Errorf("downloaded JSONL: %d lines, last %+v", len(lines), last)
		}

		do(t, ctx, "messages", chromedp.Click(chromedp.CSS(`nav a[href$="/messages"]`)), chromedp.WaitVisible(chromedp.ID("messages")))
		shot(t, ctx, shots, "06-messages")
		clickToLoad(t, ctx, "failed messages", chromedp.CSS(`a[href$="?status=failed"]`))
		do(t, ctx, "open it", chromedp.Click(chromedp.CSS(`#messages a[href*="/messages/wa_backend"]`)), chromedp.WaitVisible(chromedp.ID("tries")))
		if tries := get(t, ctx, "tries", chromedp.Text(chromedp.ID("tries"))); !strings.Contains(tries, "failed") || !strings.Contains(tries, "not on WhatsApp") {
			t.Errorf("tries table: %q", tries)
		}
		shot(t, ctx, shots, "07-message")
		do(t, ctx, "accounts", chromedp.Click(chromedp.CSS(`nav a[href$="/accounts"]`)), chromedp.WaitVisible(chromedp.ID("chats")))
		shot(t, ctx, shots, "08-accounts")

		do(t, ctx, "sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
		do(t, ctx, "overview after sign-out", chromedp.Navigate(overview), chromedp.WaitVisible(chromedp.ID("token")))
		if loc := get(t, ctx, "location", chromedp.Location()); !strings.HasPrefix(loc, base+"/ui/signin") {
			t.Errorf("after sign-out the overview leads to %q; want the sign-in page", loc)
		}
	})

	t.Run("support", func(t *testing.T) {
		// Its own browser context: no cookie of the owner's tab.
		tab, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		defer cancel()
		ctx := withTimeout(t, tab)
		do(t, ctx, "sign in",
			chromedp.Navigate(base+"/ui/signin"),
			chromedp.SendKeys(chromedp.ID("token"), ws.Support),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("webhook")))
		if present := get(t, ctx, "write controls", chromedp.Evaluate[bool](`!!(document.getElementById('regenerate') || document.getElementById('switch') || document.querySelector('form[action$="/webhook/regenerate"]'))`)); present {
			t.Error("a support session sees the regenerate button or the switch")
		}
		if note := get(t, ctx, "note", chromedp.Text(chromedp.ID("readonly-note"))); !strings.Contains(note, "read only") {
			t.Errorf("read-only note = %q", note)
		}
		if role := get(t, ctx, "role", chromedp.Text(chromedp.ID("role"))); !strings.Contains(role, "Support") {
			t.Errorf("role badge = %q", role)
		}
		shot(t, ctx, shots, "09-overview-support")

		// Forge the owner's forms from the support session's own page, with
		// its valid CSRF token: the server refuses both.
		before, enabled := e.inboundToken(ws.ID), e.enabled(ws.ID)
		for _, form := range []string{
			`{csrf: document.querySelector('input[name=csrf]').value}`,
		} {
			for _, path := range []string{"webhook/regenerate", "webhook/enabled"} {
				js := `fetch(location.pathname + '` + path + `', {method: 'POST', redirect: 'manual', body: new URLSearchParams(Object.assign(` + form + `, {enabled: 'false'}))}).then(r => r.status)`
				if st := get(t, ctx, "forged "+path, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise)); st != http.StatusForbidden {
					t.Errorf("support POST %s = %d, want 403", path, st)
				}
			}
		}
		if e.inboundToken(ws.ID) != before || e.enabled(ws.ID) != enabled {
			t.Fatal("a support session changed the inbound URL")
		}
		do(t, ctx, "confirmation page", chromedp.Navigate(overview+"webhook/regenerate"), chromedp.WaitVisible(chromedp.ID("error-message")))
		if msg := get(t, ctx, "refusal", chromedp.Text(chromedp.ID("error-message"))); !strings.Contains(msg, "can only read") {
			t.Errorf("support at the confirmation page: %q", msg)
		}
		shot(t, ctx, shots, "10-support-refused")
		if current == "" {
			return // the owner's part failed before regenerating
		}
		resp, err := http.Post(current, "application/json", strings.NewReader(`{"action":"send","phone":"+14155552671","text":"still works"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the owner's URL after the support session = %d, want 200", resp.StatusCode)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		tab, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		defer cancel()
		ctx := withTimeout(t, tab)
		do(t, ctx, "sign in",
			chromedp.Navigate(base+"/ui/signin"),
			chromedp.SendKeys(chromedp.ID("token"), ws.Owner),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("webhook")))
		do(t, ctx, "tokens page", chromedp.Click(chromedp.ID("nav-tokens")), chromedp.WaitVisible(chromedp.ID("tokens")))
		do(t, ctx, "name the token", chromedp.SendKeys(chromedp.ID("token-name"), "Zapier"))
		clickToLoad(t, ctx, "make token", chromedp.ID("create-token-button"))
		secret := get(t, ctx, "new token", chromedp.Value(chromedp.ID("created-token")))
		if st := e.apiStatus(http.MethodGet, "/api/v1/workspaces/"+ws.ID, secret); st != http.StatusOK {
			t.Fatalf("the token shown after Make token gets %d from the API, want 200", st)
		}
		shot(t, ctx, shots, "11-token-created")
		do(t, ctx, "revoke it", chromedp.Click(chromedp.ID("revoke-"+e.tokenOf(secret).ID)), chromedp.WaitVisible(chromedp.ID("confirm-revoke")))
		if warning := get(t, ctx, "warning", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(warning, "Zapier") || !strings.Contains(warning, "stops working at once") {
			t.Errorf("the revoke confirmation does not name the token and warn:\n%s", warning)
		}
		shot(t, ctx, shots, "12-token-revoke-confirm")
		clickToLoad(t, ctx, "confirm", chromedp.ID("confirm-revoke"))
		if flash := get(t, ctx, "notice", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(flash, "revoked") {
			t.Errorf("after revoking the notice says %q", flash)
		}
		if st := e.apiStatus(http.MethodGet, "/api/v1/workspaces/"+ws.ID, secret); st != http.StatusUnauthorized {
			t.Errorf("the revoked token gets %d from the API, want 401", st)
		}
	})
}

func ptr[T any](v T) *T { return &v }
