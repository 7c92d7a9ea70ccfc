package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// wakes records Options.OnDeliveries calls.
type wakes struct {
	mu   sync.Mutex
	refs []wagate.EndpointRef
}

func (w *wakes) record(refs []wagate.EndpointRef) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refs = append(w.refs, refs...)
}

// take returns the refs recorded since the last take.
func (w *wakes) take() []wagate.EndpointRef {
	w.mu.Lock()
	defer w.mu.Unlock()
	refs := w.refs
	w.refs = nil
	return refs
}

// watch makes the fixture's store report its wake-ups.
func (f *fixture) watch() *wakes {
	w := &wakes{}
	f.db.onDeliveries = w.record
	return w
}

var endpointSeq int

// newEndpoint returns an endpoint of the fixture's workspace subscribed to
// events, enabled, with a fresh id.
func (f *fixture) newEndpoint(events ...string) *wagate.Endpoint {
	endpointSeq++
	return &wagate.Endpoint{
		ID:          fmt.Sprintf("ep_test%05d", endpointSeq),
		WorkspaceID: f.ws.ID,
		Name:        "CRM",
		Enabled:     true,
		URL:         "https://crm.example",
		Path:        "/hooks/wa",
		Method:      "POST",
		Events:      events,
		Query:       []wagate.Field{{Key: "k", Value: "{{message.id}}"}},
		Headers:     []wagate.Field{{Key: "X-Team", Value: "support"}},
		Auth:        wagate.EndpointAuth{Type: wagate.AuthBasic, Username: "crm", Password: "hunter2"},
		Body:        wagate.EndpointBody{Type: wagate.BodyForm, Fields: []wagate.Field{{Key: "phone", Value: "{{message.phone}}"}}},
		Secret:      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}
}

// createEndpoint stores an endpoint that must be accepted.
func (f *fixture) createEndpoint(events ...string) *wagate.Endpoint {
	f.t.Helper()
	e := f.newEndpoint(events...)
	if err := f.db.CreateEndpoint(f.ctx, e); err != nil {
		f.t.Fatalf("CreateEndpoint: %v", err)
	}
	return e
}

func epRef(e *wagate.Endpoint) wagate.EndpointRef {
	return wagate.EndpointRef{WorkspaceID: e.WorkspaceID, ID: e.ID}
}

func TestEndpointRoundTripKeepsSecrets(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageFailed)
	e.PreviousSecret, e.PreviousUntil = "", time.Time{}
	got, err := f.db.FindEndpoint(f.ctx, epRef(e))
	mustNoErr(t, err)
	if got.Secret != e.Secret || got.Auth.Password != "hunter2" {
		t.Errorf("secret %q, password %q: the store must keep secrets for signing", got.Secret, got.Auth.Password)
	}
	if got.Path != "/hooks/wa" || got.Body.Fields[0].Value != "{{message.phone}}" || got.Query[0].Key != "k" || got.Headers[0].Value != "support" {
		t.Errorf("endpoint came back as %+v", got)
	}
	if !got.CreatedAt.Equal(f.clock.Now()) {
		t.Errorf("CreatedAt = %v, want the store's now %v", got.CreatedAt, f.clock.Now())
	}
	_, err = f.db.FindEndpoint(f.ctx, wagate.EndpointRef{WorkspaceID: f.ws.ID, ID: "ep_nope"})
	wantCode(t, err, wagate.ENOTFOUND)
	// Another workspace cannot read it.
	other := f.createWorkspace(0)
	_, err = f.db.FindEndpoint(f.ctx, wagate.EndpointRef{WorkspaceID: other.ID, ID: e.ID})
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestCreateEndpointRefusesTheTwentyFirst(t *testing.T) {
	f := newFixture(t, 10)
	for range wagate.EndpointLimit {
		f.createEndpoint(wagate.EventMessageSent)
	}
	err := f.db.CreateEndpoint(f.ctx, f.newEndpoint(wagate.EventMessageSent))
	wantCode(t, err, wagate.ECONFLICT)
	if !errors.Is(err, wagate.ErrEndpointLimit) {
		t.Errorf("error %v does not wrap ErrEndpointLimit", err)
	}
	// The limit is per workspace.
	f.ws = f.createWorkspace(0)
	f.createEndpoint(wagate.EventMessageSent)

	e := f.newEndpoint(wagate.EventMessageSent)
	e.WorkspaceID = "ws_unknown"
	wantCode(t, f.db.CreateEndpoint(f.ctx, e), wagate.ENOTFOUND)
}

