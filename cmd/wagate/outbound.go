package main

import (
	"context"
	"sync/atomic"
	"time"

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

// endpointRules are the deliverer's parts of the endpoint API.
func endpointRules(d *outbound.Deliverer, now func() time.Time) gateway.EndpointRules {
	return gateway.EndpointRules{
		Check: func(e *wagate.Endpoint) error { return outbound.Validate(e, nil) },
		Variables: func(event string) []string {
			var names []string
			for _, v := range outbound.EventVariables(event) {
				names = append(names, v.Name)
			}
			return names
		},
		Test: func(ctx context.Context, e *wagate.Endpoint, event string, vars map[string]string) (*wagate.EndpointDelivery, error) {
			ev, err := outbound.SampleEvent(e.WorkspaceID, event, now(), vars)
			if err != nil {
				return nil, err
			}
			return d.Test(ctx, e, ev)
		},
		Wake: func(ref wagate.EndpointRef) { d.Wake(ref) },
	}
}
