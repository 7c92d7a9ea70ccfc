package storetest

import (
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// OutboxStore is what RunOutbox needs: the events of accepts, cancels,
// deleted accounts and the attempt log, fanned out to endpoints and
// drained through the DeliveryQueue.
type OutboxStore interface {
	MessageStore
	wagate.EndpointService
	wagate.DeliveryQueue
}

// OutboxQueueStore is what RunOutboxQueue needs: a whole Store with the
// outbox, for the events of the send queue and of delivery reports.
type OutboxQueueStore interface {
	Store
	wagate.EndpointService
	wagate.DeliveryQueue
}

// RunOutbox runs the behaviours of the events outbox (SPEC §9) that need
// no send queue: which change writes which event (message.queued,
// message.cancelled, message.failed of a deleted account, webhook.attempt,
// credits.low), what an event says, the fan-out by subscriptions and
// filters, an event existing if and only if its change committed, and the
// DeliveryQueue (order, attempts, retries, FailingSince, disabled
// endpoints, trimming, restarts). RunOutboxQueue adds the events of the
// send queue and of delivery reports.
func RunOutbox[S OutboxStore](t *testing.T, h Harness[S]) {
	run(t, h, "outbox", outboxBehaviours[S]())
	run(t, h, "delivery queue", deliveryQueueBehaviours[S]())
}

// RunOutboxQueue runs the behaviours of the events written by the send
// queue (MarkSent, MarkFailed, RecoverSending, Retry of a deleted
// account's message) and by delivery reports (ApplyDelivery).
func RunOutboxQueue[S OutboxQueueStore](t *testing.T, h Harness[S]) {
	run(t, h, "outbox with the queue", outboxQueueBehaviours[S]())
}

// farFuture is an instant every delivery of a behaviour is due by.
var farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// pendingOf returns the endpoint's pending deliveries, due by farFuture,
// in due order: with the clock held still, the order the events were
// written in.
func pendingOf[S OutboxStore](f *fixture[S], e *wagate.Endpoint) []*wagate.PendingDelivery {
	f.t.Helper()
	ds, _, err := f.s.NextDeliveries(f.ctx, epRef(e), farFuture, 100_000)
	must(f.t, err, "NextDeliveries")
	return ds
}

// events returns the events of the endpoint's pending deliveries, in
// order.
func events[S OutboxStore](f *fixture[S], e *wagate.Endpoint) []*wagate.Event {
	f.t.Helper()
	var evs []*wagate.Event
	for _, d := range pendingOf(f, e) {
		evs = append(evs, d.Event)
	}
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

func equalTypes(t *testing.T, got []*wagate.Event, want ...string) {
	t.Helper()
	if g := eventTypes(got); !slices.Equal(g, want) {
		t.Errorf("events %v, want %v", g, want)
	}
}

// nextDue returns the endpoint's deliveries due at the clock's time.
func nextDue[S OutboxStore](f *fixture[S], e *wagate.Endpoint, n int) ([]*wagate.PendingDelivery, time.Time) {
	f.t.Helper()
	ds, due, err := f.s.NextDeliveries(f.ctx, epRef(e), f.clock.Now(), n)
	must(f.t, err, "NextDeliveries")
	return ds, due
}

// finishAttempt records an attempt of d at the clock's time that ended
// with status (pending: tried again after wait).
func finishAttempt[S OutboxStore](f *fixture[S], d *wagate.EndpointDelivery, status string, wait time.Duration, disable string) *wagate.EndpointDelivery {
	f.t.Helper()
	out := *d
	out.Status, out.At, out.NextTryAt = status, f.clock.Now(), time.Time{}
	out.Request = wagate.DeliveryRequest{Method: "POST", URL: "https://crm.example/hooks/wa", Body: "phone=%2B14155550100"}
	out.Response = wagate.DeliveryResponse{Status: 500, Body: "down"}
	out.Error, out.Duration = "", 30*time.Millisecond
	if status == wagate.DeliverySucceeded {
		out.Response = wagate.DeliveryResponse{Status: 204}
	}
	if status == wagate.DeliveryPending {
		out.NextTryAt = f.clock.Now().Add(wait)
	}
	must(f.t, f.s.FinishAttempt(f.ctx, &out, disable), "FinishAttempt")
	return &out
}

func deliveryTexts(ds []*wagate.PendingDelivery) []string {
	var texts []string
	for _, d := range ds {
		texts = append(texts, d.Event.Message.Text)
	}
	return texts
}

// withText sets the text of the message a request sends.
func withText(text string) func(*wagate.Accept) {
	return func(a *wagate.Accept) { a.Message.Text = text }
}

func outboxBehaviours[S OutboxStore]() []behaviour[S] {
	queued, attempt := wagate.EventMessageQueued, wagate.EventWebhookAttempt
	type act struct {
		name string
		do   func(t *testing.T, w *messageWorld[S])
		want []string
	}
	acts := []act{
		{"an accept writes message.queued and webhook.attempt", func(t *testing.T, w *messageWorld[S]) { w.queued(jidA, 1) }, []string{queued, attempt}},
		{"a cancel writes message.cancelled", func(t *testing.T, w *messageWorld[S]) {
			m := w.queued(jidA, 1)
			_, err := cancelMessage(w.fixture, w.ws.ID, m.ID, time.Time{})
			must(t, err, "CancelMessage")
		}, []string{queued, attempt, wagate.EventMessageCancelled}},
		{"deleting an account writes message.failed per queued message", func(t *testing.T, w *messageWorld[S]) {
			w.queued(jidA, 1)
			w.queued(jidB, 1)
			must(t, w.s.DeleteAccount(w.ctx, w.ref(), wagate.SourceAPI, time.Time{}), "DeleteAccount")
		}, []string{queued, attempt, queued, attempt, wagate.EventMessageFailed, wagate.EventMessageFailed}},
		{"a recorded attempt writes webhook.attempt", func(t *testing.T, w *messageWorld[S]) {
			must(t, w.s.RecordAttempt(w.ctx, w.ws.ID, &wagate.Attempt{At: w.clock.Now(), Code: wagate.EINVALID, Message: "bad JSON"}), "RecordAttempt")
		}, []string{attempt}},
		{"a refused accept writes only webhook.attempt", func(t *testing.T, w *messageWorld[S]) {
			_, _, err := w.send(jidA, 99)
			wantCode(t, err, wagate.ECREDITS, "Accept beyond the balance")
		}, []string{attempt}},
		{"a replay writes webhook.attempt", func(t *testing.T, w *messageWorld[S]) {
			w.queued(jidA, 1, withKey("k"), withBody("b"))
			_, err := w.s.Replay(w.ctx, w.ws.ID, "k", sha256.Sum256([]byte("b")), &wagate.Attempt{At: w.clock.Now()})
			must(t, err, "Replay")
			_, _, err = w.send(jidA, 1, withKey("k"), withBody("b"))
			must(t, err, "Accept (a replay)")
		}, []string{queued, attempt, attempt, attempt}},
	}
	var bs []behaviour[S]
	for _, a := range acts {
		bs = append(bs, behaviour[S]{a.name, func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventTypes...)
			a.do(t, w)
			equalTypes(t, events(f, e), a.want...)
		}})
	}
	return append(bs, []behaviour[S]{
		{"an event says what changed, who changed it, when and what it cost", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventTypes...)
			accepted := f.clock.Now()
			m := w.queued(jidA, 2, withText("hello"), func(a *wagate.Accept) { a.Source = wagate.SourceInbound })
			f.clock.Advance(time.Minute)
			cancelled := f.clock.Now()
			_, err := f.s.CancelMessage(f.ctx, w.ws.ID, m.ID, wagate.SourceConsole, cancelled)
			must(t, err, "CancelMessage")
			evs := events(f, e)
			if len(evs) != 3 {
				t.Fatalf("events %v, want 3", eventTypes(evs))
			}
			q, att, c := evs[0], evs[1], evs[2]
			if q.Type != wagate.EventMessageQueued || q.Source != wagate.SourceInbound || q.AccountPhone != phone1 || q.WorkspaceID != w.ws.ID ||
				q.Message == nil || q.Message.ID != m.ID || q.Message.Status != wagate.StatusQueued || q.Message.Text != "hello" ||
				q.Message.Credits != 2 || q.Message.JID != jidA || q.Message.ChatID != m.ChatID || q.Credits != 0 {
				t.Errorf("queued event = %+v (message %+v)", q, q.Message)
			}
			sameTime(t, q.At, accepted, "message.queued At")
			if att.Attempt == nil || att.Attempt.MessageID != m.ID || att.Attempt.Credits != 2 || att.AccountPhone != phone1 ||
				att.Source != wagate.SourceInbound || att.Attempt.RequestID != "req-"+m.ID || att.Message != nil {
				t.Errorf("attempt event = %+v (attempt %+v)", att, att.Attempt)
			}
			if c.Type != wagate.EventMessageCancelled || c.Source != wagate.SourceConsole || c.Credits != 2 ||
				c.Message.Status != wagate.StatusFailed || c.Message.Error != wagate.ErrorCancelled || c.Message.ID != m.ID {
				t.Errorf("cancelled event = %+v (message %+v)", c, c.Message)
			}
			sameTime(t, c.At, cancelled, "message.cancelled At")
			seen := map[string]bool{}
			for _, ev := range evs {
				if !strings.HasPrefix(ev.ID, "evt_") || len(ev.ID) != 4+26 || seen[ev.ID] {
					t.Errorf("event id %q: want a fresh evt_ and 26 characters", ev.ID)
				}
				seen[ev.ID] = true
			}
		}},
		{"a deleted account's failed messages carry the deleter and the refund", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageFailed)
			m := w.queued(jidA, 3)
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceConsole, time.Time{}), "DeleteAccount")
			evs := events(f, e)
			if len(evs) != 1 {
				t.Fatalf("events %v, want one message.failed", eventTypes(evs))
			}
			ev := evs[0]
			if ev.Source != wagate.SourceConsole || ev.Credits != 3 || ev.Message.ID != m.ID || ev.Message.Status != wagate.StatusFailed ||
				ev.Message.Error != errorAccountDeleted || ev.AccountPhone != phone1 {
				t.Errorf("failed event = %+v (message %+v)", ev, ev.Message)
			}
		}},
		{"one delivery per enabled endpoint subscribed whose filter matches, all with the same event", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			w.account(w.ws.ID, phone2, true)
			all := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			failedOnly := createEndpoint(f, w.ws.ID, wagate.EventMessageFailed)
			byPhone := newEndpoint(w.ws.ID, wagate.EventMessageQueued)
			byPhone.Filter.AccountPhone = phone2
			must(t, f.s.CreateEndpoint(f.ctx, byPhone), "CreateEndpoint (phone filter)")
			bySource := newEndpoint(w.ws.ID, wagate.EventMessageQueued, wagate.EventMessageCancelled, wagate.EventMessageFailed)
			bySource.Filter.Source = wagate.SourceConsole
			must(t, f.s.CreateEndpoint(f.ctx, bySource), "CreateEndpoint (source filter)")
			disabled := newEndpoint(w.ws.ID, wagate.EventMessageQueued)
			disabled.Enabled = false
			must(t, f.s.CreateEndpoint(f.ctx, disabled), "CreateEndpoint (disabled)")

			w.queued(jidA, 1) // phone1, source ""
			second := w.queued(jidA, 1, func(a *wagate.Accept) { a.Message.AccountPhone = phone2 })
			third := w.queued(jidB, 1, func(a *wagate.Accept) { a.Message.AccountPhone = phone2 })
			_, err := f.s.CancelMessage(f.ctx, w.ws.ID, third.ID, wagate.SourceConsole, time.Time{})
			must(t, err, "CancelMessage")
			must(t, f.s.DeleteAccount(f.ctx, wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2}, wagate.SourceSystem, time.Time{}), "DeleteAccount")

			q, c, fl := wagate.EventMessageQueued, wagate.EventMessageCancelled, wagate.EventMessageFailed
			for _, tc := range []struct {
				e    *wagate.Endpoint
				want []string
			}{
				{all, []string{q, q, q}},
				{failedOnly, []string{fl}},
				{byPhone, []string{q, q}},
				{bySource, []string{c}}, // changes from other sources, or from wagate itself, do not match "console"
			} {
				if got := eventTypes(events(f, tc.e)); !slices.Equal(got, tc.want) {
					t.Errorf("endpoint %s (filter %+v): %v, want %v", tc.e.ID, tc.e.Filter, got, tc.want)
				}
			}
			// The disabled endpoint got nothing: enabled now, it has nothing pending.
			_, err = f.s.UpdateEndpoint(f.ctx, epRef(disabled), func(e *wagate.Endpoint) error { e.Enabled = true; return nil })
			must(t, err, "UpdateEndpoint (enable)")
			if evs := events(f, disabled); len(evs) != 0 {
				t.Errorf("a disabled endpoint got %v", eventTypes(evs))
			}
			a, p := events(f, all)[1], events(f, byPhone)[0]
			if a.ID != p.ID || a.Message.ID != second.ID {
				t.Errorf("one change, two events: %s (message %s) and %s", a.ID, a.Message.ID, p.ID)
			}
		}},
		{"an endpoint of another workspace gets nothing", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			other := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, other.ID, wagate.EventTypes...)
			m := w.queued(jidA, 1)
			_, err := cancelMessage(f, w.ws.ID, m.ID, time.Time{})
			must(t, err, "CancelMessage")
			if evs := events(f, e); len(evs) != 0 {
				t.Errorf("another workspace's endpoint got %v", eventTypes(evs))
			}
			refs, err := f.s.PendingEndpoints(f.ctx)
			must(t, err, "PendingEndpoints")
			if len(refs) != 0 {
				t.Errorf("PendingEndpoints = %v with no event for any endpoint", refs)
			}
		}},
		{"credits.low is written when a charge crosses the threshold, once per crossing", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 7)
			e := createEndpoint(f, w.ws.ID, wagate.EventCreditsLow)
			ws, err := f.s.SetLowCredits(f.ctx, w.ws.ID, 5)
			must(t, err, "SetLowCredits")
			if ws.LowCredits != 5 {
				t.Fatalf("LowCredits = %d, want 5", ws.LowCredits)
			}
			for range 4 { // 7 -> 6, 5, 4 (crosses), 3
				w.queued(jidA, 1, func(a *wagate.Accept) { a.Source = wagate.SourceAPI })
			}
			evs := events(f, e)
			if len(evs) != 1 || evs[0].Credits != 4 || evs[0].Source != wagate.SourceAPI || evs[0].AccountPhone != phone1 || evs[0].WorkspaceID != w.ws.ID {
				t.Fatalf("credits.low events %+v, want one at balance 4, from the api, for %s", evs, phone1)
			}
			_, err = f.s.AddCredits(f.ctx, w.ws.ID, 10) // 13
			must(t, err, "AddCredits")
			for range 9 { // down to 4: crosses again
				w.queued(jidA, 1)
			}
			if n := len(events(f, e)); n != 2 {
				t.Errorf("%d credits.low events after the second crossing, want 2", n)
			}
			_, err = f.s.AddCredits(f.ctx, w.ws.ID, 10)
			must(t, err, "AddCredits")
			_, err = f.s.SetLowCredits(f.ctx, w.ws.ID, 0) // off
			must(t, err, "SetLowCredits 0")
			for range 12 {
				w.queued(jidA, 1)
			}
			if n := len(events(f, e)); n != 2 {
				t.Errorf("%d credits.low events with the threshold off, want 2", n)
			}
			_, err = f.s.SetLowCredits(f.ctx, w.ws.ID, -1)
			wantCode(t, err, wagate.EINVALID, "SetLowCredits -1")
		}},
		{"an endpoint created before a restart gets the events after it", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			f.reopen()
			w.queued(jidA, 1)
			equalTypes(t, events(f, e), wagate.EventMessageQueued)
		}},
		{"an event exists if and only if its change committed", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventTypes...)
			m := w.queued(jidA, 1)
			before := len(events(f, e))
			f.failing(func() {
				_, _, err := w.send(jidA, 1)
				unavailable(t, err, "Accept")
				unavailable(t, f.s.RecordAttempt(f.ctx, w.ws.ID, &wagate.Attempt{At: f.clock.Now(), Code: wagate.EINVALID}), "RecordAttempt")
				_, err = cancelMessage(f, w.ws.ID, m.ID, time.Time{})
				unavailable(t, err, "CancelMessage")
				unavailable(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceAPI, time.Time{}), "DeleteAccount")
				_, err = f.s.SetLowCredits(f.ctx, w.ws.ID, 100)
				unavailable(t, err, "SetLowCredits")
				_, err = f.s.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error { e.Events, e.Enabled = nil, false; return nil })
				unavailable(t, err, "UpdateEndpoint")
			})
			if evs := events(f, e); len(evs) != before {
				t.Errorf("failed writes left events %v", eventTypes(evs[before:]))
			}
			refs, err := f.s.PendingEndpoints(f.ctx)
			must(t, err, "PendingEndpoints")
			if len(refs) != 1 {
				t.Errorf("PendingEndpoints = %v, want the one endpoint", refs)
			}
			_, err = cancelMessage(f, w.ws.ID, m.ID, time.Time{})
			must(t, err, "CancelMessage")
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceAPI, time.Time{}), "DeleteAccount")
			if got := eventTypes(events(f, e)[before:]); !slices.Equal(got, []string{wagate.EventMessageCancelled}) {
				t.Errorf("the same writes without the fault wrote %v, want only message.cancelled (the account had nothing queued left): the failed update must not have touched the subscriptions", got)
			}
		}},
	}...)
}

