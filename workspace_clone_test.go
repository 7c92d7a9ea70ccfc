package wagate

import "testing"

// TestWorkspaceClone: a change to the clone's accounts or settings does
// not reach the original (the inbound caches hand clones out).
func TestWorkspaceClone(t *testing.T) {
	ws := &Workspace{ID: "ws", Accounts: []*Account{{Phone: "1", Active: true, Settings: map[string]string{"k": "v"}}}}
	cp := ws.Clone()
	cp.ID = "other"
	cp.Accounts[0].Active = false
	cp.Accounts[0].Settings["k"] = "changed"
	cp.Accounts = append(cp.Accounts, &Account{Phone: "2"})
	if ws.ID != "ws" || len(ws.Accounts) != 1 || !ws.Accounts[0].Active || ws.Accounts[0].Settings["k"] != "v" {
		t.Errorf("the original changed with its clone: %+v, account %+v", ws, ws.Accounts[0])
	}
	if (&Workspace{}).Clone().Accounts != nil {
		t.Error("a workspace without accounts cloned with some")
	}
}
