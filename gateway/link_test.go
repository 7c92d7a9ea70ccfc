package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/gateway/api"
)

// fakeLinker stands in for the WhatsApp Web Manager: Link shows a first
// QR code; the test rotates codes and connects with set.
type fakeLinker struct {
	mu      sync.Mutex
	st      map[wagate.AccountRef]gateway.LinkStatus
	ch      map[wagate.AccountRef]chan struct{}
	methods []string
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

func (f *fakeLinker) Link(_ context.Context, a *wagate.Account, method string) (gateway.LinkStatus, error) {
	f.mu.Lock()
	f.methods = append(f.methods, method)
	f.mu.Unlock()
	l := gateway.LinkStatus{State: "linking", QR: "2@qr-one", ExpiresAt: t0.Add(time.Minute)}
	if method == "code" {
		l = gateway.LinkStatus{State: "linking", Code: "ABCD-EFGH"}
	}
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

// TestLinkRoutes: an owner links a whatsapp account (202 with the QR
// code, or the pairing code), reads it uncached, follows it as server-sent
// events through a rotation to connected, and unlinks; support staff get
// 403; other transports and bad methods are 400s naming the fix.
func TestLinkRoutes(t *testing.T) {
	e := newEnv(t)
	lk := newFakeLinker()
	e.withServices(func(s *gateway.Services) { s.Linker = lk })
	ws := e.workspace("Shop", 10)
	mustStatus(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, `{"phone":"+14155550123","transport":"whatsapp"}`), http.StatusCreated)
	e.account(ws, "+14155550199")
	ref := wagate.AccountRef{WorkspaceID: ws.ID, Phone: "+14155550123"}
	base := "/api/v1/workspaces/" + ws.ID + "/accounts/%2B14155550123/link"

	var l api.Link
	mustDecode(t, e.do(http.MethodPost, base, ws.Owner, `{"method":"qr"}`), http.StatusAccepted, &l)
	if l.State != "linking" || l.QR != "2@qr-one" || l.ExpiresAt == nil {
		t.Fatalf("POST link = %+v", l)
	}
	mustDecode(t, e.do(http.MethodPost, base, ws.Owner, `{"method":"code"}`), http.StatusAccepted, &l)
	if l.Code != "ABCD-EFGH" || l.QR != "" {
		t.Fatalf("POST link by code = %+v", l)
	}
	wantError(t, e.do(http.MethodPost, base, ws.Owner, `{"method":"sms"}`), http.StatusBadRequest, wagate.EINVALID, `"method"`, `"qr"`, `"code"`)
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts/%2B14155550199/link", ws.Owner, `{}`),
		http.StatusBadRequest, wagate.EINVALID, "+14155550199", "dryrun", "only whatsapp accounts")
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts/%2B14155550777/link", ws.Owner, `{}`), http.StatusNotFound, wagate.ENOTFOUND, "+14155550777")

	rec := e.do(http.MethodGet, base, ws.Owner, "")
	mustDecode(t, rec, http.StatusOK, &l)
	if l.Code != "ABCD-EFGH" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET link = %+v, Cache-Control %q", l, rec.Header().Get("Cache-Control"))
	}
	var support api.TokenCreated
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"support"}`), http.StatusCreated, &support)
	for _, path := range []string{base, base + "/events"} {
		wantError(t, e.do(http.MethodGet, path, support.Token, ""), http.StatusForbidden, wagate.EFORBIDDEN)
	}
	wantError(t, e.do(http.MethodPost, base, support.Token, `{}`), http.StatusForbidden, wagate.EFORBIDDEN)

	// The event stream, through a real server: the state now, a rotated
	// QR code, then connected, after which the stream ends.
	lk.set(ref, gateway.LinkStatus{State: "linking", QR: "2@qr-one"})
	srv := httptest.NewServer(e.srv.Handler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+base+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+ws.Owner)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("events: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() api.Link {
		t.Helper()
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var l api.Link
				if err := json.Unmarshal([]byte(data), &l); err != nil {
					t.Fatal(err)
				}
				return l
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return api.Link{}
	}
	if l := next(); l.QR != "2@qr-one" {
		t.Fatalf("first event %+v", l)
	}
	lk.set(ref, gateway.LinkStatus{State: "linking", QR: "2@qr-two"})
	if l := next(); l.QR != "2@qr-two" {
		t.Fatalf("second event %+v", l)
	}
	lk.set(ref, gateway.LinkStatus{State: "connected"})
	if l := next(); l.State != "connected" || l.QR != "" {
		t.Fatalf("last event %+v", l)
	}
	for sc.Scan() {
		if sc.Text() != "" {
			t.Fatalf("the stream goes on after connected: %q", sc.Text())
		}
	}

	mustStatus(t, e.do(http.MethodDelete, base, ws.Owner, ""), http.StatusNoContent)
	if l := lk.LinkStatus(ref); l.State != "unlinked" {
		t.Errorf("after DELETE: %+v, want unlinked", l)
	}
}

// TestLinkWithoutTransport: a wagate built without the transport answers
// the link routes with 503 saying so.
func TestLinkWithoutTransport(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Shop", 10)
	mustStatus(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, `{"phone":"+14155550123","transport":"whatsapp"}`), http.StatusCreated)
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts/%2B14155550123/link", ws.Owner, `{}`),
		http.StatusServiceUnavailable, wagate.EUNAVAILABLE, "nowhatsapp")
}
