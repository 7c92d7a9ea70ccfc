package console_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wagate/wagate"
)

// TestAttemptsFitAt1280 loads the attempts page in a 1280x800 window with
// the longest values a caller can put in each column (a long unbroken text,
// field name, JID, content type, send error) and every row expanded, and
// checks that nothing scrolls sideways: support staff read this page on
// laptops, and a table wider than the window hides the columns on the
// right. The full values stay reachable: a cut cell carries the whole value
// in its title, and the expanded row shows it wrapped.
func TestAttemptsFitAt1280(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme Recruiting", 250)
	long := strings.Repeat("x", 3000)
	failed := e.sendID(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"`+long+`"}`)
	e.send(ws.Inbound, `{"action":"send","jid":"`+strings.Repeat("1", 190)+`@s.whatsapp.net","text":"hi"}`)
	e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi","`+strings.Repeat("unknown_", 30)+`":1}`)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/inbound/"+ws.Inbound,
		strings.NewReader(`{"action":"send","chat_name":"`+strings.Repeat("Jane", 60)+`","text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; profile="+strings.Repeat("p", 150))
	req.Header.Set("X-Request-ID", strings.Repeat("r", 64)) // the longest id a client may choose
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The longest status text, 415 Unsupported Media Type.
	resp, err = http.Post(e.srv.URL+"/inbound/"+ws.Inbound, "text/plain", strings.NewReader(long))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sendErr := "media download failed: https://files.example.org/" + strings.Repeat("0123456789", 25) + " (permanent)"
	ctx := context.Background()
	if err := e.db.MarkSending(ctx, failed, t0); err != nil {
		t.Fatal(err)
	}
	if err := e.db.MarkFailed(ctx, failed, wagate.Try{At: t0.Add(time.Second), Result: wagate.TryResultFailed, Error: sendErr}); err != nil {
		t.Fatal(err)
	}

	root := newBrowser(t)
	tab := withTimeout(t, root)
	do(t, tab, "window 1280x800", chromedp.EmulateViewport(1280, 800))
	do(t, tab, "sign in",
		chromedp.Navigate(e.srv.URL+"/ui/signin"),
		chromedp.SendKeys(chromedp.ID("token"), ws.Owner),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("webhook")))
	do(t, tab, "attempts", chromedp.Navigate(e.srv.URL+"/ui/w/"+ws.ID+"/attempts"), chromedp.WaitVisible(chromedp.ID("attempts")))
	if n := get(t, tab, "rows", chromedp.Evaluate[int](`document.querySelectorAll('#attempts tr.row').length`)); n != 5 {
		t.Fatalf("the attempts table has %d rows, want 5", n)
	}

	// fits lists the boxes that are wider than they may be: the page, the
	// main column (it scrolls on its own), and the table against its column.
	const fits = `(() => {
		const bad = [];
		const d = document.scrollingElement, m = document.querySelector('main'), tb = document.getElementById('attempts');
		if (d.scrollWidth > d.clientWidth) bad.push('page ' + d.scrollWidth + ' > ' + d.clientWidth);
		if (m.scrollWidth > m.clientWidth) bad.push('main ' + m.scrollWidth + ' > ' + m.clientWidth);
		if (tb.offsetWidth > m.clientWidth) bad.push('table ' + tb.offsetWidth + ' > ' + m.clientWidth);
		return bad.join('; ');
	})()`
	if width := get(t, tab, "window width", chromedp.Evaluate[int](`window.innerWidth`)); width != 1280 {
		t.Fatalf("the window is %d px wide, want 1280", width)
	}
	if bad := get(t, tab, "widths", chromedp.Evaluate[string](fits)); bad != "" {
		t.Errorf("collapsed rows: wider than the window: %s", bad)
	}
	do(t, tab, "expand every row", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#attempts tr.row button.expand').forEach(b => b.click())`))
	waitJS(t, tab, "the expanded rows", `[...document.querySelectorAll('#attempts tr.detail')].every(r => !r.hidden)`)
	if bad := get(t, tab, "widths", chromedp.Evaluate[string](fits)); bad != "" {
		t.Errorf("expanded rows: wider than the window: %s", bad)
	}
	shot(t, tab, screenshotDir(t), "11-attempts-long-values-1280")

	// A cell cut to fit carries its whole value in its title, and the send
	// error (cut at 120 characters) is whole there too.
	untitled := get(t, tab, "cut cells", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#attempts tr.row td')].filter(td => td.scrollWidth > td.clientWidth && !td.title).map(td => td.textContent)`))
	if len(untitled) > 0 {
		t.Errorf("cells cut to fit without a title holding the whole value: %q", untitled)
	}
	titles := get(t, tab, "titles", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#attempts tr.row td[title]')].map(td => td.title)`))
	if !slices.Contains(titles, sendErr) {
		t.Errorf("no cell has the whole send error as its title; titles: %q", titles)
	}
	details := get(t, tab, "expanded rows", chromedp.Evaluate[string](`[...document.querySelectorAll('#attempts tr.detail')].map(r => r.innerText).join('\n')`))
	for what, want := range map[string]string{
		"content type": "application/json; profile=" + strings.Repeat("p", 150),
		"send error":   sendErr,
		"body":         long,
		"request id":   strings.Repeat("r", 64),
	} {
		if !strings.Contains(strings.ReplaceAll(details, "\n", ""), want) {
			t.Errorf("the expanded rows do not show the whole %s", what)
		}
	}
}
