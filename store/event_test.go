package store

import (
	"crypto/sha256"
	"slices"
	"strings"
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

// Every message state change, whichever store method makes it, writes its
// event in its commit; the transitions that are no event (queued <->
// sending) write none.
func TestEveryMessageChangeWritesItsEvent(t *testing.T) {
	tests := []struct {
		name string
		act  func(f *fixture)
		want []string
	}{
		{"accept", func(f *fixture) { f.send("hi") }, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt}},
		{"mark sending, retry", func(f *fixture) {
			id := f.send("hi")
			mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
			mustNoErr(t, f.db.Retry(f.ctx, id, wagate.Try{At: f.clock.Now(), Error: "timeout"}, time.Time{}))
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt}},
		{"mark sent", func(f *fixture) { f.sendWith("wamid.1") }, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt, wagate.EventMessageSent}},
		{"delivery reports", func(f *fixture) {
			f.sendWith("wamid.1")
			f.apply("wamid.1", "sent")
			f.apply("wamid.1", "delivered")
			f.apply("wamid.1", "delivered") // a duplicate: no second event
			f.apply("wamid.1", "read")
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt, wagate.EventMessageSent, wagate.EventMessageDelivered, wagate.EventMessageRead}},
		{"late failed report", func(f *fixture) {
			f.sendWith("wamid.1")
			f.apply("wamid.1", "failed")
			f.apply("wamid.1", "failed")
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt, wagate.EventMessageSent, wagate.EventMessageFailed}},
		{"mark failed", func(f *fixture) {
			id := f.send("hi")
			mustNoErr(t, f.db.MarkFailed(f.ctx, id, wagate.Try{At: f.clock.Now(), Error: "not on WhatsApp"}))
			mustNoErr(t, f.db.MarkFailed(f.ctx, id, wagate.Try{At: f.clock.Now(), Error: "again"})) // refund-once: no event
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt, wagate.EventMessageFailed}},
		{"recover sending", func(f *fixture) {
			id := f.send("hi")
			mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
			_, err := f.db.RecoverSending(f.ctx, f.clock.Now())
			mustNoErr(t, err)
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt, wagate.EventMessageFailed}},
		{"delete account", func(f *fixture) {
			f.send("hi")
			mustNoErr(t, f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now()))
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt, wagate.EventMessageFailed}},
		{"retry after the account went", func(f *fixture) {
			id := f.send("hi")
			mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
			mustNoErr(t, f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now())) // a sending message is left to the sender
			mustNoErr(t, f.db.Retry(f.ctx, id, wagate.Try{At: f.clock.Now(), Error: "timeout"}, time.Time{}))
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt, wagate.EventMessageFailed}},
		{"cancel", func(f *fixture) {
			id := f.send("hi")
			_, err := f.db.CancelMessage(f.ctx, f.ws.ID, id, wagate.SourceConsole, f.clock.Now())
			mustNoErr(t, err)
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt, wagate.EventMessageCancelled}},
		{"record attempt", func(f *fixture) {
			mustNoErr(t, f.db.RecordAttempt(f.ctx, f.ws.ID, &wagate.Attempt{At: f.clock.Now(), Code: wagate.EINVALID, Message: "bad JSON"}))
		}, []string{wagate.EventWebhookAttempt}},
		{"refused accept", func(f *fixture) {
			a := f.request("too dear", 99)
			_, err := f.db.Accept(f.ctx, a)
			wantCode(t, err, wagate.ECREDITS)
		}, []string{wagate.EventWebhookAttempt}},
		{"replay", func(f *fixture) {
			a := f.request("hi", 1)
			a.IdempotencyKey = "k"
			f.accept(a)
			_, err := f.db.Replay(f.ctx, f.ws.ID, "k", sha256.Sum256([]byte("hi")), &wagate.Attempt{At: f.clock.Now()})
			mustNoErr(t, err)
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt, wagate.EventWebhookAttempt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 10)
			e := f.createEndpoint(wagate.EventTypes...)
			tt.act(f)
			if got := eventTypes(f.outboxEvents(e)); !slices.Equal(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
		})
	}
}