func TestCreateEndpointRefusesATakenID(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	wantCode(t, f.db.CreateEndpoint(f.ctx, e), wagate.ECONFLICT)
}

func TestListEndpointsOldestFirst(t *testing.T) {
	f := newFixture(t, 10)
	var want []string
	for range 3 {
		e := f.newEndpoint(wagate.EventMessageSent)
		e.ID = fmt.Sprintf("ep_%d", 9-len(want)) // ids sort against creation order
		mustNoErr(t, f.db.CreateEndpoint(f.ctx, e))
		want = append(want, e.ID)
	}
	list, err := f.db.ListEndpoints(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	var got []string
	for _, e := range list {
		got = append(got, e.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListEndpoints = %v, want %v", got, want)
	}
	_, err = f.db.ListEndpoints(f.ctx, "ws_unknown")
	wantCode(t, err, wagate.ENOTFOUND)
}

func TestUpdateEndpoint(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	got, err := f.db.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error {
		e.Name = "renamed"
		e.ID = "ep_hijack"
		e.CreatedAt = time.Time{}
		e.Secret = "" // a careless update cannot remove the secret
		return nil
	})
	mustNoErr(t, err)
	if got.Name != "renamed" || got.ID != e.ID || !got.CreatedAt.Equal(e.CreatedAt) || got.Secret != e.Secret {
		t.Errorf("after the update: name %q, id %q, created %v, secret kept %v", got.Name, got.ID, got.CreatedAt, got.Secret == e.Secret)
	}

	// An error from the update aborts: nothing changes.
	boom := errors.New("boom")
	_, err = f.db.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error { e.Name = "lost"; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateEndpoint = %v, want the update's error", err)
	}
	if got, _ := f.db.FindEndpoint(f.ctx, epRef(e)); got.Name != "renamed" {
		t.Errorf("name %q after an aborted update", got.Name)
	}
	_, err = f.db.UpdateEndpoint(f.ctx, wagate.EndpointRef{WorkspaceID: f.ws.ID, ID: "ep_nope"}, func(*wagate.Endpoint) error { return nil })
	wantCode(t, err, wagate.ENOTFOUND)
}

// Enabling an endpoint wagate disabled starts afresh: no reason shown, and
// five more days before the failures count against it again.
func TestEnableEndpointClearsReasonAndFailingSince(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	_, err := f.db.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error {
		e.Enabled, e.DisabledReason, e.FailingSince = false, "410 Gone", f.clock.Now()
		return nil
	})
	mustNoErr(t, err)
	got, err := f.db.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error { e.Enabled = true; return nil })
	mustNoErr(t, err)
	if got.DisabledReason != "" || !got.FailingSince.IsZero() {
		t.Errorf("enabled endpoint: reason %q, failing since %v; want both cleared", got.DisabledReason, got.FailingSince)
	}
}

func TestDeleteEndpointRemovesItsDeliveries(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	f.recordDelivery(e, wagate.DeliverySucceeded)
	mustNoErr(t, f.db.DeleteEndpoint(f.ctx, epRef(e)))
	_, err := f.db.FindEndpoint(f.ctx, epRef(e))
	wantCode(t, err, wagate.ENOTFOUND)
	_, _, err = f.db.ListDeliveries(f.ctx, epRef(e), 0, "")
	wantCode(t, err, wagate.ENOTFOUND)
	wantCode(t, f.db.DeleteEndpoint(f.ctx, epRef(e)), wagate.ENOTFOUND)
	if n := f.bucketLen(bucketOutbox); n != 0 {
		t.Errorf("the outbox holds %d buckets after the delete, want 0", n)
	}
	if n := f.bucketLen(bucketEndpointSubs); n != 0 {
		t.Errorf("endpoint_subs holds %d entries after the last endpoint went, want 0", n)
	}
}

// bucketLen counts the keys of a top-level bucket.
func (f *fixture) bucketLen(name []byte) int {
	f.t.Helper()
	n := 0
	err := f.db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(name).ForEach(func(_, _ []byte) error { n++; return nil })
	})
	mustNoErr(f.t, err)
	return n
}

