package outbound_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/wagate/wagate"
)

// fakeQueue is an in-memory wagate.DeliveryQueue with the store's rules:
// pending deliveries of enabled endpoints, oldest first; FinishAttempt
// sets and clears FailingSince and disables.
type fakeQueue struct {
	mu        sync.Mutex
	endpoints map[wagate.EndpointRef]*wagate.Endpoint
	items     []*fakeItem
	finished  []wagate.EndpointDelivery // every FinishAttempt, in order
	failNext  int                       // FinishAttempt calls to fail
	onFinish  func(d *wagate.EndpointDelivery)
}

type fakeItem struct {
	d  *wagate.EndpointDelivery
	ev *wagate.Event
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{endpoints: map[wagate.EndpointRef]*wagate.Endpoint{}}
}

func (q *fakeQueue) addEndpoint(e *wagate.Endpoint) wagate.EndpointRef {
	q.mu.Lock()
	defer q.mu.Unlock()
	ref := wagate.EndpointRef{WorkspaceID: e.WorkspaceID, ID: e.ID}
	q.endpoints[ref] = e
	return ref
}

// add queues a delivery of ev to ref, due at due.
func (q *fakeQueue) add(ref wagate.EndpointRef, ev *wagate.Event, due time.Time) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := "dlv_" + ev.ID
	q.items = append(q.items, &fakeItem{
		d: &wagate.EndpointDelivery{ID: id, WorkspaceID: ref.WorkspaceID, EndpointID: ref.ID, EventID: ev.ID,
			Event: ev.Type, Status: wagate.DeliveryPending, NextTryAt: due, At: due},
		ev: ev,
	})
	return id
}

func (q *fakeQueue) PendingEndpoints(ctx context.Context) ([]wagate.EndpointRef, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var refs []wagate.EndpointRef
	for _, it := range q.items {
		ref := wagate.EndpointRef{WorkspaceID: it.d.WorkspaceID, ID: it.d.EndpointID}
		if it.d.Status == wagate.DeliveryPending && q.endpoints[ref].Enabled && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

func (q *fakeQueue) NextDeliveries(ctx context.Context, ref wagate.EndpointRef, at time.Time, n int) ([]*wagate.PendingDelivery, time.Time, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.endpoints[ref]
	if e == nil || !e.Enabled {
		return nil, time.Time{}, nil
	}
	var (
		ds  []*wagate.PendingDelivery
		due time.Time
	)
	for _, it := range q.items {
		if it.d.EndpointID != ref.ID || it.d.Status != wagate.DeliveryPending {
			continue
		}
		if it.d.NextTryAt.After(at) {
			if due.IsZero() || it.d.NextTryAt.Before(due) {
				due = it.d.NextTryAt
			}
			continue
		}
		if len(ds) < n {
			dc, ec := *it.d, *e
			ds = append(ds, &wagate.PendingDelivery{Delivery: &dc, Event: it.ev, Endpoint: &ec})
		}
	}
	return ds, due, nil
}

var errStore = errors.New("store unavailable")

func (q *fakeQueue) FinishAttempt(ctx context.Context, d *wagate.EndpointDelivery, disable string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failNext > 0 {
		q.failNext--
		return errStore
	}
	q.finished = append(q.finished, *d)
	for _, it := range q.items {
		if it.d.ID == d.ID {
			c := *d
			it.d = &c
		}
	}
	e := q.endpoints[wagate.EndpointRef{WorkspaceID: d.WorkspaceID, ID: d.EndpointID}]
	if d.Status == wagate.DeliverySucceeded {
		e.FailingSince = time.Time{}
	} else if e.FailingSince.IsZero() {
		e.FailingSince = d.At
	}
	if disable != "" {
		e.Enabled, e.DisabledReason = false, disable
	}
	if q.onFinish != nil {
		q.onFinish(d)
	}
	return nil
}

// delivery returns the current state of one delivery.
func (q *fakeQueue) delivery(id string) wagate.EndpointDelivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		if it.d.ID == id {
			return *it.d
		}
	}
	return wagate.EndpointDelivery{}
}

// attempts returns the recorded attempts of one delivery, in order.
func (q *fakeQueue) attempts(id string) []wagate.EndpointDelivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []wagate.EndpointDelivery
	for _, d := range q.finished {
		if d.ID == id {
			out = append(out, d)
		}
	}
	return out
}

func (q *fakeQueue) endpoint(ref wagate.EndpointRef) wagate.Endpoint {
	q.mu.Lock()
	defer q.mu.Unlock()
	return *q.endpoints[ref]
}

func (q *fakeQueue) enable(ref wagate.EndpointRef) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.endpoints[ref].Enabled, q.endpoints[ref].DisabledReason = true, ""
}

var _ wagate.DeliveryQueue = (*fakeQueue)(nil)
