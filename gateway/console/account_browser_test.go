package console_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wagate/wagate"
)

// TestBrowserAccountRules: in a real browser an owner opens the account
// from the accounts page, types rules the gateway refuses (a warm-up above
// the limit), reads which field is wrong with what was typed still in the
// form, fixes it and saves.
func TestBrowserAccountRules(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme", 10)
	ctx := withTimeout(t, newBrowser(t))
	base := e.srv.URL
	do(t, ctx, "sign in", chromedp.Navigate(base+"/ui/signin"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), ws.Owner), chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("webhook")))
	do(t, ctx, "accounts page", chromedp.Navigate(base+"/ui/w/"+ws.ID+"/accounts"), chromedp.WaitVisible(chromedp.ID("accounts")))
	do(t, ctx, "open the account", chromedp.Click(chromedp.CSS(`#accounts a`)), chromedp.WaitVisible(chromedp.ID("rules-form")))
	do(t, ctx, "type rules",
		chromedp.SendKeys(chromedp.ID("daily-limit"), "20"),
		chromedp.SendKeys(chromedp.ID("warmup-start"), "50"),
		chromedp.SendKeys(chromedp.ID("warmup-growth"), "1.3"),
		chromedp.SendKeys(chromedp.ID("quiet-hours"), "21:00-08:00"),
		chromedp.Click(chromedp.ID("rules-save")), chromedp.WaitVisible(chromedp.ID("rules-problem")))
	waitJS(t, ctx, "the field named", `document.getElementById('rules-problem').textContent.includes('warmup.start 50 is above daily_limit 20')`)
	waitJS(t, ctx, "what was typed kept", `document.getElementById('warmup-start').value === '50' && document.getElementById('quiet-hours').value === '21:00-08:00'`)
	do(t, ctx, "fix the limit", chromedp.SetValue(chromedp.ID("daily-limit"), "200"), chromedp.Click(chromedp.ID("rules-save")), chromedp.WaitVisible(chromedp.ID("flash")))
	waitJS(t, ctx, "the saved rules shown", `document.getElementById('daily-limit').value === '200' && document.getElementById('warmup-growth').value === '1.3'`)
	a, err := e.db.FindAccount(t.Context(), wagate.AccountRef{WorkspaceID: ws.ID, Phone: "+15105566777"})
	if err != nil {
		t.Fatal(err)
	}
	if r := a.Rules; r.DailyLimit != 200 || r.Warmup.Start != 50 || r.Warmup.Growth != 1.3 || !r.QuietHours.Set {
		t.Errorf("stored rules = %+v", r)
	}
}
