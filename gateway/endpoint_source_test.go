package gateway_test

import (
	"net/http"
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// Deleting an account through the API is a change made by "api": the
// message.failed events of its queued messages reach an endpoint filtered
// on that source, and not one filtered on "console".
func TestDeleteAccountEventsHaveTheAPISource(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	e.account(ws, "+14155550123")
	byAPI := e.createEndpoint(ws, `{"url":"https://crm.example","events":["message.failed"],"filter":{"source":"api"}}`)
	byConsole := e.createEndpoint(ws, `{"url":"https://crm.example","events":["message.failed"],"filter":{"source":"console"}}`)
	mustStatus(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+14155550123","phone":"+14155552671","text":"hi"}`), http.StatusOK)
	mustStatus(t, e.do(http.MethodDelete, "/api/v1/workspaces/"+ws.ID+"/accounts/+14155550123", ws.Owner, ""), http.StatusNoContent)

	deliveries := func(id string) []api.Delivery {
		var list api.DeliveryList
		mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/endpoints/"+id+"/deliveries", ws.Owner, ""), http.StatusOK, &list)
		return list.Deliveries
	}
	if got := deliveries(byAPI.ID); len(got) != 1 || got[0].Event != "message.failed" {
		t.Errorf("endpoint filtered on api: deliveries %+v, want one message.failed", got)
	}
	if got := deliveries(byConsole.ID); len(got) != 0 {
		t.Errorf("endpoint filtered on console: deliveries %+v, want none", got)
	}
}

// PATCH /api/v1/workspaces/{ws} sets the credits.low threshold (owner
// only, 0 or more); the workspace shows it, and the charge that crosses
// it, not the ones below it, writes one credits.low event.
func TestPatchWorkspaceLowCredits(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 5)
	path := "/api/v1/workspaces/" + ws.ID
	ep := e.createEndpoint(ws, `{"url":"https://crm.example","events":["credits.low"]}`)

	wantError(t, e.do(http.MethodPatch, path, ws.Owner, `{"low_credits":-1}`), http.StatusBadRequest, wagate.EINVALID, `"low_credits"`, "between 0")
	wantError(t, e.do(http.MethodPatch, path, ws.Owner, `{}`), http.StatusBadRequest, wagate.EINVALID, `"low_credits"`)
	wantError(t, e.do(http.MethodPatch, path, ws.Owner, `{"low_credit":3}`), http.StatusBadRequest, wagate.EINVALID, "low_credit")
	wantError(t, e.do(http.MethodPatch, path, e.token(ws, "support"), `{"low_credits":3}`), http.StatusForbidden, wagate.EFORBIDDEN)

	var got api.Workspace
	mustDecode(t, e.do(http.MethodPatch, path, ws.Owner, `{"low_credits":3}`), http.StatusOK, &got)
	if got.LowCredits != 3 || got.ID != ws.ID {
		t.Fatalf("PATCH answered %+v, want low_credits 3", got)
	}
	mustDecode(t, e.do(http.MethodGet, path, ws.Owner, ""), http.StatusOK, &got)
	if got.LowCredits != 3 {
		t.Errorf("GET shows low_credits %d, want 3", got.LowCredits)
	}

	e.account(ws, "+14155550123")
	for range 4 { // 5 → 4 → 3 → 2 (crosses 3) → 1
		mustStatus(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+14155550123","phone":"+14155552671","text":"hi"}`), http.StatusOK)
	}
	var list api.DeliveryList
	mustDecode(t, e.do(http.MethodGet, path+"/endpoints/"+ep.ID+"/deliveries", ws.Owner, ""), http.StatusOK, &list)
	if len(list.Deliveries) != 1 || list.Deliveries[0].Event != wagate.EventCreditsLow {
		t.Errorf("deliveries %+v, want one credits.low", list.Deliveries)
	}
}
