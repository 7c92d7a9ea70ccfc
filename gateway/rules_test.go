package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// TestAccountRules: an owner sets the careful-sending rules with PATCH
// …/accounts/{phone}, one field at a time if they like, and sees them in
// the account object; bad values are 400s naming the field and the fix.
func TestAccountRules(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	e.account(ws, "+14155550100")
	path := "/api/v1/workspaces/" + ws.ID + "/accounts/+14155550100"
	type account struct {
		Active     bool `json:"active"`
		DailyLimit int  `json:"daily_limit"`
		Warmup     *struct {
			Start  int     `json:"start"`
			Growth float64 `json:"growth"`
		} `json:"warmup"`
		QuietHours   string `json:"quiet_hours"`
		TimeZone     string `json:"time_zone"`
		SendInterval string `json:"send_interval"`
		SendJitter   string `json:"send_jitter"`
	}
	var got account
	mustDecode(t, e.do(http.MethodPatch, path, ws.Owner, `{"daily_limit":200,"warmup":{"start":20,"growth":1.3},
		"quiet_hours":"21:00-08:00","time_zone":"Europe/Berlin","send_interval":"5s","send_jitter":"1s"}`), http.StatusOK, &got)
	if got.DailyLimit != 200 || got.Warmup == nil || got.Warmup.Start != 20 || got.Warmup.Growth != 1.3 ||
		got.QuietHours != "21:00-08:00" || got.TimeZone != "Europe/Berlin" || got.SendInterval != "5s" || got.SendJitter != "1s" || !got.Active {
		t.Fatalf("account after PATCH = %+v", got)
	}

	// One field at a time keeps the others.
	mustDecode(t, e.do(http.MethodPatch, path, ws.Owner, `{"quiet_hours":"22:30-07:00"}`), http.StatusOK, &got)
	if got.QuietHours != "22:30-07:00" || got.DailyLimit != 200 || got.SendInterval != "5s" {
		t.Fatalf("account after changing quiet_hours = %+v", got)
	}
	a, err := e.db.FindAccount(t.Context(), wagate.AccountRef{WorkspaceID: ws.ID, Phone: "+14155550100"})
	if err != nil || a.Rules.DailyLimit != 200 || a.Rules.QuietHours.From != 22*60+30 {
		t.Fatalf("stored rules = %+v, %v", a.Rules, err)
	}

	// GET shows them too.
	var list struct {
		Accounts []account `json:"accounts"`
	}
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, ""), http.StatusOK, &list)
	if len(list.Accounts) != 1 || list.Accounts[0].DailyLimit != 200 {
		t.Fatalf("accounts = %+v", list.Accounts)
	}

	for _, tc := range []struct {
		body  string
		parts []string
	}{
		{`{"quiet_hours":"9pm-8am"}`, []string{"quiet_hours", "HH:MM-HH:MM"}},
		{`{"daily_limit":0}`, []string{"warmup needs daily_limit", "set daily_limit"}},
		{`{"warmup":{"start":20,"growth":0.5}}`, []string{"warmup.growth", "1.3 = +30 %"}},
		{`{"time_zone":"Berlin"}`, []string{"time_zone", "Europe/Berlin"}},
		{`{"send_interval":"5"}`, []string{"send_interval", `"5s"`}},
		{`{"send_interval":5}`, []string{"send_interval", "string"}},
		{`{"send_jitter":"10s"}`, []string{"send_jitter", "must not exceed"}},
		{`{"dayly_limit":5}`, []string{"dayly_limit"}},
	} {
		wantError(t, e.do(http.MethodPatch, path, ws.Owner, tc.body), http.StatusBadRequest, wagate.EINVALID, tc.parts...)
	}
	// Nothing was written by the refused requests.
	mustDecode(t, e.do(http.MethodPatch, path, ws.Owner, `{"active":true}`), http.StatusOK, &got)
	if got.QuietHours != "22:30-07:00" || got.DailyLimit != 200 {
		t.Fatalf("account after refused PATCHes = %+v", got)
	}

	// Turning every rule off shows none.
	got = account{}
	mustDecode(t, e.do(http.MethodPatch, path, ws.Owner, `{"daily_limit":0,"warmup":{"start":0,"growth":0},"quiet_hours":"","time_zone":"","send_interval":"0s","send_jitter":"0s"}`), http.StatusOK, &got)
	if got != (account{Active: true}) {
		t.Fatalf("account with no rules = %+v", got)
	}

	support := e.createToken(ws, "support", "desk")
	wantError(t, e.do(http.MethodPatch, path, support.Token, `{"daily_limit":10}`), http.StatusForbidden, wagate.EFORBIDDEN)
}

// TestSendAt: send_at schedules a message (charged now, shown waiting with
// reason "scheduled" until its time, cancellable); one in the past is sent
// now; more than 30 days ahead, or not RFC 3339, is a 400 naming send_at.
func TestSendAt(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	e.account(ws, "+14155550100")
	type message struct {
		Status        string     `json:"status"`
		WaitingReason string     `json:"waiting_reason"`
		NextTryAt     *time.Time `json:"next_try_at"`
		SendAt        *time.Time `json:"send_at"`
	}
	get := func(id string) message {
		var m message
		mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/messages/"+id, ws.Owner, ""), http.StatusOK, &m)
		return m
	}
	due := t0.Add(26 * time.Hour)
	id := accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"reminder","send_at":"`+due.In(time.FixedZone("CET", 3600)).Format(time.RFC3339)+`"}`))
	if got := e.balance(ws); got != 9 {
		t.Fatalf("balance %d, want 9: a scheduled message is charged at accept", got)
	}
	m := get(id)
	if m.Status != "queued" || m.WaitingReason != "scheduled" || m.NextTryAt == nil || !m.NextTryAt.Equal(due) || m.SendAt == nil || !m.SendAt.Equal(due) {
		t.Fatalf("scheduled message = %+v, want queued, scheduled, next_try_at and send_at %s", m, due)
	}

	past := accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"late","send_at":"`+t0.Add(-time.Hour).Format(time.RFC3339)+`"}`))
	if m := get(past); m.WaitingReason != "" || m.SendAt != nil {
		t.Fatalf("send_at in the past = %+v, want an ordinary message sent now", m)
	}

	far := t0.Add(31 * 24 * time.Hour).Format(time.RFC3339)
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"x","send_at":"`+far+`"}`),
		http.StatusBadRequest, wagate.EINVALID, `field "send_at"`, "more than 30 days ahead")
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"x","send_at":"tomorrow 9am"}`),
		http.StatusBadRequest, wagate.EINVALID, `field "send_at"`, "RFC 3339", "2026-12-05T09:00:00+01:00")
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"x","send_at":1764921600}`),
		http.StatusBadRequest, wagate.EINVALID, `send_at`)

	var cancelled message
	mustDecode(t, e.do(http.MethodDelete, "/api/v1/workspaces/"+ws.ID+"/messages/"+id, ws.Owner, ""), http.StatusOK, &cancelled)
	if cancelled.Status != "failed" || e.balance(ws) != 9 {
		t.Fatalf("cancelled scheduled message = %+v, balance %d; want failed and refunded", cancelled, e.balance(ws))
	}
}
