package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// queuedIDs sends texts to phone and returns their message ids, oldest
// first.
func queuedIDs(t *testing.T, e *env, ws workspace, phone string, texts ...string) []string {
	t.Helper()
	for _, text := range texts {
		if st := e.send(ws.Inbound, `{"action":"send","phone":"`+phone+`","text":"`+text+`"}`); st != http.StatusOK {
			t.Fatalf("send %q = %d", text, st)
		}
	}
	list, err := e.db.ListMessages(context.Background(), ws.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := len(list) - 1; i >= 0; i-- {
		ids = append(ids, list[i].ID)
	}
	return ids[len(ids)-len(texts):]
}

// The message page says what a queued message waits for and when its
// retry is due, and an owner cancels it from there; support sees no button
// and a forged form is refused.
func TestMessagePageWaitingAndCancel(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	ids := queuedIDs(t, e, ws, "+14155552671", "first", "behind")
	first, behind := ids[0], ids[1]
	ctx := context.Background()
	if err := e.db.MarkSending(ctx, first, t0); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Retry(ctx, first, wagate.Try{At: t0, Class: wagate.TryClassTransient, Error: "cloud: 503"}, t0.Add(40*time.Minute)); err != nil {
		t.Fatal(err)
	}
	base := "/ui/w/" + ws.ID + "/messages/"

	sup := e.browser()
	sup.mustSignIn(ws.Support)
	p := sup.get(base + url.PathEscape(behind))
	mustStatus(t, "support message page", p, http.StatusOK)
	mustContain(t, "support message page", p, "Waiting for", first)
	if strings.Contains(p.body, `id="cancel"`) || strings.Contains(p.body, "/cancel") {
		t.Error("support sees a Cancel button")
	}
	if p := sup.post(base+url.PathEscape(behind)+"/cancel", url.Values{"csrf": {sup.csrf}}); p.status != http.StatusForbidden {
		t.Errorf("support cancel = %d, want 403", p.status)
	}

	b := e.browser()
	b.mustSignIn(ws.Owner)
	p = b.get(base + url.PathEscape(first))
	mustStatus(t, "retrying message page", p, http.StatusOK)
	mustContain(t, "retrying message page", p, `id="next-try"`, `id="cancel"`)
	// Without the CSRF token: refused, nothing cancelled.
	if p := b.post(base+url.PathEscape(first)+"/cancel", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("cancel without the CSRF token = %d, want 403", p.status)
	}
	p = b.post(base+url.PathEscape(first)+"/cancel", url.Values{"csrf": {b.csrf}})
	mustStatus(t, "cancel", p, http.StatusSeeOther)
	after := b.get(p.location())
	mustContain(t, "after cancel", after, "The message was cancelled", "cancelled", "failed")
	if strings.Contains(after.body, `id="cancel"`) {
		t.Error("a cancelled message still shows the Cancel button")
	}
	ws2, err := e.db.FindWorkspace(ctx, ws.ID)
	if err != nil || ws2.Credits != 9 {
		t.Fatalf("balance after the cancel = %v (%v), want 9", ws2.Credits, err)
	}
	// behind waits for nothing now; cancelling first again is a 409 page.
	mustContain(t, "behind after cancel", b.get(base+url.PathEscape(behind)), `id="cancel"`)
	if strings.Contains(b.get(base+url.PathEscape(behind)).body, "Waiting for") {
		t.Error("the message still shows it waits for a cancelled one")
	}
	p = b.post(base+url.PathEscape(first)+"/cancel", url.Values{"csrf": {b.csrf}})
	mustStatus(t, "cancel again", p, http.StatusConflict)
	mustContain(t, "cancel again", p, "already failed")
}
