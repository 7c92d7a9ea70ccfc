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

func deliveryTexts(ds []*wagate.PendingDelivery) []string {
	var texts []string
	for _, d := range ds {
		texts = append(texts, d.Event.Message.Text)
	}
	return texts
}

func TestNextDeliveriesInOrderWithEventAndEndpoint(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageQueued)
	for _, text := range []string{"one", "two", "three"} {
		f.send(text)
		f.clock.Advance(time.Second)
	}
	ds, due := f.nextDue(e, 2)
	if got := deliveryTexts(ds); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("first two due: %v", got)
	}
	if due.IsZero() || due.After(f.clock.Now()) {
		t.Errorf("due = %v with a third delivery due now (%v): want it at or before now", due, f.clock.Now())
	}
	d := ds[0]
	if d.Endpoint.Secret != e.Secret || d.Endpoint.Auth.Password != "hunter2" || d.Event.Type != wagate.EventMessageQueued ||
		d.Delivery.EventID != d.Event.ID || d.Delivery.Status != wagate.DeliveryPending || d.Delivery.Attempt != 0 || d.Delivery.EndpointID != e.ID {
		t.Errorf("pending delivery = %+v, event %+v", d.Delivery, d.Event)
	}
	ds, due = f.nextDue(e, 10)
	if len(ds) != 3 || !due.IsZero() {
		t.Errorf("%d due, next %v; want all 3 and nothing after", len(ds), due)
	}
	_, _, err := f.db.NextDeliveries(f.ctx, wagate.EndpointRef{WorkspaceID: f.ws.ID, ID: "ep_gone"}, f.clock.Now(), 1)
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestFinishAttemptSuccess(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageQueued)
	f.send("hi")
	ds, _ := f.nextDue(e, 1)
	f.finishAttempt(ds[0].Delivery, wagate.DeliverySucceeded, 0, "")
	if left, due := f.nextDue(e, 1); len(left) != 0 || !due.IsZero() {
		t.Errorf("after success: %d still due, next %v", len(left), due)
	}
	list, _, err := f.db.ListDeliveries(f.ctx, epRef(e), 1, "")
	mustNoErr(t, err)
	got := list[0]
	if got.Status != wagate.DeliverySucceeded || got.Attempt != 1 || got.Response.Status != 204 || got.Request.Body != "phone=%2B14155550100" || !got.NextTryAt.IsZero() {
		t.Errorf("history after success: %+v", got)
	}
	// Recorded once: a second outcome for it is refused.
	err = f.db.FinishAttempt(f.ctx, ds[0].Delivery, "")
	wantCode(t, err, wagate.ECONFLICT)
	bad := *ds[0].Delivery
	bad.Status = "maybe"
	wantCode(t, f.db.FinishAttempt(f.ctx, &bad, ""), wagate.EINVALID)
	bad.Status, bad.ID = wagate.DeliveryFailed, "dlv_unknown"
	wantCode(t, f.db.FinishAttempt(f.ctx, &bad, ""), wagate.ENOTFOUND)
}

// A failed attempt retried later: not due until then, FailingSince starts
// at the first failure and stays; a success clears it.
func TestFinishAttemptRetryAndFailingSince(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageQueued)
	f.send("hi")
	ds, _ := f.nextDue(e, 1)
	firstFailure := f.clock.Now()
	f.finishAttempt(ds[0].Delivery, wagate.DeliveryPending, 5*time.Second, "")
	if left, due := f.nextDue(e, 1); len(left) != 0 || !due.Equal(firstFailure.Add(5*time.Second)) {
		t.Fatalf("right after a failure: %d due, next %v; want none until %v", len(left), due, firstFailure.Add(5*time.Second))
	}
	if ep, _ := f.db.FindEndpoint(f.ctx, epRef(e)); !ep.FailingSince.Equal(firstFailure) {
		t.Errorf("FailingSince = %v, want the first failure %v", ep.FailingSince, firstFailure)
	}

	f.clock.Advance(5 * time.Second)
	ds, _ = f.nextDue(e, 1)
	if len(ds) != 1 || ds[0].Delivery.Attempt != 1 || ds[0].Delivery.Response.Status != 500 {
		t.Fatalf("due again: %v", ds)
	}
	f.finishAttempt(ds[0].Delivery, wagate.DeliveryPending, time.Minute, "")
	if ep, _ := f.db.FindEndpoint(f.ctx, epRef(e)); !ep.FailingSince.Equal(firstFailure) {
		t.Errorf("FailingSince moved to %v at the second failure, want %v", ep.FailingSince, firstFailure)
	}
	f.clock.Advance(time.Minute)
	ds, _ = f.nextDue(e, 1)
	f.finishAttempt(ds[0].Delivery, wagate.DeliverySucceeded, 0, "")
	if ep, _ := f.db.FindEndpoint(f.ctx, epRef(e)); !ep.FailingSince.IsZero() {
		t.Errorf("FailingSince = %v after a success, want zero", ep.FailingSince)
	}
	list, _, _ := f.db.ListDeliveries(f.ctx, epRef(e), 1, "")
	if list[0].Attempt != 3 {
		t.Errorf("attempt %d after three, want 3", list[0].Attempt)
	}
}