func deliveryQueueBehaviours[S OutboxStore]() []behaviour[S] {
	return []behaviour[S]{
		{"due deliveries come in order with their event and endpoint", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			for _, text := range []string{"one", "two", "three"} {
				w.queued(jidA, 1, withText(text))
				f.clock.Advance(time.Second)
			}
			ds, due := nextDue(f, e, 2)
			if got := deliveryTexts(ds); !slices.Equal(got, []string{"one", "two"}) {
				t.Fatalf("first two due: %v", got)
			}
			if due.IsZero() || due.After(f.clock.Now()) {
				t.Errorf("due = %v with a third delivery due now (%v): want it at or before now", due, f.clock.Now())
			}
			d := ds[0]
			if d.Endpoint.Secret != e.Secret || d.Endpoint.Auth.Password != "hunter2" || d.Endpoint.ID != e.ID || d.Event.Type != wagate.EventMessageQueued ||
				d.Delivery.EventID != d.Event.ID || d.Delivery.Event != wagate.EventMessageQueued || d.Delivery.Status != wagate.DeliveryPending ||
				d.Delivery.Attempt != 0 || d.Delivery.EndpointID != e.ID || d.Delivery.WorkspaceID != w.ws.ID {
				t.Errorf("pending delivery = %+v, event %+v", d.Delivery, d.Event)
			}
			ds, due = nextDue(f, e, 10)
			if len(ds) != 3 || !due.IsZero() {
				t.Errorf("%d due, next %v; want all 3 and nothing after", len(ds), due)
			}
			again, _ := nextDue(f, e, 10)
			if len(again) != 3 {
				t.Errorf("%d due when asked again, want the same 3: a delivery stays pending until its attempt is recorded", len(again))
			}
			_, _, err := f.s.NextDeliveries(f.ctx, wagate.EndpointRef{WorkspaceID: w.ws.ID, ID: "ep_gone"}, f.clock.Now(), 1)
			wantCode(t, err, wagate.ENOTFOUND, "NextDeliveries of an unknown endpoint")
		}},
		{"a successful attempt finishes the delivery once", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			w.queued(jidA, 1)
			ds, _ := nextDue(f, e, 1)
			f.clock.Advance(time.Second)
			done := finishAttempt(f, ds[0].Delivery, wagate.DeliverySucceeded, 0, "")
			if done.Attempt != 1 || !done.NextTryAt.IsZero() {
				t.Errorf("FinishAttempt set attempt %d, next try %v; want 1 and none", done.Attempt, done.NextTryAt)
			}
			if left, due := nextDue(f, e, 1); len(left) != 0 || !due.IsZero() {
				t.Errorf("after success: %d still due, next %v", len(left), due)
			}
			list, _, err := f.s.ListDeliveries(f.ctx, epRef(e), 1, "")
			must(t, err, "ListDeliveries")
			got := list[0]
			if got.ID != ds[0].Delivery.ID || got.Status != wagate.DeliverySucceeded || got.Attempt != 1 || got.Response.Status != 204 ||
				got.Request.Body != "phone=%2B14155550100" || got.Duration != 30*time.Millisecond || !got.NextTryAt.IsZero() || got.EventID != ds[0].Event.ID {
				t.Errorf("history after success: %+v", got)
			}
			sameTime(t, got.At, f.clock.Now(), "At of the attempt")
			if ep := findEndpoint(f, e); !ep.FailingSince.IsZero() {
				t.Errorf("FailingSince = %v after a success", ep.FailingSince)
			}
			wantCode(t, f.s.FinishAttempt(f.ctx, ds[0].Delivery, ""), wagate.ECONFLICT, "FinishAttempt of a finished delivery")
			bad := *ds[0].Delivery
			bad.Status = "maybe"
			wantCode(t, f.s.FinishAttempt(f.ctx, &bad, ""), wagate.EINVALID, "FinishAttempt with an unknown status")
			bad.Status, bad.ID = wagate.DeliveryFailed, "dlv_unknown"
			wantCode(t, f.s.FinishAttempt(f.ctx, &bad, ""), wagate.ENOTFOUND, "FinishAttempt of an unknown delivery")
		}},
		{"a failed attempt waits for its retry; FailingSince starts at the first failure and a success clears it", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			w.queued(jidA, 1)
			ds, _ := nextDue(f, e, 1)
			first := f.clock.Now()
			finishAttempt(f, ds[0].Delivery, wagate.DeliveryPending, 5*time.Second, "")
			if left, due := nextDue(f, e, 1); len(left) != 0 || !due.Equal(first.Add(5*time.Second)) {
				t.Fatalf("right after a failure: %d due, next %v; want none until %v", len(left), due, first.Add(5*time.Second))
			}
			sameTime(t, findEndpoint(f, e).FailingSince, first, "FailingSince after the first failure")
			f.clock.Advance(5 * time.Second)
			ds, _ = nextDue(f, e, 1)
			if len(ds) != 1 || ds[0].Delivery.Attempt != 1 || ds[0].Delivery.Response.Status != 500 || ds[0].Event.Type != wagate.EventMessageQueued {
				t.Fatalf("due again: %+v", ds)
			}
			finishAttempt(f, ds[0].Delivery, wagate.DeliveryPending, time.Minute, "")
			sameTime(t, findEndpoint(f, e).FailingSince, first, "FailingSince after the second failure")
			f.clock.Advance(time.Minute)
			ds, _ = nextDue(f, e, 1)
			finishAttempt(f, ds[0].Delivery, wagate.DeliverySucceeded, 0, "")
			if ep := findEndpoint(f, e); !ep.FailingSince.IsZero() {
				t.Errorf("FailingSince = %v after a success, want zero", ep.FailingSince)
			}
			list, _, err := f.s.ListDeliveries(f.ctx, epRef(e), 1, "")
			must(t, err, "ListDeliveries")
			if list[0].Attempt != 3 {
				t.Errorf("attempt %d after three, want 3", list[0].Attempt)
			}
		}},
		{"a delivery out of tries is failed, and a retry brings the same event back", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			w.queued(jidA, 1)
			ds, _ := nextDue(f, e, 1)
			finishAttempt(f, ds[0].Delivery, wagate.DeliveryFailed, 0, "")
			if left, due := nextDue(f, e, 1); len(left) != 0 || !due.IsZero() {
				t.Fatalf("a failed delivery is still due (%d, next %v)", len(left), due)
			}
			refs, err := f.s.PendingEndpoints(f.ctx)
			must(t, err, "PendingEndpoints")
			if len(refs) != 0 {
				t.Errorf("PendingEndpoints = %v with only a failed delivery", refs)
			}
			_, err = f.s.RetryDelivery(f.ctx, epRef(e), ds[0].Delivery.ID, time.Time{})
			must(t, err, "RetryDelivery")
			again, _ := nextDue(f, e, 1)
			if len(again) != 1 || again[0].Event.ID != ds[0].Event.ID || again[0].Delivery.ID != ds[0].Delivery.ID || again[0].Delivery.Attempt != 1 {
				t.Fatalf("after the retry: %+v; want the same delivery and event again, one attempt made", again)
			}
		}},
		{"a disabled endpoint keeps its pending deliveries and resumes them in order", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			for _, text := range []string{"one", "two", "three"} {
				w.queued(jidA, 1, withText(text))
				f.clock.Advance(time.Second)
			}
			ds, _ := nextDue(f, e, 1)
			finishAttempt(f, ds[0].Delivery, wagate.DeliveryFailed, 0, "the endpoint answered 410 Gone")
			ep := findEndpoint(f, e)
			if ep.Enabled || ep.DisabledReason != "the endpoint answered 410 Gone" {
				t.Fatalf("after a 410: enabled %v, reason %q", ep.Enabled, ep.DisabledReason)
			}
			if left, due := nextDue(f, e, 10); len(left) != 0 || !due.IsZero() {
				t.Errorf("a disabled endpoint has %d due (next %v)", len(left), due)
			}
			refs, err := f.s.PendingEndpoints(f.ctx)
			must(t, err, "PendingEndpoints")
			if len(refs) != 0 {
				t.Errorf("PendingEndpoints = %v; a disabled endpoint is not one", refs)
			}
			w.queued(jidA, 1, withText("four")) // no new delivery while disabled
			_, err = f.s.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error { e.Enabled = true; return nil })
			must(t, err, "UpdateEndpoint (enable)")
			refs, err = f.s.PendingEndpoints(f.ctx)
			must(t, err, "PendingEndpoints")
			if !slices.Equal(refs, []wagate.EndpointRef{epRef(e)}) {
				t.Errorf("PendingEndpoints = %v, want %s", refs, e.ID)
			}
			ds, _ = nextDue(f, e, 10)
			if got := deliveryTexts(ds); !slices.Equal(got, []string{"two", "three"}) {
				t.Errorf("resumed %v, want two and three in order (four came while disabled)", got)
			}
		}},
		{"pending endpoints are listed across workspaces", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			a := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			idle := createEndpoint(f, w.ws.ID, wagate.EventMessageSent)
			w.queued(jidA, 1)
			other := newWorkspace(t, f.ctx, f.s, 10)
			w.account(other.ID, phone1, true)
			b := createEndpoint(f, other.ID, wagate.EventMessageQueued)
			_, _, err := w.send(jidA, 1, func(a *wagate.Accept) { a.WorkspaceID, a.InboundToken = other.ID, other.Webhook.Token })
			must(t, err, "Accept in the other workspace")
			refs, err := f.s.PendingEndpoints(f.ctx)
			must(t, err, "PendingEndpoints")
			if len(refs) != 2 || !slices.Contains(refs, epRef(a)) || !slices.Contains(refs, epRef(b)) || slices.Contains(refs, epRef(idle)) {
				t.Errorf("PendingEndpoints = %v, want %s and %s", refs, a.ID, b.ID)
			}
		}},
		{"finishing deliveries trims the history to the newest hundred, never a pending one", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 1000)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			for range wagate.DeliveryHistoryLimit + 20 {
				w.queued(jidA, 1)
			}
			ds, _ := nextDue(f, e, 1000)
			if len(ds) != wagate.DeliveryHistoryLimit+20 {
				t.Fatalf("%d pending, want %d: pending deliveries are never trimmed", len(ds), wagate.DeliveryHistoryLimit+20)
			}
			oldest := ds[0]
			for _, d := range ds[1:] {
				finishAttempt(f, d.Delivery, wagate.DeliverySucceeded, 0, "")
			}
			ids := deliveryIDs(f, e, 1000)
			if len(ids) != wagate.DeliveryHistoryLimit || ids[len(ids)-1] != oldest.Delivery.ID || ids[0] != ds[len(ds)-1].Delivery.ID {
				t.Errorf("%d kept, %s..%s; want %d, the pending %s the oldest", len(ids), ids[len(ids)-1], ids[0], wagate.DeliveryHistoryLimit, oldest.Delivery.ID)
			}
			if left, _ := nextDue(f, e, 10); len(left) != 1 || left[0].Delivery.ID != oldest.Delivery.ID {
				t.Errorf("still due: %d, want only the pending one", len(left))
			}
		}},
		{"a retried test send is delivered again with its event's id and type", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageSent)
			sent := recordDelivery(f, e, wagate.DeliveryFailed)
			_, err := f.s.RetryDelivery(f.ctx, epRef(e), sent.ID, time.Time{})
			must(t, err, "RetryDelivery")
			ds, due := nextDue(f, e, 10)
			if len(ds) != 1 || ds[0].Delivery.ID != sent.ID || ds[0].Event.ID != "evt_test" || ds[0].Event.Type != wagate.EventMessageSent ||
				ds[0].Delivery.Attempt != 1 || !due.IsZero() {
				t.Fatalf("due after retrying a test send: %+v (next %v), want it with event evt_test", ds, due)
			}
			finishAttempt(f, ds[0].Delivery, wagate.DeliverySucceeded, 0, "")
		}},
		{"an attempt of a deleted endpoint is not found", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			w.queued(jidA, 1)
			ds, _ := nextDue(f, e, 1)
			must(t, f.s.DeleteEndpoint(f.ctx, epRef(e)), "DeleteEndpoint")
			d := *ds[0].Delivery
			d.Status = wagate.DeliverySucceeded
			wantCode(t, f.s.FinishAttempt(f.ctx, &d, ""), wagate.ENOTFOUND, "FinishAttempt after the endpoint was deleted")
		}},
		{"a pending delivery survives a restart with its ids", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			w.queued(jidA, 1)
			ds, _ := nextDue(f, e, 10)
			if len(ds) != 1 {
				t.Fatalf("%d deliveries due, want 1", len(ds))
			}
			before := ds[0]
			f.reopen()
			refs, err := f.s.PendingEndpoints(f.ctx)
			must(t, err, "PendingEndpoints after the restart")
			if !slices.Equal(refs, []wagate.EndpointRef{epRef(e)}) {
				t.Fatalf("PendingEndpoints after the restart = %v, want %s", refs, e.ID)
			}
			ds, _ = nextDue(f, e, 10)
			if len(ds) != 1 || ds[0].Event.ID != before.Event.ID || ds[0].Delivery.ID != before.Delivery.ID ||
				!ds[0].Event.At.Equal(before.Event.At) || ds[0].Event.Message.ID != before.Event.Message.ID {
				t.Fatalf("after the restart: %+v, want the same delivery of event %s", ds, before.Event.ID)
			}
			f.clock.Advance(time.Second)
			finishAttempt(f, ds[0].Delivery, wagate.DeliverySucceeded, 0, "")
		}},
		{"an attempt that fails at commit is not recorded", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageQueued)
			w.queued(jidA, 1)
			ds, _ := nextDue(f, e, 1)
			f.failing(func() {
				d := *ds[0].Delivery
				d.Status, d.At = wagate.DeliveryFailed, f.clock.Now()
				unavailable(t, f.s.FinishAttempt(f.ctx, &d, "410"), "FinishAttempt")
			})
			if ep := findEndpoint(f, e); !ep.Enabled || !ep.FailingSince.IsZero() {
				t.Errorf("a failed FinishAttempt changed the endpoint: enabled %v, failing since %v", ep.Enabled, ep.FailingSince)
			}
			again, _ := nextDue(f, e, 1)
			if len(again) != 1 || again[0].Delivery.Attempt != 0 || again[0].Delivery.ID != ds[0].Delivery.ID {
				t.Errorf("after a failed FinishAttempt: %+v, want the delivery still pending, no attempt counted", again)
			}
		}},
	}
}

