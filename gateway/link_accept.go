package gateway

import (
	"github.com/wagate/wagate"
)

// checkLinked refuses a request for a whatsapp account that no phone is
// linked to (SPEC §10): unlinked, never linked, or logged out on the
// phone. Nothing would send such a message until someone links the phone
// again, so the caller hears it now (409) rather than a day later as a
// refunded failure. Disconnected and banned accounts queue: wagate
// reconnects by itself and the ban ends.
func checkLinked(ws *wagate.Workspace, a *wagate.Account) error {
	if a.Transport != wagate.TransportWhatsApp || !a.Link.NeedsLinking() {
		return nil
	}
	state := a.Link.State
	if state == "" {
		state = wagate.LinkUnlinked
	}
	return wagate.Errorf(wagate.ECONFLICT,
		"account %s is %s: no phone is linked to it, so nothing can be sent; link it by QR code in the console (Accounts → %s → Link), with `wagate account link %s`, or POST /api/v1/workspaces/%s/accounts/%s/link",
		a.Phone, state, a.Phone, a.Phone, ws.ID, a.Phone)
}
