package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// LinkStore is what RunLinks needs: the link state and the account events
// of whatsapp accounts (SPEC §10), and the list of every account the
// sender starts sessions from.
type LinkStore interface {
	AccountStore
	wagate.AccountLinkService
	wagate.AccountEventService
	sender.AccountLister
}

// RelinkSweeper is the relink grace's sweep (serve --relink-grace): the
// queued messages of whatsapp accounts that needed linking for too long
// fail with a refund.
type RelinkSweeper interface {
	FailUnlinkedQueues(ctx context.Context, before time.Time) (int, error)
}

// RelinkStore is what RunRelink needs: messages of whatsapp accounts whose
// link state the sweep reads.
type RelinkStore interface {
	MessageStore
	wagate.AccountLinkService
	RelinkSweeper
}

// LinkQueueStore is what RunLinksWithQueue needs: a whole Store with the
// link state, the account events and the relink sweep.
type LinkQueueStore interface {
	Store
	wagate.AccountLinkService
	wagate.AccountEventService
	RelinkSweeper
}

// RunLinksWithQueue runs the behaviours of links that need the sender's
// queue: RecordAccountEvent's edit of the rules ends the holds as
// UpdateAccount's does, and the relink sweep empties the account's queue.
func RunLinksWithQueue[S LinkQueueStore](t *testing.T, h Harness[S]) {
	run(t, h, "links with the queue", linkQueueBehaviours[S]())
}

// RunLinks runs the behaviours of wagate.AccountLinkService,
// AccountEventService and sender.AccountLister that need no endpoints: the
// link state kept with the account and apart from its other fields, the
// edit and the refusals of RecordAccountEvent, and AllAccounts. Which
// events they write is the outbox's part.
func RunLinks[S LinkStore](t *testing.T, h Harness[S]) {
	run(t, h, "links", linkBehaviours[S]())
}

// RunRelink runs the behaviours of the relink grace's sweep.
func RunRelink[S RelinkStore](t *testing.T, h Harness[S]) {
	run(t, h, "relink", relinkBehaviours[S]())
}

