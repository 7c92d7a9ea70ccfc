package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

// AccountEventStore is what RunAccountEvents needs: the outbox and the
// account.* events written with an account's change (RecordAccountEvent)
// or with its link state (SetAccountLink).
type AccountEventStore interface {
	OutboxStore
	wagate.AccountEventService
	wagate.AccountLinkService
}

// RunAccountEvents runs the behaviours of the account.* events: the event
// and the account's change in one commit, its fan-out, what is refused,
// and the events of link states.
func RunAccountEvents[S AccountEventStore](t *testing.T, h Harness[S]) {
	run(t, h, "account events", accountEventBehaviours[S]())
}

func accountEventBehaviours[S AccountEventStore]() []behaviour[S] {
	return []behaviour[S]{
		{"an account event is written with the account's change and carries the account as it left it", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			w.account(w.ws.ID, phone2, true)
			all := createEndpoint(f, w.ws.ID, wagate.AccountEventTypes...)
			byPhone := newEndpoint(w.ws.ID, wagate.EventAccountLoggedOut)
			byPhone.Filter.AccountPhone = phone2
			must(t, f.s.CreateEndpoint(f.ctx, byPhone), "CreateEndpoint (phone filter)")
			bySource := newEndpoint(w.ws.ID, wagate.AccountEventTypes...)
			bySource.Filter.Source = wagate.SourceAPI // account events are wagate's own changes
			must(t, f.s.CreateEndpoint(f.ctx, bySource), "CreateEndpoint (source filter)")

			a, err := f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventAccountDisconnect, f.clock.Now(), func(a *wagate.Account) error {
				a.Active = false
				return nil
			})
			must(t, err, "RecordAccountEvent")
			if a.Active || a.Phone != phone1 {
				t.Errorf("returned account %+v: want %s with the edit applied", a, phone1)
			}
			stored, err := f.s.FindAccount(f.ctx, w.ref())
			must(t, err, "FindAccount")
			if stored.Active {
				t.Error("the edit was not stored")
			}
			_, err = f.s.RecordAccountEvent(f.ctx, wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2}, wagate.EventAccountLoggedOut, f.clock.Now(), nil)
			must(t, err, "RecordAccountEvent without an edit")

			evs := events(f, all)
			equalTypes(t, evs, wagate.EventAccountDisconnect, wagate.EventAccountLoggedOut)
			if len(evs) != 2 {
				return
			}
			first := evs[0]
			if first.Account == nil || first.Account.Phone != phone1 || first.Account.Active || first.Account.Transport != wagate.TransportDryrun ||
				first.AccountPhone != phone1 || first.Source != wagate.SourceSystem || !strings.HasPrefix(first.ID, "evt_") || first.Message != nil {
				t.Errorf("event %+v (account %+v): want the account as the change left it, from the system", first, first.Account)
			}
			sameTime(t, first.At, f.clock.Now(), "the event's At")
			if got := eventTypes(events(f, byPhone)); !slices.Equal(got, []string{wagate.EventAccountLoggedOut}) {
				t.Errorf("endpoint filtered on %s got %v", phone2, got)
			}
			if got := events(f, bySource); len(got) != 0 {
				t.Errorf("endpoint filtered on source api got %v", eventTypes(got))
			}
		}},
		{"entering connected, disconnected or logged_out writes its account event with the state, once per entry", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.AccountEventTypes...)
			at := f.clock.Now()
			for _, l := range []wagate.AccountLink{
				{State: "linking", Since: at},
				{State: "connected", Since: at},
				{State: "connected", Since: at.Add(1)}, // a new since, the same state
				{State: "disconnected", Since: at, Error: "network"},
				{State: "connected", Since: at},
				{State: "logged_out", Since: at},
			} {
				must(t, f.s.SetAccountLink(f.ctx, w.ref(), l), "SetAccountLink "+l.State)
			}
			evs := events(f, e)
			equalTypes(t, evs, wagate.EventAccountConnected, wagate.EventAccountDisconnect, wagate.EventAccountConnected, wagate.EventAccountLoggedOut)
			if len(evs) == 4 && (evs[1].Account == nil || evs[1].Account.Link.State != "disconnected" || evs[1].Account.Link.Error != "network" ||
				evs[1].AccountPhone != phone1 || evs[1].Source != wagate.SourceSystem) {
				t.Errorf("disconnected event %+v carries %+v: want the account with its new link state, from the system", evs[1], evs[1].Account)
			}
		}},
		{"a bad type, an unknown account, an edit's error and a failed commit write nothing", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventTypes...)
			_, err := f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventMessageSent, f.clock.Now(), nil)
			wantCode(t, err, wagate.EINVALID, "RecordAccountEvent of a message event")
			if !strings.Contains(err.Error(), wagate.EventAccountConnected) {
				t.Errorf("error %q does not list the account event types", err)
			}
			_, err = f.s.RecordAccountEvent(f.ctx, wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: "+19998887777"}, wagate.EventAccountConnected, f.clock.Now(), nil)
			wantCode(t, err, wagate.ENOTFOUND, "RecordAccountEvent of an unknown account")
			boom := errors.New("boom")
			_, err = f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventAccountConnected, f.clock.Now(), func(a *wagate.Account) error {
				a.Active = false
				return boom
			})
			if !errors.Is(err, boom) {
				t.Errorf("edit's error came back as %v", err)
			}
			f.failing(func() {
				_, err := f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventAccountDisconnect, f.clock.Now(), func(a *wagate.Account) error {
					a.Active = false
					return nil
				})
				unavailable(t, err, "RecordAccountEvent")
			})
			if got := events(f, e); len(got) != 0 {
				t.Errorf("refused calls wrote %v", eventTypes(got))
			}
			if a, err := f.s.FindAccount(f.ctx, w.ref()); err != nil || !a.Active {
				t.Errorf("a refused edit was stored (%v)", err)
			}
		}},
	}
}