func outboxQueueBehaviours[S OutboxQueueStore]() []behaviour[S] {
	queued, attempt := wagate.EventMessageQueued, wagate.EventWebhookAttempt
	sent, failed := wagate.EventMessageSent, wagate.EventMessageFailed
	type act struct {
		name string
		do   func(t *testing.T, w *world[S])
		want []string
	}
	acts := []act{
		{"queued to sending and back writes no event", func(t *testing.T, w *world[S]) {
			m := w.queued(jidA, 1)
			w.sending(m.ID)
			w.retryLater(m.ID, time.Minute)
		}, []string{queued, attempt}},
		{"MarkSent writes message.sent", func(t *testing.T, w *world[S]) { w.sentWith("wamid.1", 1) }, []string{queued, attempt, sent}},
		{"delivery reports write message.delivered and message.read, once each", func(t *testing.T, w *world[S]) {
			w.sentWith("wamid.1", 1)
			for _, s := range []string{"sent", "delivered", "delivered", "read"} {
				_, _, err := w.s.ApplyDelivery(w.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: s, At: w.clock.Now()}, forward)
				must(t, err, "ApplyDelivery "+s)
			}
		}, []string{queued, attempt, sent, wagate.EventMessageDelivered, wagate.EventMessageRead}},
		{"a late failed report writes message.failed once", func(t *testing.T, w *world[S]) {
			w.sentWith("wamid.1", 1)
			for range 2 {
				_, _, err := w.s.ApplyDelivery(w.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: "failed", At: w.clock.Now(), Error: "131026"}, forward)
				must(t, err, "ApplyDelivery failed")
			}
		}, []string{queued, attempt, sent, failed}},
		{"MarkFailed writes message.failed once", func(t *testing.T, w *world[S]) {
			m := w.queued(jidA, 1)
			must(t, w.s.MarkFailed(w.ctx, m.ID, wagate.Try{At: w.clock.Now(), Error: "not on WhatsApp"}), "MarkFailed")
			must(t, w.s.MarkFailed(w.ctx, m.ID, wagate.Try{At: w.clock.Now(), Error: "again"}), "MarkFailed again")
		}, []string{queued, attempt, failed}},
		{"RecoverSending writes message.failed", func(t *testing.T, w *world[S]) {
			m := w.queued(jidA, 1)
			w.sending(m.ID)
			_, err := w.s.RecoverSending(w.ctx, w.clock.Now())
			must(t, err, "RecoverSending")
		}, []string{queued, attempt, failed}},
		{"a retry after the account went writes message.failed", func(t *testing.T, w *world[S]) {
			m := w.queued(jidA, 1)
			w.sending(m.ID)
			must(t, w.s.DeleteAccount(w.ctx, w.ref(), wagate.SourceSystem, w.clock.Now()), "DeleteAccount") // a sending message is left to its sender
			must(t, w.s.Retry(w.ctx, m.ID, wagate.Try{At: w.clock.Now(), Error: "timeout"}, time.Time{}), "Retry")
		}, []string{queued, attempt, failed}},
	}
	var bs []behaviour[S]
	for _, a := range acts {
		bs = append(bs, behaviour[S]{a.name, func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventTypes...)
			a.do(t, w)
			equalTypes(t, events(f, e), a.want...)
		}})
	}
	return append(bs, []behaviour[S]{
		{"a late failure is the system's, with the refund and the transport's error", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventMessageFailed)
			m := w.sentWith("wamid.x", 2)
			_, _, err := f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.x", Status: "failed", At: f.clock.Now(), Error: "131026"}, forward)
			must(t, err, "ApplyDelivery")
			evs := events(f, e)
			if len(evs) != 1 || evs[0].Source != wagate.SourceSystem || evs[0].Credits != 2 || evs[0].Message.ID != m.ID || evs[0].Message.Error != "131026" {
				t.Errorf("late failure events %+v", evs)
			}
		}},
		{"queue writes that fail at commit write no event", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 10)
			e := createEndpoint(f, w.ws.ID, wagate.EventTypes...)
			m := w.queued(jidA, 1)
			w.sending(m.ID)
			sentMsg := w.sentWith("wamid.late", 1)
			before := len(events(f, e))
			f.failing(func() {
				unavailable(t, f.s.MarkSent(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), ProviderID: "wamid.1"}), "MarkSent")
				unavailable(t, f.s.MarkFailed(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), Error: "no"}), "MarkFailed")
				_, err := f.s.RecoverSending(f.ctx, f.clock.Now())
				unavailable(t, err, "RecoverSending")
				_, _, err = f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.late", Status: "read", At: f.clock.Now()}, forward)
				unavailable(t, err, "ApplyDelivery")
			})
			if evs := events(f, e); len(evs) != before {
				t.Errorf("failed queue writes left events %v", eventTypes(evs[before:]))
			}
			must(t, f.s.MarkSent(f.ctx, m.ID, wagate.Try{At: f.clock.Now(), ProviderID: "wamid.1"}), "MarkSent")
			_, _, err := f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.late", Status: "read", At: f.clock.Now()}, forward)
			must(t, err, "ApplyDelivery")
			if got := eventTypes(events(f, e)[before:]); !slices.Equal(got, []string{sent, wagate.EventMessageRead}) {
				t.Errorf("the same writes without the fault wrote %v (message %s), want message.sent and message.read", got, sentMsg.ID)
			}
		}},
	}...)
}