func linkBehaviours[S LinkStore]() []behaviour[S] {
	return []behaviour[S]{
		{"a link state is kept with the account, apart from its rules, across a reopen", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 10)
			if a, _ := f.s.FindAccount(f.ctx, w.ref()); a.Link != (wagate.AccountLink{}) {
				t.Errorf("a new account has link %+v, want none", a.Link)
			}
			rules := wagate.SendRules{DailyLimit: 50}
			_, err := f.s.UpdateAccount(f.ctx, w.ref(), func(a *wagate.Account) error { a.Rules = rules; return nil })
			must(t, err, "UpdateAccount")
			since := f.clock.Now().Add(123 * time.Nanosecond) // the transport's own time, to the nanosecond
			l := wagate.AccountLink{State: "banned", Since: since, Error: "WhatsApp banned the account for a while", Until: since.Add(time.Hour)}
			must(t, f.s.SetAccountLink(f.ctx, w.ref(), l), "SetAccountLink")
			f.reopen()
			a, err := f.s.FindAccount(f.ctx, w.ref())
			must(t, err, "FindAccount")
			wantLink(t, a.Link, l, "FindAccount after a reopen")
			if a.Rules != rules || !a.Active || a.Transport != wagate.TransportDryrun || a.Settings["phone_number_id"] == "" {
				t.Errorf("account %+v: the link changed other fields", a)
			}
			list, err := f.s.ListAccounts(f.ctx, w.ws.ID)
			must(t, err, "ListAccounts")
			wantLink(t, list[0].Link, l, "ListAccounts")
			a, err = f.s.UpdateAccount(f.ctx, w.ref(), func(a *wagate.Account) error {
				a.Rules = wagate.SendRules{}
				a.Link = wagate.AccountLink{State: "connected"} // not UpdateAccount's to change
				return nil
			})
			must(t, err, "UpdateAccount")
			wantLink(t, a.Link, l, "UpdateAccount's result")
			if a, _ = f.s.FindAccount(f.ctx, w.ref()); a.Rules != (wagate.SendRules{}) {
				t.Errorf("rules %+v after the edit, want none", a.Rules)
			}
			wantLink(t, a.Link, l, "FindAccount after UpdateAccount")
			err = f.s.SetAccountLink(f.ctx, wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2}, l)
			wantCode(t, err, wagate.ENOTFOUND, "SetAccountLink of an unknown account")
		}},
		{"a deleted account's link goes with it", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 10)
			must(t, f.s.SetAccountLink(f.ctx, w.ref(), wagate.AccountLink{State: wagate.LinkLoggedOut, Since: f.clock.Now()}), "SetAccountLink")
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceAPI, f.clock.Now()), "DeleteAccount")
			w.account(w.ws.ID, phone1, true)
			if a, _ := f.s.FindAccount(f.ctx, w.ref()); a.Link != (wagate.AccountLink{}) {
				t.Errorf("the account connected again has link %+v, want none", a.Link)
			}
		}},
		{"a link write that fails at commit leaves the link as it was", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 10)
			l := wagate.AccountLink{State: "connected", Since: f.clock.Now()}
			must(t, f.s.SetAccountLink(f.ctx, w.ref(), l), "SetAccountLink")
			f.failing(func() {
				unavailable(t, f.s.SetAccountLink(f.ctx, w.ref(), wagate.AccountLink{State: "disconnected", Since: f.clock.Now()}), "SetAccountLink")
			})
			a, err := f.s.FindAccount(f.ctx, w.ref())
			must(t, err, "FindAccount")
			wantLink(t, a.Link, l, "FindAccount after a failed write")
		}},
		{"AllAccounts lists every account of every workspace with its link, paused ones too, not deleted ones", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 10)
			second := newWorkspace(t, f.ctx, f.s, 10)
			w.account(second.ID, phone2, false)
			w.account(second.ID, phone1, true)
			w.account(w.ws.ID, phone2, true)
			l := wagate.AccountLink{State: wagate.LinkUnlinked, Since: f.clock.Now()}
			must(t, f.s.SetAccountLink(f.ctx, wagate.AccountRef{WorkspaceID: second.ID, Phone: phone2}, l), "SetAccountLink")
			must(t, f.s.DeleteAccount(f.ctx, wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2}, wagate.SourceSystem, f.clock.Now()), "DeleteAccount")
			list, err := f.s.AllAccounts(f.ctx)
			must(t, err, "AllAccounts")
			var got []string
			for _, a := range list {
				got = append(got, a.WorkspaceID+" "+a.Phone)
				if a.WorkspaceID == second.ID && a.Phone == phone2 {
					if a.Active {
						t.Errorf("the paused account is listed active")
					}
					wantLink(t, a.Link, l, "AllAccounts")
				}
			}
			want := []string{w.ws.ID + " " + phone1, second.ID + " " + phone1, second.ID + " " + phone2}
			slices.Sort(want) // by workspace, then phone
			equalIDs(t, got, want...)
		}},
		{"RecordAccountEvent applies the edit in its commit and returns the account as it left it", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 10)
			rules := wagate.SendRules{DailyLimit: 7}
			a, err := f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventAccountDisconnect, f.clock.Now(), func(a *wagate.Account) error {
				a.Active, a.Rules = false, rules
				a.Transport, a.Settings = "other", map[string]string{"phone_number_id": "changed"} // not the edit's to change
				return nil
			})
			must(t, err, "RecordAccountEvent")
			if a.Active || a.Rules != rules || a.Phone != phone1 {
				t.Errorf("returned %+v, want the account inactive with the new rules", a)
			}
			stored, err := f.s.FindAccount(f.ctx, w.ref())
			must(t, err, "FindAccount")
			if stored.Active || stored.Rules != rules || stored.Transport != wagate.TransportDryrun || stored.Settings["phone_number_id"] != "pn-14155552671" {
				t.Errorf("stored %+v, want Active and Rules changed and nothing else", stored)
			}
			a, err = f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventAccountConnected, time.Time{}, nil)
			must(t, err, "RecordAccountEvent without an edit")
			if a.Phone != phone1 || a.Active || a.Rules != rules {
				t.Errorf("returned %+v, want the stored account", a)
			}
		}},
		{"RecordAccountEvent refuses a bad type, an unknown account and an edit's error, changing nothing", func(t *testing.T, f *fixture[S]) {
			w := newAccountWorld(f, 10)
			_, err := f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventMessageSent, f.clock.Now(), nil)
			wantCode(t, err, wagate.EINVALID, "RecordAccountEvent of a message event")
			for _, typ := range wagate.AccountEventTypes {
				if !strings.Contains(wagate.ErrorMessage(err), typ) {
					t.Errorf("error %q does not list the account event type %s", wagate.ErrorMessage(err), typ)
				}
			}
			_, err = f.s.RecordAccountEvent(f.ctx, wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2}, wagate.EventAccountConnected, f.clock.Now(), nil)
			wantCode(t, err, wagate.ENOTFOUND, "RecordAccountEvent of an unknown account")
			_, err = f.s.RecordAccountEvent(f.ctx, wagate.AccountRef{WorkspaceID: "ws_0000000000000000", Phone: phone1}, wagate.EventAccountConnected, f.clock.Now(),
				func(*wagate.Account) error { return nil })
			wantCode(t, err, wagate.ENOTFOUND, "RecordAccountEvent with an edit in an unknown workspace")
			boom := errors.New("boom")
			_, err = f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventAccountConnected, f.clock.Now(), func(a *wagate.Account) error {
				a.Active = false
				return boom
			})
			if !errors.Is(err, boom) {
				t.Errorf("RecordAccountEvent returned %v, want the edit's own error", err)
			}
			if a, _ := f.s.FindAccount(f.ctx, w.ref()); !a.Active {
				t.Error("a failed edit was stored")
			}
			f.failing(func() {
				_, err := f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventAccountConnected, f.clock.Now(), func(a *wagate.Account) error {
					a.Active = false
					return nil
				})
				unavailable(t, err, "RecordAccountEvent")
			})
			if a, _ := f.s.FindAccount(f.ctx, w.ref()); !a.Active {
				t.Error("an edit whose write failed was stored")
			}
		}},
	}
}

