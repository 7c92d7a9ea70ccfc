package wagate

import "maps"

// Clone returns a copy of ws with copies of its accounts and their
// settings, which the caller may change without touching ws: the inbound
// caches of the backends keep one copy and hand out others.
func (ws *Workspace) Clone() *Workspace {
	cp := *ws
	if ws.Accounts != nil {
		cp.Accounts = make([]*Account, len(ws.Accounts))
		accts := make([]Account, len(ws.Accounts))
		for i, a := range ws.Accounts {
			accts[i] = *a
			accts[i].Settings = maps.Clone(a.Settings)
			cp.Accounts[i] = &accts[i]
		}
	}
	return &cp
}
