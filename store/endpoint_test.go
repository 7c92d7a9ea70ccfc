package store

import (
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

// Deleting an endpoint drops its outbox bucket, and the workspace's
// subscriptions go with its last endpoint (the contract checks what the
// interfaces show: storetest.RunEndpoints).
func TestDeleteEndpointDropsItsBuckets(t *testing.T) {
	f := newFixture(t, 10)
	e := f.createEndpoint(wagate.EventMessageSent)
	f.recordDelivery(e, wagate.DeliverySucceeded)
	mustNoErr(t, f.db.DeleteEndpoint(f.ctx, epRef(e)))
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

// A retry wakes the deliverer for the endpoint once committed; the rest
// of RetryDelivery is the contract's (storetest.RunEndpoints).
func TestRetryDeliveryWakesTheDeliverer(t *testing.T) {
	f := newFixture(t, 10)
	w := f.watch()
	e := f.createEndpoint(wagate.EventMessageSent)
	failed := f.recordDelivery(e, wagate.DeliveryFailed)
	ok := f.recordDelivery(e, wagate.DeliverySucceeded)
	_, err := f.db.RetryDelivery(f.ctx, epRef(e), failed.ID, f.clock.Now())
	mustNoErr(t, err)
	if got := w.take(); !slices.Equal(got, []wagate.EndpointRef{epRef(e)}) {
		t.Errorf("wake-ups %v, want the endpoint once", got)
	}
	// A delivery id names its sequence: the same sequence with another
	// random part is no delivery.
	forged := []byte(ok.ID)
	if forged[len(forged)-3] == 'a' {
		forged[len(forged)-3] = 'b'
	} else {
		forged[len(forged)-3] = 'a'
	}
	_, err = f.db.RetryDelivery(f.ctx, epRef(e), string(forged), time.Time{})
	wantCode(t, err, wagate.ENOTFOUND)
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
