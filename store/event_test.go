package store

import (
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/cloudapi"
)

// outboxEvents returns the events of every delivery in the endpoint's
// outbox, in the order they were written, read straight from the file.
func (f *fixture) outboxEvents(e *wagate.Endpoint) []*wagate.Event {
	f.t.Helper()
	var evs []*wagate.Event
	err := f.db.bolt.View(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox).Bucket(endpointKey(epRef(e)))
		if ob == nil {
			return nil
		}
		c := ob.Cursor()
		for k, v := c.Seek([]byte{prefixDelivery}); k != nil && k[0] == prefixDelivery; k, v = c.Next() {
			var rec deliveryRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			evs = append(evs, rec.Event.domain())
		}
		return nil
	})
	mustNoErr(f.t, err)
	return evs
}

// eventTypes lists the types of evs.
func eventTypes(evs []*wagate.Event) []string {
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	return types
}

// apply applies a delivery report that must be found.
func (f *fixture) apply(providerID, status string) {
	f.t.Helper()
	_, _, err := f.db.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: providerID, Status: status, At: f.clock.Now(), Error: "131026"}, cloudapi.Advance)
	mustNoErr(f.t, err)
}

// Without endpoints a change writes nothing beyond itself: no event, no
// outbox, no wake-up.
func TestNoEndpointsNoEvents(t *testing.T) {
	f := newFixture(t, 10)
	w := f.watch()
	f.sendWith("wamid.1")
	f.apply("wamid.1", "read")
	id := f.send("two")
	_, err := f.db.CancelMessage(f.ctx, f.ws.ID, id, wagate.SourceAPI, time.Time{})
	mustNoErr(t, err)
	if n := f.bucketLen(bucketOutbox); n != 0 {
		t.Errorf("the outbox holds %d buckets with no endpoint anywhere", n)
	}
	if got := w.take(); len(got) != 0 {
		t.Errorf("wake-ups %v with no endpoint", got)
	}

}

// The deliverer is woken, once committed, for the endpoints that got
// deliveries and not for the others (the fan-out itself is the contract's:
// storetest.RunOutbox).
func TestWakeUpsGoToTheEndpointsThatGotDeliveries(t *testing.T) {
	f := newFixture(t, 10)
	w := f.watch()
	sentOnly := f.createEndpoint(wagate.EventMessageSent)
	queued := f.createEndpoint(wagate.EventMessageQueued)
	disabled := f.newEndpoint(wagate.EventMessageSent, wagate.EventMessageQueued)
	disabled.Enabled = false
	mustNoErr(t, f.db.CreateEndpoint(f.ctx, disabled))
	f.send("hi")
	if got := w.take(); !slices.Equal(got, []wagate.EndpointRef{epRef(queued)}) {
		t.Errorf("wake-ups after an accept %v, want only %s", got, queued.ID)
	}
	f.sendWith("wamid.2")
	if got := w.take(); !slices.Contains(got, epRef(sentOnly)) || slices.Contains(got, epRef(disabled)) {
		t.Errorf("wake-ups %v: want the endpoints that got deliveries, not the disabled one", got)
	}
}

func TestLowCreditsSurvivesReopen(t *testing.T) {
	f := newFixture(t, 7)
	_, err := f.db.SetLowCredits(f.ctx, f.ws.ID, 500)
	mustNoErr(t, err)
	mustNoErr(t, f.db.Close())
	db := openTest(t, f.path, f.clock)
	ws, err := db.FindWorkspace(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if ws.LowCredits != 500 || ws.Credits != 7 {
		t.Errorf("after reopen: low credits %d, credits %d; want 500, 7", ws.LowCredits, ws.Credits)
	}
}