// The events say what changed, who changed it, when, and what it cost.
func TestEventContents(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventTypes...)
	accepted := f.clock.Now()
	id := f.send("hello")
	f.clock.Advance(time.Minute)
	cancelled := f.clock.Now()
	_, err := f.db.CancelMessage(f.ctx, f.ws.ID, id, wagate.SourceAPI, cancelled)
	mustNoErr(t, err)
	f.clock.Advance(time.Minute)
	failed := f.sendWith("wamid.x") // 1 credit
	f.apply("wamid.x", "failed")

	evs := f.outboxEvents(e)
	if len(evs) != 7 {
		t.Fatalf("events %v, want 7", eventTypes(evs))
	}
	queued, attempt, cancel, late := evs[0], evs[1], evs[2], evs[6]
	if queued.Type != wagate.EventMessageQueued || queued.Source != wagate.SourceInbound || queued.AccountPhone != testPhone ||
		!queued.At.Equal(accepted) || queued.Message == nil || queued.Message.ID != id || queued.Message.Status != wagate.StatusQueued || queued.Message.Text != "hello" {
		t.Errorf("queued event = %+v (message %+v)", queued, queued.Message)
	}
	if attempt.Attempt == nil || attempt.Attempt.MessageID != id || attempt.Attempt.Credits != 1 || attempt.AccountPhone != testPhone || attempt.Source != wagate.SourceInbound {
		t.Errorf("attempt event = %+v (attempt %+v)", attempt, attempt.Attempt)
	}
	if cancel.Type != wagate.EventMessageCancelled || cancel.Source != wagate.SourceAPI || cancel.Credits != 1 || !cancel.At.Equal(cancelled) ||
		cancel.Message.Status != wagate.StatusFailed || cancel.Message.Error != wagate.ErrorCancelled {
		t.Errorf("cancelled event = %+v (message %+v)", cancel, cancel.Message)
	}
	if late.Type != wagate.EventMessageFailed || late.Source != wagate.SourceSystem || late.Credits != 1 || late.Message.ID != failed || late.Message.Error != "131026" {
		t.Errorf("late failure event = %+v (message %+v)", late, late.Message)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if !strings.HasPrefix(ev.ID, "evt_") || len(ev.ID) != 4+26 || seen[ev.ID] || ev.WorkspaceID != f.ws.ID {
			t.Errorf("event id %q (workspace %q): want a fresh evt_ and 26 characters", ev.ID, ev.WorkspaceID)
		}
		seen[ev.ID] = true
	}
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

	// An endpoint of another workspace changes nothing here.
	mine := f.ws
	f.ws = f.createWorkspace(10)
	other := f.createEndpoint(wagate.EventTypes...)
	f.ws = mine
	f.send("three")
	if evs := f.outboxEvents(other); len(evs) != 0 {
		t.Errorf("another workspace's endpoint got %v", eventTypes(evs))
	}
}

