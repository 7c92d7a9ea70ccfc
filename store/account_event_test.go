package store

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

// RecordAccountEvent writes the account event in the commit of the
// account's change, to the endpoints subscribed to it whose account filter
// matches, and carries the account as the change left it.
func TestRecordAccountEventWritesItWithTheChange(t *testing.T) {
	f := newFixture(t, 10)
	f.createAccount(f.ws.ID, testPhone2, true)
	w := f.watch()
	all := f.createEndpoint(wagate.AccountEventTypes...)
	byPhone := f.newEndpoint(wagate.EventAccountLoggedOut)
	byPhone.Filter.AccountPhone = testPhone2
	mustNoErr(t, f.db.CreateEndpoint(f.ctx, byPhone))
	bySource := f.newEndpoint(wagate.AccountEventTypes...)
	bySource.Filter.Source = wagate.SourceAPI // account events are wagate's own changes
	mustNoErr(t, f.db.CreateEndpoint(f.ctx, bySource))
	w.take()

	a, err := f.db.RecordAccountEvent(f.ctx, f.ref(), wagate.EventAccountDisconnect, f.clock.Now(), func(a *wagate.Account) error {
		a.Active = false
		return nil
	})
	mustNoErr(t, err)
	if a.Active {
		t.Errorf("returned account %+v: the edit was not applied", a)
	}
	stored, err := f.db.Account(f.ctx, f.ref())
	mustNoErr(t, err)
	if stored.Active {
		t.Error("the edit was not stored")
	}
	_, err = f.db.RecordAccountEvent(f.ctx, wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: testPhone2}, wagate.EventAccountLoggedOut, f.clock.Now(), nil)
	mustNoErr(t, err)

	evs := f.outboxEvents(all)
	if got := eventTypes(evs); !slices.Equal(got, []string{wagate.EventAccountDisconnect, wagate.EventAccountLoggedOut}) {
		t.Fatalf("events %v, want disconnected then logged_out", got)
	}
	first := evs[0]
	if first.Account == nil || first.Account.Phone != testPhone || first.Account.Active || first.AccountPhone != testPhone ||
		first.Source != wagate.SourceSystem || !first.At.Equal(f.clock.Now()) || !strings.HasPrefix(first.ID, "evt_") {
		t.Errorf("event %+v (account %+v): want the account as the change left it, from the system, at the change's time", first, first.Account)
	}
	if got := eventTypes(f.outboxEvents(byPhone)); !slices.Equal(got, []string{wagate.EventAccountLoggedOut}) {
		t.Errorf("endpoint filtered on %s got %v", testPhone2, got)
	}
	if got := f.outboxEvents(bySource); len(got) != 0 {
		t.Errorf("endpoint filtered on source api got %v", eventTypes(got))
	}
	if got := w.take(); !slices.Contains(got, epRef(all)) || slices.Contains(got, epRef(bySource)) {
		t.Errorf("wake-ups %v", got)
	}
}

// A bad type, an unknown account and an edit's error write nothing.
func TestRecordAccountEventRefusals(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventTypes...)
	_, err := f.db.RecordAccountEvent(f.ctx, f.ref(), wagate.EventMessageSent, f.clock.Now(), nil)
	wantCode(t, err, wagate.EINVALID)
	if !strings.Contains(err.Error(), wagate.EventAccountConnected) {
		t.Errorf("error %q does not list the account event types", err)
	}
	_, err = f.db.RecordAccountEvent(f.ctx, wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: "+19998887777"}, wagate.EventAccountConnected, f.clock.Now(), nil)
	wantCode(t, err, wagate.ENOTFOUND)
	boom := errors.New("boom")
	_, err = f.db.RecordAccountEvent(f.ctx, f.ref(), wagate.EventAccountConnected, f.clock.Now(), func(a *wagate.Account) error {
		a.Active = false
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("edit's error came back as %v", err)
	}
	if got := f.outboxEvents(e); len(got) != 0 {
		t.Errorf("refused calls wrote %v", eventTypes(got))
	}
	if a, _ := f.db.Account(f.ctx, f.ref()); !a.Active {
		t.Error("a failed edit was stored")
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

// A whatsapp account entering connected, disconnected or logged_out writes
// its account event with the state; the same state reported again, or a
// state without an event, writes none.
func TestSetAccountLinkWritesAccountEvents(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.AccountEventTypes...)
	at := f.clock.Now()
	for _, l := range []wagate.AccountLink{
		{State: "linking", Since: at},
		{State: "connected", Since: at},
		{State: "connected", Since: at.Add(1)}, // a new since, the same state
		{State: "disconnected", Since: at, Error: "network"},
		{State: "connected", Since: at},
		{State: "logged_out", Since: at},
	} {
		mustNoErr(t, f.db.SetAccountLink(f.ctx, f.ref(), l))
	}
	evs := f.outboxEvents(e)
	want := []string{wagate.EventAccountConnected, wagate.EventAccountDisconnect, wagate.EventAccountConnected, wagate.EventAccountLoggedOut}
	if got := eventTypes(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if evs[1].Account == nil || evs[1].Account.Link.State != "disconnected" || evs[1].Account.Link.Error != "network" {
		t.Errorf("disconnected event carries %+v: want the account with its new link state", evs[1].Account)
	}
}