// recordDelivery records a test send with that status.
func (f *fixture) recordDelivery(e *wagate.Endpoint, status string) *wagate.EndpointDelivery {
	f.t.Helper()
	d := &wagate.EndpointDelivery{
		WorkspaceID: e.WorkspaceID, EndpointID: e.ID, EventID: "evt_test", Event: wagate.EventMessageSent,
		Attempt: 1, Status: status,
		Request:  wagate.DeliveryRequest{Method: "POST", URL: e.URL + e.Path, Body: `{"type":"message.sent"}`},
		Response: wagate.DeliveryResponse{Status: 200, Body: "ok"},
		Duration: 12 * time.Millisecond,
	}
	if err := f.db.RecordDelivery(f.ctx, d); err != nil {
		f.t.Fatalf("RecordDelivery: %v", err)
	}
	f.clock.Advance(time.Second)
	return d
}

// deliveryIDs walks every page of the endpoint's history.
func (f *fixture) deliveryIDs(e *wagate.Endpoint, limit int) []string {
	f.t.Helper()
	var ids []string
	cursor := ""
	for page := 0; ; page++ {
		list, next, err := f.db.ListDeliveries(f.ctx, epRef(e), limit, cursor)
		mustNoErr(f.t, err)
		if len(list) > limit {
			f.t.Fatalf("page of %d deliveries, limit %d", len(list), limit)
		}
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		if next == "" {
			return ids
		}
		if page > 1000 {
			f.t.Fatal("the cursor never ends")
		}
		cursor = next
	}
}

func TestRecordDeliveryAndPages(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	var want []string
	for range 7 {
		d := f.recordDelivery(e, wagate.DeliverySucceeded)
		want = append([]string{d.ID}, want...) // newest first
	}
	for _, limit := range []int{1, 3, 7, 100} {
		if got := f.deliveryIDs(e, limit); !slices.Equal(got, want) {
			t.Errorf("pages of %d: %v, want %v", limit, got, want)
		}
	}
	list, _, err := f.db.ListDeliveries(f.ctx, epRef(e), 1, "")
	mustNoErr(t, err)
	d := list[0]
	if d.EventID != "evt_test" || d.Event != wagate.EventMessageSent || d.Status != wagate.DeliverySucceeded ||
		d.Response.Status != 200 || d.Request.Body != `{"type":"message.sent"}` || d.Duration != 12*time.Millisecond ||
		d.WorkspaceID != f.ws.ID || d.EndpointID != e.ID || d.At.IsZero() {
		t.Errorf("newest delivery = %+v", d)
	}
	_, _, err = f.db.ListDeliveries(f.ctx, epRef(e), 1, "not-a-cursor")
	wantCode(t, err, wagate.EINVALID)

	pending := &wagate.EndpointDelivery{WorkspaceID: f.ws.ID, EndpointID: e.ID, Status: wagate.DeliveryPending}
	wantCode(t, f.db.RecordDelivery(f.ctx, pending), wagate.EINVALID)
	gone := &wagate.EndpointDelivery{WorkspaceID: f.ws.ID, EndpointID: "ep_nope", Status: wagate.DeliveryFailed}
	wantCode(t, f.db.RecordDelivery(f.ctx, gone), wagate.ENOTFOUND)
}

func TestRecordDeliveryCutsBodies(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	big := string(make([]byte, wagate.DeliveryBodyLimit+1))
	d := &wagate.EndpointDelivery{WorkspaceID: f.ws.ID, EndpointID: e.ID, Status: wagate.DeliveryFailed,
		Request: wagate.DeliveryRequest{Body: big}, Response: wagate.DeliveryResponse{Body: big}}
	mustNoErr(t, f.db.RecordDelivery(f.ctx, d))
	list, _, err := f.db.ListDeliveries(f.ctx, epRef(e), 1, "")
	mustNoErr(t, err)
	if len(list[0].Request.Body) != wagate.DeliveryBodyLimit || len(list[0].Response.Body) != wagate.DeliveryBodyLimit {
		t.Errorf("bodies of %d and %d bytes kept, want %d", len(list[0].Request.Body), len(list[0].Response.Body), wagate.DeliveryBodyLimit)
	}
}