// wantLink fails t unless got is want, times compared as instants.
func wantLink(t *testing.T, got, want wagate.AccountLink, what string) {
	t.Helper()
	if got.State != want.State || got.Error != want.Error || !got.Since.Equal(want.Since) || !got.Until.Equal(want.Until) {
		t.Errorf("%s: link %+v, want %+v", what, got, want)
	}
}

// errorRelinkGrace is the error of the messages the relink sweep fails.
const errorRelinkGrace = "the whatsapp account was not linked again within the relink grace; link it and send again"

// relinkGrace is the grace of the behaviours (serve's default).
const relinkGrace = 24 * time.Hour

func relinkBehaviours[S RelinkStore]() []behaviour[S] {
	// whatsapp adds a whatsapp account, phone2, to the world and returns it.
	whatsapp := func(w *messageWorld[S]) wagate.AccountRef {
		w.t.Helper()
		a := &wagate.Account{WorkspaceID: w.ws.ID, Phone: phone2, Transport: wagate.TransportWhatsApp, Active: true, ConnectedAt: w.clock.Now()}
		must(w.t, w.s.CreateAccount(w.ctx, a), "CreateAccount (whatsapp)")
		return a.Ref()
	}
	from := func(phone string) func(*wagate.Accept) {
		return func(a *wagate.Accept) { a.Message.AccountPhone = phone }
	}
	sweep := func(f *fixture[S], want int, what string) {
		f.t.Helper()
		n, err := f.s.FailUnlinkedQueues(f.ctx, f.clock.Now().Add(-relinkGrace))
		must(f.t, err, "FailUnlinkedQueues "+what)
		if n != want {
			f.t.Fatalf("FailUnlinkedQueues %s failed %d messages, want %d", what, n, want)
		}
	}
	return []behaviour[S]{
		{"the queue of a whatsapp account logged out past the grace fails with a refund; before it, or disconnected, it waits", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			wa := whatsapp(w)
			dry := w.queued(jidA, 1)
			a, b := w.queued(jidA, 1, from(phone2)), w.queued(jidB, 1, from(phone2))
			must(t, f.s.SetAccountLink(f.ctx, wa, wagate.AccountLink{State: "disconnected", Since: f.clock.Now()}), "SetAccountLink")
			f.clock.Advance(relinkGrace + time.Hour)
			sweep(f, 0, "while disconnected")
			must(t, f.s.SetAccountLink(f.ctx, wa, wagate.AccountLink{State: wagate.LinkLoggedOut, Since: f.clock.Now()}), "SetAccountLink")
			f.clock.Advance(relinkGrace - time.Second)
			sweep(f, 0, "within the grace")
			f.clock.Advance(2 * time.Second)
			sweep(f, 2, "after the grace")
			for _, id := range []string{a.ID, b.ID} {
				m := w.message(id)
				if m.Status != wagate.StatusFailed || m.Error != errorRelinkGrace {
					t.Errorf("message %s: %s %q, want failed with the relink grace's error", id, m.Status, m.Error)
				}
				if n := len(m.Tries); n == 0 || m.Tries[n-1].Result != wagate.TryResultFailed || m.Tries[n-1].Class != wagate.TryClassPermanent || !m.Tries[n-1].At.Equal(f.clock.Now()) {
					t.Errorf("message %s: tries %+v, want a permanent failed try now", id, m.Tries)
				}
			}
			if m := w.message(dry.ID); m.Status != wagate.StatusQueued {
				t.Errorf("the dryrun account's message is %s, want queued", m.Status)
			}
			if got := w.balance(); got != 9 {
				t.Errorf("balance %d, want 9 (both refunded)", got)
			}
			sweep(f, 0, "again")
		}},
		{"an account unlinked since it was created, or linked again, keeps its queue; one never linked is not swept", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			wa := whatsapp(w)
			m := w.queued(jidA, 1, from(phone2))
			f.clock.Advance(2 * relinkGrace)
			sweep(f, 0, "without a link state")
			must(t, f.s.SetAccountLink(f.ctx, wa, wagate.AccountLink{State: wagate.LinkUnlinked, Since: f.clock.Now()}), "SetAccountLink")
			f.clock.Advance(relinkGrace / 2)
			must(t, f.s.SetAccountLink(f.ctx, wa, wagate.AccountLink{State: "connected", Since: f.clock.Now()}), "SetAccountLink")
			f.clock.Advance(2 * relinkGrace)
			sweep(f, 0, "once linked again")
			if got := w.message(m.ID); got.Status != wagate.StatusQueued {
				t.Errorf("message %s, want queued", got.Status)
			}
		}},
		{"a scheduled message that came due fails with the queue; one scheduled later waits", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			wa := whatsapp(w)
			at := func(d time.Duration) func(*wagate.Accept) {
				return func(a *wagate.Accept) { a.Message.SendAt = f.clock.Now().Add(d) }
			}
			due := w.queued(jidA, 1, from(phone2), at(time.Hour))
			later := w.queued(jidB, 1, from(phone2), at(20*relinkGrace))
			must(t, f.s.SetAccountLink(f.ctx, wa, wagate.AccountLink{State: wagate.LinkLoggedOut, Since: f.clock.Now()}), "SetAccountLink")
			f.clock.Advance(relinkGrace + time.Minute)
			sweep(f, 1, "after the grace")
			if m := w.message(due.ID); m.Status != wagate.StatusFailed || m.Error != errorRelinkGrace {
				t.Errorf("due scheduled message: %s %q, want failed with the relink grace's error", m.Status, m.Error)
			}
			if m := w.message(later.ID); m.Status != wagate.StatusQueued || m.SendAt.IsZero() {
				t.Errorf("later scheduled message: %s at %v, want still scheduled", m.Status, m.SendAt)
			}
			if got := w.balance(); got != 9 {
				t.Errorf("balance %d, want 9 (the failed one refunded)", got)
			}
		}},
	}
}