// One pending delivery per enabled endpoint subscribed to the type whose
// filter matches, all carrying the same event.
func TestFanOutFollowsSubscriptionsAndFilters(t *testing.T) {
	f := newFixture(t, 10)
	f.createAccount(f.ws.ID, testPhone2, true)
	w := f.watch()
	all := f.createEndpoint(wagate.EventMessageQueued)
	sentOnly := f.createEndpoint(wagate.EventMessageSent)
	byPhone := f.newEndpoint(wagate.EventMessageQueued)
	byPhone.Filter.AccountPhone = testPhone2
	mustNoErr(t, f.db.CreateEndpoint(f.ctx, byPhone))
	bySource := f.newEndpoint(wagate.EventMessageQueued, wagate.EventMessageCancelled, wagate.EventMessageSent)
	bySource.Filter.Source = wagate.SourceConsole
	mustNoErr(t, f.db.CreateEndpoint(f.ctx, bySource))
	disabled := f.newEndpoint(wagate.EventMessageQueued)
	disabled.Enabled = false
	mustNoErr(t, f.db.CreateEndpoint(f.ctx, disabled))

	f.send("from the first account")
	f.phone = testPhone2
	f.sendWith("wamid.2") // system change: sent
	id := f.send("to cancel")
	_, err := f.db.CancelMessage(f.ctx, f.ws.ID, id, wagate.SourceConsole, time.Time{})
	mustNoErr(t, err)

	for _, c := range []struct {
		e    *wagate.Endpoint
		want []string
	}{
		{all, []string{wagate.EventMessageQueued, wagate.EventMessageQueued, wagate.EventMessageQueued}},
		{sentOnly, []string{wagate.EventMessageSent}},
		{byPhone, []string{wagate.EventMessageQueued, wagate.EventMessageQueued}},
		{bySource, []string{wagate.EventMessageCancelled}}, // inbound and system changes do not match "console"
		{disabled, nil},
	} {
		if got := eventTypes(f.outboxEvents(c.e)); !slices.Equal(got, c.want) {
			t.Errorf("endpoint %s (filter %+v): %v, want %v", c.e.ID, c.e.Filter, got, c.want)
		}
	}
	// The three endpoints that got the first message's event got one event.
	first := f.outboxEvents(all)[1]
	if got := f.outboxEvents(byPhone)[0]; got.ID != first.ID {
		t.Errorf("one event, two ids: %s and %s", first.ID, got.ID)
	}
	if got := w.take(); !slices.Contains(got, epRef(sentOnly)) || slices.Contains(got, epRef(disabled)) {
		t.Errorf("wake-ups %v: want the endpoints that got deliveries, not the disabled one", got)
	}
}

// credits.low is written when a charge crosses the threshold, not at every
// charge below it, and again after a top-up brought the balance back.
func TestCreditsLowOnCrossingOnly(t *testing.T) {
	f := newFixture(t, 7)
	e := f.createEndpoint(wagate.EventCreditsLow)
	ws, err := f.db.SetLowCredits(f.ctx, f.ws.ID, 5)
	mustNoErr(t, err)
	if ws.LowCredits != 5 {
		t.Fatalf("LowCredits = %d, want 5", ws.LowCredits)
	}
	var balances []int64
	for range 4 { // 7 -> 6, 5, 4 (crosses), 3
		f.send("hi")
	}
	for _, ev := range f.outboxEvents(e) {
		balances = append(balances, ev.Credits)
	}
	if !slices.Equal(balances, []int64{4}) {
		t.Fatalf("credits.low events at balances %v, want [4]", balances)
	}
	_, err = f.db.AddCredits(f.ctx, f.ws.ID, 10) // 13
	mustNoErr(t, err)
	for range 9 { // down to 4
		f.send("hi")
	}
	if n := len(f.outboxEvents(e)); n != 2 {
		t.Errorf("%d credits.low events after the second crossing, want 2", n)
	}
	// 0 turns it off.
	_, err = f.db.AddCredits(f.ctx, f.ws.ID, 10)
	mustNoErr(t, err)
	_, err = f.db.SetLowCredits(f.ctx, f.ws.ID, 0)
	mustNoErr(t, err)
	for range 12 {
		f.send("hi")
	}
	if n := len(f.outboxEvents(e)); n != 2 {
		t.Errorf("%d credits.low events with the threshold off, want 2", n)
	}
	_, err = f.db.SetLowCredits(f.ctx, f.ws.ID, -1)
	wantCode(t, err, wagate.EINVALID)
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

// An endpoint created before a restart still gets its events after it: the
// store learns at Open which workspaces have endpoints.
func TestEventsAfterReopen(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageQueued)
	mustNoErr(t, f.db.Close())
	f.db = openTest(t, f.path, f.clock)
	f.send("after the restart")
	if got := eventTypes(f.outboxEvents(e)); !slices.Equal(got, []string{wagate.EventMessageQueued}) {
		t.Errorf("events after reopen %v, want one message.queued", got)
	}
}
