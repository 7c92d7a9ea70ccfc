package store

import (
	"slices"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// nextDue returns the endpoint's deliveries due now.
func (f *fixture) nextDue(e *wagate.Endpoint, n int) ([]*wagate.PendingDelivery, time.Time) {
	f.t.Helper()
	ds, due, err := f.db.NextDeliveries(f.ctx, epRef(e), f.clock.Now(), n)
	mustNoErr(f.t, err)
	return ds, due
}

// finishAttempt records an attempt of d that ended with status (pending:
// retry after wait).
func (f *fixture) finishAttempt(d *wagate.EndpointDelivery, status string, wait time.Duration, disable string) {
	f.t.Helper()
	out := *d
	out.Status, out.At, out.NextTryAt = status, f.clock.Now(), time.Time{}
	out.Request = wagate.DeliveryRequest{Method: "POST", URL: "https://crm.example/hooks/wa", Body: "phone=%2B14155550100"}
	out.Response = wagate.DeliveryResponse{Status: 500, Body: "down"}
	if status == wagate.DeliverySucceeded {
		out.Response = wagate.DeliveryResponse{Status: 204}
	}
	if status == wagate.DeliveryPending {
		out.NextTryAt = f.clock.Now().Add(wait)
	}
	if err := f.db.FinishAttempt(f.ctx, &out, disable); err != nil {
		f.t.Fatalf("FinishAttempt: %v", err)
	}
}

// A failed attempt wakes nobody; enabling an endpoint with pending
// deliveries wakes the deliverer for it, once committed (the queue's
// behaviours are the contract's: storetest.RunOutbox).
func TestDeliveryQueueWakeUps(t *testing.T) {
	f := newFixture(t, 10)
	w := f.watch()
	e := f.createEndpoint(wagate.EventMessageQueued)
	f.send("one")
	f.send("two")
	w.take()
	ds, _ := f.nextDue(e, 1)
	f.finishAttempt(ds[0].Delivery, wagate.DeliveryFailed, 0, "the endpoint answered 410 Gone")
	if got := w.take(); len(got) != 0 {
		t.Errorf("a failure woke the deliverer: %v", got)
	}
	_, err := f.db.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error { e.Enabled = true; return nil })
	mustNoErr(t, err)
	if got := w.take(); !slices.Equal(got, []wagate.EndpointRef{epRef(e)}) {
		t.Errorf("wake-ups on enable: %v, want the endpoint", got)
	}
}
