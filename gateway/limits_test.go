package gateway_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
)

// TestOperatorLimits: past the operator's limits per workspace (SPEC §4) a
// new account or chat is a 409 naming the flag to raise, on the admin API
// and on the inbound URL, whose sends to a new recipient make chats.
func TestOperatorLimits(t *testing.T) {
	e := newEnvStore(t, store.Options{MaxAccounts: 1, MaxChats: 2})
	ws := e.workspace("Acme", 100)
	e.account(ws, acctPhone)
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/accounts", ws.Owner, `{"phone":"+447911123456"}`),
		http.StatusConflict, wagate.ECONFLICT, "--max-accounts 1")

	e.chat(ws, acctPhone, "+4915112345679", "first")
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"makes the second chat"}`))
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/chats", ws.Owner,
		fmt.Sprintf(`{"account_phone":%q,"phone":"+14155552672","name":"third"}`, acctPhone)),
		http.StatusConflict, wagate.ECONFLICT, "--max-chats 2")
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552672","text":"a third recipient"}`),
		http.StatusConflict, wagate.ECONFLICT, "--max-chats 2", "send to an existing chat")
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"a known recipient"}`))
}
