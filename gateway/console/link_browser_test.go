package console_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// fakeLinker stands in for the WhatsApp Web Manager: Link shows a first
// QR code; the test rotates codes and connects with set.
type fakeLinker struct {
	mu sync.Mutex
	st map[wagate.AccountRef]gateway.LinkStatus
	ch map[wagate.AccountRef]chan struct{}
}

func newFakeLinker() *fakeLinker {
	return &fakeLinker{st: map[wagate.AccountRef]gateway.LinkStatus{}, ch: map[wagate.AccountRef]chan struct{}{}}
}

func (f *fakeLinker) set(ref wagate.AccountRef, l gateway.LinkStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st[ref] = l
	if c := f.ch[ref]; c != nil {
		close(c)
		delete(f.ch, ref)
	}
}

func (f *fakeLinker) Link(_ context.Context, a *wagate.Account, _ string) (gateway.LinkStatus, error) {
	l := gateway.LinkStatus{State: "linking", QR: "2@first-qr-code"}
	f.set(a.Ref(), l)
	return l, nil
}

func (f *fakeLinker) LinkStatus(ref wagate.AccountRef) gateway.LinkStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.st[ref]; ok {
		return l
	}
	return gateway.LinkStatus{State: "unlinked"}
}

func (f *fakeLinker) Unlink(_ context.Context, ref wagate.AccountRef) error {
	f.set(ref, gateway.LinkStatus{State: "unlinked"})
	return nil
}

func (f *fakeLinker) LinkChanged(ref wagate.AccountRef) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.ch[ref]
	if c == nil {
		c = make(chan struct{})
		f.ch[ref] = c
	}
	return c
}

// linkEnv is an env whose gateway links through a fake, with one whatsapp
// account.
func linkEnv(t *testing.T) (*env, workspace, *fakeLinker, wagate.AccountRef) {
	e := newEnv(t)
	lk := newFakeLinker()
	e.linker = lk
	e.restart()
	ws := e.workspace("Acme", 10)
	a := &wagate.Account{WorkspaceID: ws.ID, Phone: "+14155550123", Transport: wagate.TransportWhatsApp, Active: true}
	if err := e.db.CreateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return e, ws, lk, a.Ref()
}

// TestLinkPageRoles: support staff cannot open the link page or its
// stream (the QR code is the owner's); the stream is never cached.
func TestLinkPageRoles(t *testing.T) {
	e, ws, lk, ref := linkEnv(t)
	path := "/ui/w/" + ws.ID + "/accounts/+14155550123/link"
	support := e.browser()
	support.mustSignIn(e.token(ws.ID, wagate.RoleSupport))
	mustStatus(t, "support's link page", support.get(path), http.StatusForbidden)
	mustStatus(t, "support's link stream", support.get(path+"/events"), http.StatusForbidden)

	owner := e.browser()
	owner.mustSignIn(ws.Owner)
	mustContain(t, "accounts page", owner.get("/ui/w/"+ws.ID+"/accounts"), path)
	lk.set(ref, gateway.LinkStatus{State: "connected"})
	p := owner.get(path + "/events")
	mustStatus(t, "owner's link stream", p, http.StatusOK)
	if p.header.Get("Cache-Control") != "no-store" || !strings.Contains(p.body, "Connected as +14155550123") {
		t.Errorf("stream: Cache-Control %q, body %q", p.header.Get("Cache-Control"), p.body)
	}
}

// TestBrowserLinkPage: in a real browser, the owner asks for a QR code;
// the page draws it, draws the next one when WhatsApp rotates it, then
// says "Connected as +1…".
func TestBrowserLinkPage(t *testing.T) {
	e, ws, lk, ref := linkEnv(t)
	ctx := withTimeout(t, newBrowser(t))
	base := e.srv.URL
	do(t, ctx, "sign in", chromedp.Navigate(base+"/ui/signin"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), ws.Owner), chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("webhook")))
	do(t, ctx, "link page", chromedp.Navigate(base+"/ui/w/"+ws.ID+"/accounts/+14155550123/link"), chromedp.WaitVisible(chromedp.ID("link-state")))
	clickToLoad(t, ctx, "ask for a QR code", chromedp.CSS(`button[value="qr"]`))
	waitJS(t, ctx, "the first QR code", `document.getElementById('link-qr').src.startsWith('data:image/png;base64,') && !document.getElementById('link-qr').hidden`)
	src := get(t, ctx, "the first image", chromedp.Evaluate[string](`document.getElementById('link-qr').src`))
	lk.set(ref, gateway.LinkStatus{State: "linking", QR: "2@second-qr-code"})
	waitJS(t, ctx, "the rotated QR code", `document.getElementById('link-qr').src !== `+jsString(src))
	lk.set(ref, gateway.LinkStatus{State: "connected"})
	waitJS(t, ctx, "connected", `document.getElementById('link-state').textContent === 'Connected as +14155550123.' && document.getElementById('link-qr').hidden`)
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