// A delivery that runs out of tries is failed; a retry queues it again.
func TestFinishAttemptFailedThenRetried(t *testing.T) {
	f := newFixture(t, 10)
	w := f.watch()
	e := f.createEndpoint(wagate.EventMessageQueued)
	f.send("hi")
	w.take()
	ds, _ := f.nextDue(e, 1)
	f.finishAttempt(ds[0].Delivery, wagate.DeliveryFailed, 0, "")
	if left, _ := f.nextDue(e, 1); len(left) != 0 {
		t.Fatal("a failed delivery is still due")
	}
	if got := w.take(); len(got) != 0 {
		t.Errorf("a failure woke the deliverer: %v", got)
	}
	_, err := f.db.RetryDelivery(f.ctx, epRef(e), ds[0].Delivery.ID, time.Time{})
	mustNoErr(t, err)
	again, _ := f.nextDue(e, 1)
	if len(again) != 1 || again[0].Event.ID != ds[0].Event.ID {
		t.Fatalf("after the retry: %v; want the same event again", again)
	}
}

// A 410 (or five days of failures) disables the endpoint; its pending
// deliveries wait, and come back in order when it is enabled again.
func TestDisabledEndpointKeepsAndResumesItsDeliveries(t *testing.T) {
	f := newFixture(t, 10)
	w := f.watch()
	e := f.createEndpoint(wagate.EventMessageQueued)
	for _, text := range []string{"one", "two", "three"} {
		f.send(text)
		f.clock.Advance(time.Second)
	}
	ds, _ := f.nextDue(e, 1)
	f.finishAttempt(ds[0].Delivery, wagate.DeliveryFailed, 0, "the endpoint answered 410 Gone")
	ep, err := f.db.FindEndpoint(f.ctx, epRef(e))
	mustNoErr(t, err)
	if ep.Enabled || ep.DisabledReason != "the endpoint answered 410 Gone" {
		t.Fatalf("after a 410: enabled %v, reason %q", ep.Enabled, ep.DisabledReason)
	}
	if left, due := f.nextDue(e, 10); len(left) != 0 || !due.IsZero() {
		t.Errorf("a disabled endpoint has %d due (next %v)", len(left), due)
	}
	if refs, err := f.db.PendingEndpoints(f.ctx); err != nil || len(refs) != 0 {
		t.Errorf("PendingEndpoints = %v, %v; a disabled endpoint is not one", refs, err)
	}
	f.send("four") // no new delivery while disabled
	w.take()

	_, err = f.db.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error { e.Enabled = true; return nil })
	mustNoErr(t, err)
	if got := w.take(); !slices.Equal(got, []wagate.EndpointRef{epRef(e)}) {
		t.Errorf("wake-ups on enable: %v, want the endpoint", got)
	}
	if refs, err := f.db.PendingEndpoints(f.ctx); err != nil || !slices.Equal(refs, []wagate.EndpointRef{epRef(e)}) {
		t.Errorf("PendingEndpoints = %v, %v", refs, err)
	}
	ds, _ = f.nextDue(e, 10)
	if got := deliveryTexts(ds); !slices.Equal(got, []string{"two", "three"}) {
		t.Errorf("resumed %v, want two and three in order (four came while disabled)", got)
	}
}

func TestPendingEndpointsAcrossWorkspaces(t *testing.T) {
	f := newFixture(t, 10)
	a := f.createEndpoint(wagate.EventMessageQueued)
	idle := f.createEndpoint(wagate.EventMessageSent)
	f.send("hi")
	mine := f.ws
	f.ws = f.createWorkspace(10)
	f.createAccount(f.ws.ID, testPhone, true)
	b := f.createEndpoint(wagate.EventMessageQueued)
	f.send("hi")
	f.ws = mine
	refs, err := f.db.PendingEndpoints(f.ctx)
	mustNoErr(t, err)
	if len(refs) != 2 || !slices.Contains(refs, epRef(a)) || !slices.Contains(refs, epRef(b)) || slices.Contains(refs, epRef(idle)) {
		t.Errorf("PendingEndpoints = %v, want %s and %s", refs, a.ID, b.ID)
	}
}

// Finishing deliveries trims the history to the newest hundred, never a
// pending one.
func TestFinishAttemptTrimsHistory(t *testing.T) {
	f := newFixture(t, 1000)
	e := f.createEndpoint(wagate.EventMessageQueued)
	for range wagate.DeliveryHistoryLimit + 20 {
		f.send("hi")
	}
	ds, _ := f.nextDue(e, 1000)
	oldest := ds[0]
	for _, d := range ds[1:] {
		f.finishAttempt(d.Delivery, wagate.DeliverySucceeded, 0, "")
	}
	ids := f.deliveryIDs(e, 1000)
	if len(ids) != wagate.DeliveryHistoryLimit || ids[len(ids)-1] != oldest.Delivery.ID {
		t.Errorf("%d kept, oldest %s; want %d with the pending %s", len(ids), ids[len(ids)-1], wagate.DeliveryHistoryLimit, oldest.Delivery.ID)
	}
	if left, _ := f.nextDue(e, 10); len(left) != 1 || left[0].Delivery.ID != oldest.Delivery.ID {
		t.Errorf("still due: %v, want only the pending one", left)
	}
}

// Deleting an endpoint under the deliverer: its attempt is ENOTFOUND.
func TestFinishAttemptOfADeletedEndpoint(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageQueued)
	f.send("hi")
	ds, _ := f.nextDue(e, 1)
	mustNoErr(t, f.db.DeleteEndpoint(f.ctx, epRef(e)))
	d := *ds[0].Delivery
	d.Status = wagate.DeliverySucceeded
	wantCode(t, f.db.FinishAttempt(f.ctx, &d, ""), wagate.ENOTFOUND)
}
