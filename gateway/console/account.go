package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/careful"
	"github.com/wagate/wagate/gateway/api"
)

// accountForm is the careful-sending form of the account page as typed:
// strings, so a refused form comes back exactly as the owner left it.
// The names are the admin API's fields (warmup.start as warmup_start).
type accountForm struct {
	DailyLimit   string
	WarmupStart  string
	WarmupGrowth string
	QuietHours   string
	TimeZone     string
	SendInterval string
	SendJitter   string
}

// accountFormOf shows stored rules in the form; a rule that is off is an
// empty box.
func accountFormOf(r wagate.SendRules) accountForm {
	f := accountForm{QuietHours: careful.FormatQuietHours(r.QuietHours), TimeZone: r.TimeZone}
	if r.DailyLimit > 0 {
		f.DailyLimit = strconv.Itoa(r.DailyLimit)
	}
	if r.Warmup.Start > 0 {
		f.WarmupStart = strconv.Itoa(r.Warmup.Start)
		f.WarmupGrowth = strconv.FormatFloat(r.Warmup.Growth, 'g', -1, 64)
	}
	if r.SendInterval > 0 {
		f.SendInterval = r.SendInterval.String()
		f.SendJitter = r.SendJitter.String()
	}
	return f
}

func accountFormFrom(r *http.Request) accountForm {
	v := func(name string) string { return strings.TrimSpace(r.PostForm.Get(name)) }
	return accountForm{
		DailyLimit:   v("daily_limit"),
		WarmupStart:  v("warmup_start"),
		WarmupGrowth: v("warmup_growth"),
		QuietHours:   v("quiet_hours"),
		TimeZone:     v("time_zone"),
		SendInterval: v("send_interval"),
		SendJitter:   v("send_jitter"),
	}
}

// input is the form as the admin API's PATCH body, every rule set: the
// form shows them all, so an empty box turns its rule off. Numbers that
// do not read are EINVALID naming the field; the rest is checked by the
// gateway's use case, as for the API.
func (f accountForm) input() (*api.SetAccount, error) {
	whole := func(field, s string) (int, error) {
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, wagate.Errorf(wagate.EINVALID, "%s %q is not a whole number; give e.g. 200, or leave it empty for none", field, cut(s, 20))
		}
		return n, nil
	}
	limit, err := whole("daily_limit", f.DailyLimit)
	if err != nil {
		return nil, err
	}
	start, err := whole("warmup.start", f.WarmupStart)
	if err != nil {
		return nil, err
	}
	var growth float64
	if f.WarmupGrowth != "" {
		if growth, err = strconv.ParseFloat(f.WarmupGrowth, 64); err != nil {
			return nil, wagate.Errorf(wagate.EINVALID, "warmup.growth %q is not a number; give the daily factor, e.g. 1.3 for +30 %% a day", cut(f.WarmupGrowth, 20))
		}
	}
	orOff := func(s string) *string {
		if s == "" {
			s = "0s"
		}
		return &s
	}
	return &api.SetAccount{
		DailyLimit:   &limit,
		Warmup:       &api.WarmupRule{Start: start, Growth: growth},
		QuietHours:   &f.QuietHours,
		TimeZone:     &f.TimeZone,
		SendInterval: orOff(f.SendInterval),
		SendJitter:   orOff(f.SendJitter),
	}, nil
}

type accountPage struct {
	Account *wagate.Account
	Row     accountRow // its queue, and why they wait
	Form    accountForm
	Problem string
}

// accountPath is the console page of an account.
func accountPath(workspaceID, phone string) string {
	return workspacePath(workspaceID) + "accounts/" + url.PathEscape(phone)
}

// GET /ui/w/{ws}/accounts/{phone}: the account and its careful-sending
// rules, a form for an owner, read only for support.
func (c *Console) account(w http.ResponseWriter, r *http.Request, q *request) {
	c.renderAccount(w, r, q, http.StatusOK, accountPage{})
}

// POST /ui/w/{ws}/accounts/{phone} (owner): the rules, through the admin
// API's use case (PATCH …/accounts/{phone}). A refused form is the page
// again, a 400 naming the field, with what was typed.
func (c *Console) saveAccount(w http.ResponseWriter, r *http.Request, q *request) {
	ref := wagate.AccountRef{WorkspaceID: q.ws.ID, Phone: r.PathValue("phone")}
	form := accountFormFrom(r)
	in, err := form.input()
	if err == nil {
		if _, err = c.gw.SetAccount(r.Context(), ref, in); err == nil {
			c.log.Info("console: account rules changed", zap.String("workspace", q.ws.ID), zap.String("account", ref.Phone), zap.String("role", string(q.sess.role)))
			http.Redirect(w, r, accountPath(ref.WorkspaceID, ref.Phone)+"?done=rules-saved", http.StatusSeeOther)
			return
		}
	}
	if wagate.ErrorCode(err) != wagate.EINVALID {
		c.fail(w, r, q, err)
		return
	}
	c.renderAccount(w, r, q, http.StatusBadRequest, accountPage{Form: form, Problem: "The rules were not saved: " + wagate.ErrorMessage(err) + "."})
}

func (c *Console) renderAccount(w http.ResponseWriter, r *http.Request, q *request, status int, p accountPage) {
	ref := wagate.AccountRef{WorkspaceID: q.ws.ID, Phone: r.PathValue("phone")}
	a, err := c.svc.Accounts.FindAccount(r.Context(), ref)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			err = wagate.Errorf(wagate.ENOTFOUND, "account %q not found in this workspace; see the accounts page for its accounts", cut(ref.Phone, 40))
		}
		c.fail(w, r, q, err)
		return
	}
	rows, _, _, err := c.queueDepth(r, &wagate.Workspace{ID: q.ws.ID, Accounts: []*wagate.Account{a}})
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	p.Account, p.Row = a, rows[0]
	if p.Problem == "" {
		p.Form = accountFormOf(a.Rules)
	}
	v := c.view(q, "Account "+a.Phone, "accounts")
	v.Flash = flashes[r.URL.Query().Get("done")]
	v.Data = p
	c.render(w, status, "account", v)
}
