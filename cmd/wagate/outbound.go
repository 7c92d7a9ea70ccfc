package main

import (
	"sync/atomic"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/sender/outbound"
)

// The outbound event webhooks (SPEC §9) tie three parts together: the store
// writes each event and its deliveries in the commit of the change (the
// outbox) and says so after the commit; the deliverer carries them out; the
// gateway's endpoint API checks endpoints and makes test sends through the
// deliverer. The store opens before the deliverer exists, so its wake-up
// goes through a holder that drops wake-ups until the deliverer is set
// (the deliverer's Run scans the outbox when it starts anyway).

var _ gateway.EndpointDeliverer = (*outbound.Deliverer)(nil)

// delivererHolder forwards the store's OnDeliveries to the deliverer once
// it is set.
type delivererHolder struct {
	p atomic.Pointer[outbound.Deliverer]
}

func (h *delivererHolder) wake(refs []wagate.EndpointRef) {
	if d := h.p.Load(); d != nil {
		d.Wake(refs...)
	}
}