func linkQueueBehaviours[S LinkQueueStore]() []behaviour[S] {
	return []behaviour[S]{
		{"RecordAccountEvent's edit of the rules releases the holds, as UpdateAccount's does", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 10)
			now := f.clock.Now()
			held := w.queued(jidA, 1)
			w.hold(held.ID, wagate.WaitingQuietHours, now.Add(8*time.Hour))
			_, err := f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventAccountConnected, now, func(a *wagate.Account) error { a.Active = true; return nil })
			must(t, err, "RecordAccountEvent without a rule change")
			if m := w.message(held.ID); m.WaitingReason != wagate.WaitingQuietHours {
				t.Errorf("hold after an edit without a rule change: %q, want it kept", m.WaitingReason)
			}
			_, err = f.s.RecordAccountEvent(f.ctx, w.ref(), wagate.EventAccountConnected, now, func(a *wagate.Account) error { a.Rules.DailyLimit = 50; return nil })
			must(t, err, "RecordAccountEvent with a rule change")
			if m := w.message(held.ID); m.WaitingReason != "" || !m.NextTryAt.IsZero() {
				t.Errorf("held message after the rules changed: reason %q, next_try_at %v; want free", m.WaitingReason, m.NextTryAt)
			}
			ids, _ := w.next(5)
			equalIDs(t, ids, held.ID)
		}},
		{"the relink sweep leaves nothing in the account's queue", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 10)
			wa := &wagate.Account{WorkspaceID: w.ws.ID, Phone: phone2, Transport: wagate.TransportWhatsApp, Active: true, ConnectedAt: f.clock.Now()}
			must(t, f.s.CreateAccount(f.ctx, wa), "CreateAccount (whatsapp)")
			from := func(a *wagate.Accept) { a.Message.AccountPhone = phone2 }
			w.queued(jidA, 1, from)
			w.queued(jidB, 1, from)
			must(t, f.s.SetAccountLink(f.ctx, wa.Ref(), wagate.AccountLink{State: wagate.LinkLoggedOut, Since: f.clock.Now()}), "SetAccountLink")
			f.clock.Advance(relinkGrace + time.Minute)
			n, err := f.s.FailUnlinkedQueues(f.ctx, f.clock.Now().Add(-relinkGrace))
			if err != nil || n != 2 {
				t.Fatalf("FailUnlinkedQueues = %d, %v; want 2", n, err)
			}
			msgs, _, err := f.s.Next(f.ctx, wa.Ref(), f.clock.Now(), 5)
			must(t, err, "Next")
			if len(msgs) != 0 {
				t.Errorf("Next after the sweep = %v, want nothing", msgIDs(msgs))
			}
			if got := w.balance(); got != 10 {
				t.Errorf("balance %d, want 10 (both refunded)", got)
			}
		}},
	}
}