func TestHistoryKeepsTheNewestHundred(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	var all []string
	for range wagate.DeliveryHistoryLimit + 5 {
		all = append(all, f.recordDelivery(e, wagate.DeliverySucceeded).ID)
	}
	got := f.deliveryIDs(e, 1000)
	if len(got) != wagate.DeliveryHistoryLimit {
		t.Fatalf("%d deliveries kept, want %d", len(got), wagate.DeliveryHistoryLimit)
	}
	if got[len(got)-1] != all[5] || got[0] != all[len(all)-1] {
		t.Errorf("kept %s..%s, want the newest: %s..%s", got[len(got)-1], got[0], all[5], all[len(all)-1])
	}
}

func TestRetryDelivery(t *testing.T) {
	f := newFixture(t, 10)
	w := f.watch()
	e := f.createEndpoint(wagate.EventMessageSent)
	failed := f.recordDelivery(e, wagate.DeliveryFailed)
	ok := f.recordDelivery(e, wagate.DeliverySucceeded)

	due := f.clock.Now().Add(time.Minute)
	d, err := f.db.RetryDelivery(f.ctx, epRef(e), failed.ID, due)
	mustNoErr(t, err)
	if d.Status != wagate.DeliveryPending || !d.NextTryAt.Equal(due) || d.Attempt != 1 {
		t.Errorf("retried delivery: status %s, next try %v, attempt %d; want pending at %v, attempt 1", d.Status, d.NextTryAt, d.Attempt, due)
	}
	if got := w.take(); !slices.Equal(got, []wagate.EndpointRef{epRef(e)}) {
		t.Errorf("wake-ups %v, want the endpoint once", got)
	}

	_, err = f.db.RetryDelivery(f.ctx, epRef(e), failed.ID, due)
	wantCode(t, err, wagate.ECONFLICT) // pending now
	_, err = f.db.RetryDelivery(f.ctx, epRef(e), ok.ID, due)
	wantCode(t, err, wagate.ECONFLICT)
	forged := []byte(ok.ID) // the same sequence, another random part
	if forged[len(forged)-3] == 'a' {
		forged[len(forged)-3] = 'b'
	} else {
		forged[len(forged)-3] = 'a'
	}
	for _, id := range []string{"dlv_nope", "", string(forged)} {
		_, err = f.db.RetryDelivery(f.ctx, epRef(e), id, due)
		wantCode(t, err, wagate.ENOTFOUND)
	}
	other := f.createEndpoint(wagate.EventMessageSent)
	_, err = f.db.RetryDelivery(f.ctx, epRef(other), failed.ID, due)
	wantCode(t, err, wagate.ENOTFOUND)
}

// A pending delivery is never trimmed, however many finished ones come
// after it.
func TestHistoryKeepsPendingDeliveries(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	failed := f.recordDelivery(e, wagate.DeliveryFailed)
	_, err := f.db.RetryDelivery(f.ctx, epRef(e), failed.ID, time.Time{})
	mustNoErr(t, err)
	for range 2 * wagate.DeliveryHistoryLimit {
		f.recordDelivery(e, wagate.DeliverySucceeded)
	}
	got := f.deliveryIDs(e, 1000)
	if len(got) != wagate.DeliveryHistoryLimit || got[len(got)-1] != failed.ID {
		t.Errorf("%d kept, oldest %s; want %d with the pending %s among them", len(got), got[len(got)-1], wagate.DeliveryHistoryLimit, failed.ID)
	}
}

// Audit notices an outbox whose indexes disagree with its deliveries.
func TestAuditFindsABrokenOutbox(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	d := f.recordDelivery(e, wagate.DeliveryFailed)
	due := f.clock.Now()
	_, err := f.db.RetryDelivery(f.ctx, epRef(e), d.ID, due)
	mustNoErr(t, err)
	seq, _ := deliverySeq(d.ID)
	key := dueKey(due, seq)
	setDue := func(present bool) {
		err := f.db.bolt.Update(func(tx *bolt.Tx) error {
			ob := tx.Bucket(bucketOutbox).Bucket(endpointKey(epRef(e)))
			if present {
				return ob.Put(key, []byte{})
			}
			return ob.Delete(key)
		})
		mustNoErr(t, err)
	}
	setDue(false)
	problems, err := f.db.Audit(f.ctx)
	mustNoErr(t, err)
	if len(problems) == 0 {
		t.Error("Audit found nothing in an outbox whose pending delivery lost its due entry")
	}
	setDue(true) // whole again, for the check at cleanup
}
