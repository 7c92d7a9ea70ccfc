package console_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wagate/wagate/gateway/api"
)

// TestBrowserTemplatePreview: in a real browser the preview follows the
// typing, unsaved text included, and a variable typed into the text gets
// its field.
func TestBrowserTemplatePreview(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme", 10)
	if _, err := e.gw.CreateTemplate(context.Background(), ws.ID, &api.CreateTemplate{Name: "order_shipped", Text: "Hi {{name}}"}); err != nil {
		t.Fatal(err)
	}
	ctx := withTimeout(t, newBrowser(t))
	base := e.srv.URL
	do(t, ctx, "sign in", chromedp.Navigate(base+"/ui/signin"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), ws.Owner), chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("webhook")))
	do(t, ctx, "templates tab", chromedp.Click(chromedp.ID("nav-templates")), chromedp.WaitVisible(chromedp.ID("templates")))
	do(t, ctx, "open the template", chromedp.Click(chromedp.CSS(`#template-order_shipped a`)), chromedp.WaitVisible(chromedp.ID("template-text")))
	do(t, ctx, "type a value", chromedp.SendKeys(chromedp.ID("var-name"), "Jane"))
	waitJS(t, ctx, "the preview", `document.getElementById('template-preview').textContent === 'Hi Jane'`)
	do(t, ctx, "edit the text", chromedp.SendKeys(chromedp.ID("template-text"), ", order {{order}}"))
	waitJS(t, ctx, "the new variable's field", `document.getElementById('var-order') !== null`)
	waitJS(t, ctx, "the missing variable named", `document.getElementById('template-problem').textContent.includes('"order"')`)
	do(t, ctx, "type the order", chromedp.SendKeys(chromedp.ID("var-order"), "1042"))
	waitJS(t, ctx, "the preview of the unsaved text", `document.getElementById('template-preview').textContent.includes('order 1042') && document.getElementById('template-preview').textContent.includes('Hi Jane')`)
}
