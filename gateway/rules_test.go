package gateway_test

import (
	"net/http"
	"testing"

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
