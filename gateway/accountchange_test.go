package gateway_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/wagate/wagate"
)

// TestAccountChangesReachTheSender: creating, pausing, activating and
// deleting an account through the API each tell the sender (AccountWatcher)
// after the change, so a session transport connects or disconnects the
// account at once; a refused change tells it nothing.
func TestAccountChangesReachTheSender(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	base := "/api/v1/workspaces/" + ws.ID + "/accounts"
	ref := wagate.AccountRef{WorkspaceID: ws.ID, Phone: "+14155550100"}

	e.account(ws, ref.Phone)
	mustStatus(t, e.do(http.MethodPatch, base+"/+14155550100", ws.Owner, `{"active":false}`), http.StatusOK)
	mustStatus(t, e.do(http.MethodPatch, base+"/+14155550100", ws.Owner, `{"active":true}`), http.StatusOK)
	wantError(t, e.do(http.MethodPatch, base+"/+14155550100", ws.Owner, `{}`), http.StatusBadRequest, wagate.EINVALID, `nothing to change; send one or more of "active"`)
	mustStatus(t, e.do(http.MethodDelete, base+"/+14155550100", ws.Owner, ""), http.StatusNoContent)
	wantError(t, e.do(http.MethodDelete, base+"/+14155550100", ws.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND, "account +14155550100 not found")

	if got, want := e.waker.Changed(), []wagate.AccountRef{ref, ref, ref, ref}; !slices.Equal(got, want) {
		t.Errorf("AccountChanged calls %v, want %v (create, pause, activate, delete)", got, want)
	}
}
