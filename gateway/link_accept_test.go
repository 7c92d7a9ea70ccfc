package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// TestWhatsAppAccountLinkAccept: a whatsapp account shows its link state
// in the account object; a request for it while unlinked or logged out is
// a 409 naming the account and how to link it; disconnected and banned
// accounts queue, to people, groups and @lid alike.
func TestWhatsAppAccountLinkAccept(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Shop", 100)
	rec := e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, `{"phone":"+14155550123","transport":"whatsapp"}`)
	mustStatus(t, rec, http.StatusCreated)
	ref := wagate.AccountRef{WorkspaceID: ws.ID, Phone: "+14155550123"}
	get := func() api.Account {
		var list api.AccountList
		mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, ""), http.StatusOK, &list)
		return list.Accounts[0]
	}
	if a := get(); a.Link == nil || a.Link.State != "unlinked" {
		t.Fatalf("new whatsapp account link = %+v, want unlinked", a.Link)
	}
	send := `{"action":"send","phone":"+14155552671","text":"hi"}`
	wantError(t, e.send(ws.Inbound, send), http.StatusConflict, wagate.ECONFLICT, "+14155550123", "unlinked", "/accounts/+14155550123/link", "wagate account link")

	since := t0.Add(time.Minute)
	for _, state := range []string{"disconnected", "banned", "connected"} {
		if err := e.db.SetAccountLink(t.Context(), ref, wagate.AccountLink{State: state, Since: since, Until: since.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		accepted(t, e.send(ws.Inbound, send))
	}
	accepted(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+14155550123","jid":"120363025246125486@g.us","text":"group"}`))
	accepted(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+14155550123","jid":"81234567890123@lid","text":"lid"}`))

	if err := e.db.SetAccountLink(t.Context(), ref, wagate.AccountLink{State: "logged_out", Since: since, Error: "the device was removed on the phone; link again"}); err != nil {
		t.Fatal(err)
	}
	a := get()
	if a.Link == nil || a.Link.State != "logged_out" || a.Link.Since == nil || !a.Link.Since.Equal(since) || a.Link.Error == "" {
		t.Fatalf("link = %+v, want logged_out since %v with the error", a.Link, since)
	}
	wantError(t, e.send(ws.Inbound, send), http.StatusConflict, wagate.ECONFLICT, "+14155550123", "logged_out", "link")

	// Other transports have no link.
	e.account(ws, "+14155550199")
	var list api.AccountList
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, ""), http.StatusOK, &list)
	for _, acct := range list.Accounts {
		if (acct.Link != nil) != (acct.Transport == "whatsapp") {
			t.Fatalf("account %s (%s) link = %+v", acct.Phone, acct.Transport, acct.Link)
		}
	}
}
