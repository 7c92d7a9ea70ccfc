package store

import (
	"slices"
	"testing"

	"github.com/wagate/wagate"
)

// RecordAccountEvent wakes the deliverer for the endpoints that got its
// event, once committed (the event itself is the contract's:
// storetest.RunAccountEvents).
func TestRecordAccountEventWakesTheDeliverer(t *testing.T) {
	f := newFixture(t, 10)
	w := f.watch()
	all := f.createEndpoint(wagate.AccountEventTypes...)
	bySource := f.newEndpoint(wagate.AccountEventTypes...)
	bySource.Filter.Source = wagate.SourceAPI // account events are wagate's own changes
	mustNoErr(t, f.db.CreateEndpoint(f.ctx, bySource))
	w.take()
	_, err := f.db.RecordAccountEvent(f.ctx, f.ref(), wagate.EventAccountDisconnect, f.clock.Now(), nil)
	mustNoErr(t, err)
	if got := w.take(); !slices.Equal(got, []wagate.EndpointRef{epRef(all)}) {
		t.Errorf("wake-ups %v, want only %s", got, all.ID)
	}
}

// DeleteAccount's failed messages carry the source of the deletion, so an
// endpoint filtered on "api" gets them and one filtered on "console" does not.
func TestDeleteAccountEventsCarryTheSource(t *testing.T) {
	f := newFixture(t, 10)
	api := f.newEndpoint(wagate.EventMessageFailed)
	api.Filter.Source = wagate.SourceAPI
	mustNoErr(t, f.db.CreateEndpoint(f.ctx, api))
	console := f.newEndpoint(wagate.EventMessageFailed)
	console.Filter.Source = wagate.SourceConsole
	mustNoErr(t, f.db.CreateEndpoint(f.ctx, console))
	f.send("queued")
	mustNoErr(t, f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceAPI, f.clock.Now()))
	evs := f.outboxEvents(api)
	if len(evs) != 1 || evs[0].Type != wagate.EventMessageFailed || evs[0].Source != wagate.SourceAPI {
		t.Errorf("api endpoint got %v, want one message.failed from the api", eventTypes(evs))
	}
	if got := f.outboxEvents(console); len(got) != 0 {
		t.Errorf("console endpoint got %v", eventTypes(got))
	}
}
