package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// TestAccountRulesEdit: an owner sets "200 a day, start at 20, +30 % a
// day, quiet 21:00-08:00" on the account page and the store keeps it, the
// same rules the API's PATCH sets; a refused form is a 400 naming the
// field, with what was typed; support staff read the rules and cannot
// change them.
func TestAccountRulesEdit(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	ref := wagate.AccountRef{WorkspaceID: ws.ID, Phone: "+15105566777"}
	page := "/ui/w/" + ws.ID + "/accounts/" + ref.Phone
	b := e.browser()
	b.mustSignIn(ws.Owner)
	mustContain(t, "accounts list", b.get("/ui/w/"+ws.ID+"/accounts"), `href="`+page+`"`)
	mustContain(t, "account page", b.get(page), "Careful sending", `id="rules-save"`)

	form := func(kv ...string) url.Values {
		v := url.Values{"csrf": {b.csrf}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	saved := b.post(page, form("daily_limit", "200", "warmup_start", "20", "warmup_growth", "1.3", "quiet_hours", "21:00-08:00",
		"time_zone", "Europe/Berlin", "send_interval", "8s", "send_jitter", "3s"))
	mustStatus(t, "save", saved, http.StatusSeeOther)
	if loc := saved.location(); loc != page+"?done=rules-saved" {
		t.Errorf("redirect to %q", loc)
	}
	a, err := e.db.FindAccount(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	want := wagate.SendRules{DailyLimit: 200, Warmup: wagate.Warmup{Start: 20, Growth: 1.3}, QuietHours: wagate.QuietHours{Set: true, From: 21 * 60, To: 8 * 60},
		TimeZone: "Europe/Berlin", SendInterval: 8 * time.Second, SendJitter: 3 * time.Second}
	if a.Rules != want || !a.Active {
		t.Fatalf("stored rules = %+v (active %v), want %+v", a.Rules, a.Active, want)
	}
	mustContain(t, "saved page", b.get(page+"?done=rules-saved"), "The rules are saved", `value="200"`, `value="21:00-08:00"`, `value="Europe/Berlin"`, `value="8s"`)

	for _, c := range []struct {
		name  string
		form  url.Values
		wants []string
	}{
		{"a typo in the quiet hours", form("daily_limit", "150", "quiet_hours", "21:00-8", "send_interval", "8s"), []string{"quiet_hours", "HH:MM-HH:MM", `value="150"`, `value="21:00-8"`}},
		{"a warm-up without a limit", form("warmup_start", "20", "warmup_growth", "1.3"), []string{"warmup needs daily_limit", `value="20"`, `value="1.3"`}},
		{"a limit that is not a number", form("daily_limit", "lots"), []string{"daily_limit", "whole number", `value="lots"`}},
		{"an unknown zone", form("time_zone", "Mars/Olympus"), []string{"Mars/Olympus", `value="Mars/Olympus"`}},
		{"a jitter above the interval", form("send_interval", "2s", "send_jitter", "5s"), []string{"send_jitter", "must not exceed", `value="5s"`}},
	} {
		p := b.post(page, c.form)
		mustStatus(t, c.name, p, http.StatusBadRequest)
		mustContain(t, c.name, p, append([]string{`id="rules-problem"`, "The rules were not saved: "}, c.wants...)...)
	}
	if a, _ := e.db.FindAccount(t.Context(), ref); a.Rules != want {
		t.Errorf("refused forms changed the rules: %+v", a.Rules)
	}

	// Emptied boxes turn the rules off.
	mustStatus(t, "clear", b.post(page, form()), http.StatusSeeOther)
	if a, _ := e.db.FindAccount(t.Context(), ref); !a.Rules.IsZero() {
		t.Errorf("rules after clearing = %+v", a.Rules)
	}

	s := e.browser()
	s.mustSignIn(ws.Support)
	ro := s.get(page)
	mustStatus(t, "support reads", ro, http.StatusOK)
	mustContain(t, "support reads", ro, "Only an owner can change the rules", "<fieldset disabled>")
	if strings.Contains(ro.body, `id="rules-save"`) {
		t.Error("support sees the save button")
	}
	refused := s.post(page, url.Values{"csrf": {s.csrf}, "daily_limit": {"5"}})
	mustStatus(t, "support saves", refused, http.StatusForbidden)
	mustStatus(t, "unknown account", b.get("/ui/w/"+ws.ID+"/accounts/+14155550000"), http.StatusNotFound)
}
