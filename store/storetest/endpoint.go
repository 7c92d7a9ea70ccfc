package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// EndpointStore is what RunEndpoints needs: endpoints belong to
// workspaces, and their history is kept with them.
type EndpointStore interface {
	wagate.WorkspaceService
	wagate.EndpointService
}

// RunEndpoints runs the behaviours of wagate.EndpointService that need no
// events: creating, finding, listing, updating and deleting endpoints
// (secrets kept, the limit per workspace), and the history of deliveries
// made outside the queue (test sends): pages, cut bodies, the newest
// hundred kept, retries of failed ones, and write faults. RunOutbox adds
// the events and the DeliveryQueue.
func RunEndpoints[S EndpointStore](t *testing.T, h Harness[S]) {
	run(t, h, "endpoints", endpointBehaviours[S]())
}

// endpointSeq numbers the endpoints of the suite, so every id is new.
var endpointSeq atomic.Int64

// newEndpoint returns an enabled endpoint of the workspace subscribed to
// events, with a fresh id, secrets and every kind of field set.
func newEndpoint(wsID string, events ...string) *wagate.Endpoint {
	return &wagate.Endpoint{
		ID:          fmt.Sprintf("ep_test%06d", endpointSeq.Add(1)),
		WorkspaceID: wsID,
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

// createEndpoint stores an endpoint of the workspace that must be accepted.
func createEndpoint[S EndpointStore](f *fixture[S], wsID string, events ...string) *wagate.Endpoint {
	f.t.Helper()
	e := newEndpoint(wsID, events...)
	must(f.t, f.s.CreateEndpoint(f.ctx, e), "CreateEndpoint")
	return e
}

func epRef(e *wagate.Endpoint) wagate.EndpointRef {
	return wagate.EndpointRef{WorkspaceID: e.WorkspaceID, ID: e.ID}
}

// findEndpoint reads an endpoint that must exist.
func findEndpoint[S EndpointStore](f *fixture[S], e *wagate.Endpoint) *wagate.Endpoint {
	f.t.Helper()
	got, err := f.s.FindEndpoint(f.ctx, epRef(e))
	must(f.t, err, "FindEndpoint")
	return got
}

// recordDelivery records a test send to e with that status, then moves the
// clock a second.
func recordDelivery[S EndpointStore](f *fixture[S], e *wagate.Endpoint, status string) *wagate.EndpointDelivery {
	f.t.Helper()
	d := &wagate.EndpointDelivery{
		WorkspaceID: e.WorkspaceID, EndpointID: e.ID, EventID: "evt_test", Event: wagate.EventMessageSent,
		Attempt: 1, Status: status,
		Request:  wagate.DeliveryRequest{Method: "POST", URL: e.URL + e.Path, Body: `{"type":"message.sent"}`},
		Response: wagate.DeliveryResponse{Status: 200, Body: "ok"},
		Duration: 12 * time.Millisecond,
	}
	must(f.t, f.s.RecordDelivery(f.ctx, d), "RecordDelivery")
	f.clock.Advance(time.Second)
	return d
}

// deliveryIDs walks every page of the endpoint's history, limit a page.
func deliveryIDs[S EndpointStore](f *fixture[S], e *wagate.Endpoint, limit int) []string {
	f.t.Helper()
	var ids []string
	cursor := ""
	for page := 0; ; page++ {
		list, next, err := f.s.ListDeliveries(f.ctx, epRef(e), limit, cursor)
		must(f.t, err, "ListDeliveries")
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

func endpointBehaviours[S EndpointStore]() []behaviour[S] {
	return []behaviour[S]{
		{"an endpoint comes back whole, secrets included, to its workspace only", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageFailed)
			got := findEndpoint(f, e)
			if got.Secret != e.Secret || got.Auth != e.Auth {
				t.Errorf("secret kept %v, auth %+v: the store must keep secrets for signing", got.Secret == e.Secret, got.Auth)
			}
			if got.Name != "CRM" || !got.Enabled || got.URL != e.URL || got.Path != "/hooks/wa" || got.Method != "POST" ||
				!slices.Equal(got.Events, e.Events) || !slices.Equal(got.Query, e.Query) || !slices.Equal(got.Headers, e.Headers) ||
				got.Body.Type != wagate.BodyForm || !slices.Equal(got.Body.Fields, e.Body.Fields) || got.WorkspaceID != ws.ID {
				t.Errorf("endpoint came back as %+v", got)
			}
			sameTime(t, got.CreatedAt, f.clock.Now(), "CreatedAt (zero given: the store's clock)")
			sameTime(t, e.CreatedAt, f.clock.Now(), "CreatedAt set on the caller's endpoint")

			_, err := f.s.FindEndpoint(f.ctx, wagate.EndpointRef{WorkspaceID: ws.ID, ID: "ep_nope"})
			wantCode(t, err, wagate.ENOTFOUND, "FindEndpoint of an unknown id")
			other := newWorkspace(t, f.ctx, f.s, 0)
			_, err = f.s.FindEndpoint(f.ctx, wagate.EndpointRef{WorkspaceID: other.ID, ID: e.ID})
			wantCode(t, err, wagate.ENOTFOUND, "FindEndpoint from another workspace")
		}},
		{"a filter, a template body and rotation times are kept", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := newEndpoint(ws.ID, wagate.EventMessageSent, wagate.EventCreditsLow)
			e.Filter = wagate.EndpointFilter{AccountPhone: phone1, Source: wagate.SourceConsole}
			e.Body = wagate.EndpointBody{Type: wagate.BodyJSON, Template: `{"text":"{{message.text}}"}`}
			e.Auth = wagate.EndpointAuth{Type: wagate.AuthHeader, Name: "X-Key", Value: "s3cret"}
			e.PreviousSecret, e.PreviousUntil = "whsec_old", f.clock.Now().Add(24*time.Hour)
			e.CreatedAt = f.clock.Now().Add(-time.Hour)
			must(t, f.s.CreateEndpoint(f.ctx, e), "CreateEndpoint")
			got := findEndpoint(f, e)
			if got.Filter != e.Filter || got.Body.Template != e.Body.Template || got.Body.Type != wagate.BodyJSON || got.Auth != e.Auth ||
				got.PreviousSecret != "whsec_old" {
				t.Errorf("endpoint came back as %+v", got)
			}
			sameTime(t, got.PreviousUntil, e.PreviousUntil, "PreviousUntil")
			sameTime(t, got.CreatedAt, e.CreatedAt, "CreatedAt (given)")
		}},
		{"a workspace has at most EndpointLimit endpoints", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			for range wagate.EndpointLimit {
				createEndpoint(f, ws.ID, wagate.EventMessageSent)
			}
			err := f.s.CreateEndpoint(f.ctx, newEndpoint(ws.ID, wagate.EventMessageSent))
			wantCode(t, err, wagate.ECONFLICT, "CreateEndpoint beyond the limit")
			if !errors.Is(err, wagate.ErrEndpointLimit) {
				t.Errorf("error %v does not wrap ErrEndpointLimit", err)
			}
			other := newWorkspace(t, f.ctx, f.s, 0)
			createEndpoint(f, other.ID, wagate.EventMessageSent) // the limit is per workspace
			wantCode(t, f.s.CreateEndpoint(f.ctx, newEndpoint("ws_unknown", wagate.EventMessageSent)), wagate.ENOTFOUND, "CreateEndpoint in an unknown workspace")
		}},
		{"racing creates never pass EndpointLimit", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			const racers = wagate.EndpointLimit + 5
			errs := make([]error, racers)
			var wg sync.WaitGroup
			for i := range racers {
				e := newEndpoint(ws.ID, wagate.EventMessageSent)
				wg.Go(func() { errs[i] = f.s.CreateEndpoint(f.ctx, e) })
			}
			wg.Wait()
			created := 0
			for _, err := range errs {
				switch {
				case err == nil:
					created++
				case !errors.Is(err, wagate.ErrEndpointLimit):
					t.Errorf("a racing create failed with %v, want success or ErrEndpointLimit", err)
				}
			}
			list, err := f.s.ListEndpoints(f.ctx, ws.ID)
			must(t, err, "ListEndpoints")
			if created != wagate.EndpointLimit || len(list) != wagate.EndpointLimit {
				t.Errorf("%d racing creates succeeded and %d endpoints are stored, want %d of each", created, len(list), wagate.EndpointLimit)
			}
		}},
		{"an endpoint id is taken once", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			again := newEndpoint(ws.ID, wagate.EventMessageQueued)
			again.ID, again.Name = e.ID, "other"
			wantCode(t, f.s.CreateEndpoint(f.ctx, again), wagate.ECONFLICT, "CreateEndpoint with a taken id")
			if got := findEndpoint(f, e); got.Name != "CRM" || !slices.Equal(got.Events, e.Events) {
				t.Errorf("the refused create changed the endpoint: %+v", got)
			}
		}},
		{"endpoints are listed oldest first", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			var want []string
			for i := range 3 {
				e := newEndpoint(ws.ID, wagate.EventMessageSent)
				e.ID = fmt.Sprintf("%s_%d", e.ID, 9-i) // ids sort against creation order
				must(t, f.s.CreateEndpoint(f.ctx, e), "CreateEndpoint")
				want = append(want, e.ID)
			}
			list, err := f.s.ListEndpoints(f.ctx, ws.ID)
			must(t, err, "ListEndpoints")
			var got []string
			for _, e := range list {
				got = append(got, e.ID)
				if e.Secret == "" {
					t.Errorf("listed endpoint %s without its secret: the caller masks, the store keeps", e.ID)
				}
			}
			equalIDs(t, got, want...)
			_, err = f.s.ListEndpoints(f.ctx, "ws_unknown")
			wantCode(t, err, wagate.ENOTFOUND, "ListEndpoints of an unknown workspace")
		}},
		{"an update keeps the id, workspace, creation time and secret, and an aborted one changes nothing", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			got, err := f.s.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error {
				e.Name, e.ID, e.WorkspaceID, e.CreatedAt = "renamed", "ep_hijack", "ws_other", time.Time{}
				e.Secret = "" // a careless update cannot remove the secret
				e.Events = []string{wagate.EventMessageQueued}
				return nil
			})
			must(t, err, "UpdateEndpoint")
			if got.Name != "renamed" || got.ID != e.ID || got.WorkspaceID != ws.ID || got.Secret != e.Secret || !slices.Equal(got.Events, []string{wagate.EventMessageQueued}) {
				t.Errorf("after the update: name %q, id %q, workspace %q, secret kept %v, events %v", got.Name, got.ID, got.WorkspaceID, got.Secret == e.Secret, got.Events)
			}
			sameTime(t, got.CreatedAt, e.CreatedAt, "CreatedAt after an update")
			if stored := findEndpoint(f, e); stored.Name != "renamed" || stored.Secret != e.Secret {
				t.Errorf("stored after the update: %+v", stored)
			}
			rotated, err := f.s.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error {
				e.PreviousSecret, e.Secret = e.Secret, "whsec_new"
				return nil
			})
			must(t, err, "UpdateEndpoint (rotate)")
			if rotated.Secret != "whsec_new" || rotated.PreviousSecret != e.Secret {
				t.Errorf("a rotation stored secret %q, previous kept %v", rotated.Secret, rotated.PreviousSecret == e.Secret)
			}

			boom := errors.New("boom")
			_, err = f.s.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error { e.Name = "lost"; return boom })
			if !errors.Is(err, boom) {
				t.Fatalf("UpdateEndpoint = %v, want the update's error", err)
			}
			if got := findEndpoint(f, e); got.Name != "renamed" {
				t.Errorf("name %q after an aborted update", got.Name)
			}
			_, err = f.s.UpdateEndpoint(f.ctx, wagate.EndpointRef{WorkspaceID: ws.ID, ID: "ep_nope"}, func(*wagate.Endpoint) error { return nil })
			wantCode(t, err, wagate.ENOTFOUND, "UpdateEndpoint of an unknown endpoint")
		}},
		{"enabling an endpoint clears why it was disabled and since when it fails", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			_, err := f.s.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error {
				e.Enabled, e.DisabledReason, e.FailingSince = false, "410 Gone", f.clock.Now()
				return nil
			})
			must(t, err, "UpdateEndpoint (disable)")
			if got := findEndpoint(f, e); got.Enabled || got.DisabledReason != "410 Gone" || !got.FailingSince.Equal(f.clock.Now()) {
				t.Errorf("disabled: enabled %v, reason %q, failing since %v", got.Enabled, got.DisabledReason, got.FailingSince)
			}
			got, err := f.s.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error { e.Enabled = true; return nil })
			must(t, err, "UpdateEndpoint (enable)")
			if got.DisabledReason != "" || !got.FailingSince.IsZero() {
				t.Errorf("enabled endpoint: reason %q, failing since %v; want both cleared", got.DisabledReason, got.FailingSince)
			}
		}},
		{"deleting an endpoint deletes its history", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			recordDelivery(f, e, wagate.DeliverySucceeded)
			must(t, f.s.DeleteEndpoint(f.ctx, epRef(e)), "DeleteEndpoint")
			_, err := f.s.FindEndpoint(f.ctx, epRef(e))
			wantCode(t, err, wagate.ENOTFOUND, "FindEndpoint after the delete")
			_, _, err = f.s.ListDeliveries(f.ctx, epRef(e), 0, "")
			wantCode(t, err, wagate.ENOTFOUND, "ListDeliveries after the delete")
			wantCode(t, f.s.DeleteEndpoint(f.ctx, epRef(e)), wagate.ENOTFOUND, "DeleteEndpoint twice")
			// The same id again starts with an empty history.
			again := newEndpoint(ws.ID, wagate.EventMessageSent)
			again.ID = e.ID
			must(t, f.s.CreateEndpoint(f.ctx, again), "CreateEndpoint with the deleted id")
			if ids := deliveryIDs(f, again, 10); len(ids) != 0 {
				t.Errorf("the new endpoint inherited the deleted one's deliveries %v", ids)
			}
		}},
		{"recorded deliveries are paged newest first", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			var want []string
			for range 7 {
				d := recordDelivery(f, e, wagate.DeliverySucceeded)
				if len(d.ID) != 4+20 || d.ID[:4] != "dlv_" || d.At.IsZero() {
					t.Errorf("recorded delivery id %q at %v: want dlv_ and 20 characters, and At set", d.ID, d.At)
				}
				want = append([]string{d.ID}, want...)
			}
			for _, limit := range []int{1, 3, 7, 100} {
				equalIDs(t, deliveryIDs(f, e, limit), want...)
			}
			list, _, err := f.s.ListDeliveries(f.ctx, epRef(e), 1, "")
			must(t, err, "ListDeliveries")
			d := list[0]
			if d.EventID != "evt_test" || d.Event != wagate.EventMessageSent || d.Status != wagate.DeliverySucceeded || d.Attempt != 1 ||
				d.Response.Status != 200 || d.Response.Body != "ok" || d.Request.Body != `{"type":"message.sent"}` || d.Request.Method != "POST" ||
				d.Duration != 12*time.Millisecond || d.WorkspaceID != ws.ID || d.EndpointID != e.ID || !d.NextTryAt.IsZero() {
				t.Errorf("newest delivery = %+v", d)
			}
			sameTime(t, d.At, f.clock.Now().Add(-time.Second), "At of the newest (zero given: the store's clock)")
			_, _, err = f.s.ListDeliveries(f.ctx, epRef(e), 1, "not-a-cursor")
			wantCode(t, err, wagate.EINVALID, "ListDeliveries with a bad cursor")

			pending := &wagate.EndpointDelivery{WorkspaceID: ws.ID, EndpointID: e.ID, Status: wagate.DeliveryPending}
			wantCode(t, f.s.RecordDelivery(f.ctx, pending), wagate.EINVALID, "RecordDelivery of a pending delivery")
			gone := &wagate.EndpointDelivery{WorkspaceID: ws.ID, EndpointID: "ep_nope", Status: wagate.DeliveryFailed}
			wantCode(t, f.s.RecordDelivery(f.ctx, gone), wagate.ENOTFOUND, "RecordDelivery to an unknown endpoint")
		}},
		{"the history cuts bodies at DeliveryBodyLimit", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			big := string(make([]byte, wagate.DeliveryBodyLimit+1))
			d := &wagate.EndpointDelivery{WorkspaceID: ws.ID, EndpointID: e.ID, Status: wagate.DeliveryFailed,
				Request: wagate.DeliveryRequest{Body: big}, Response: wagate.DeliveryResponse{Body: big}}
			must(t, f.s.RecordDelivery(f.ctx, d), "RecordDelivery")
			list, _, err := f.s.ListDeliveries(f.ctx, epRef(e), 1, "")
			must(t, err, "ListDeliveries")
			if len(list[0].Request.Body) != wagate.DeliveryBodyLimit || len(list[0].Response.Body) != wagate.DeliveryBodyLimit {
				t.Errorf("bodies of %d and %d bytes kept, want %d", len(list[0].Request.Body), len(list[0].Response.Body), wagate.DeliveryBodyLimit)
			}
		}},
		{"the history keeps the newest hundred", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			var all []string
			for range wagate.DeliveryHistoryLimit + 5 {
				all = append(all, recordDelivery(f, e, wagate.DeliverySucceeded).ID)
			}
			got := deliveryIDs(f, e, 1000)
			if len(got) != wagate.DeliveryHistoryLimit {
				t.Fatalf("%d deliveries kept, want %d", len(got), wagate.DeliveryHistoryLimit)
			}
			if got[len(got)-1] != all[5] || got[0] != all[len(all)-1] {
				t.Errorf("kept %s..%s, want the newest: %s..%s", got[len(got)-1], got[0], all[5], all[len(all)-1])
			}
		}},
		{"a failed delivery can be retried, nothing else", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			failed := recordDelivery(f, e, wagate.DeliveryFailed)
			ok := recordDelivery(f, e, wagate.DeliverySucceeded)
			due := f.clock.Now().Add(time.Minute)
			d, err := f.s.RetryDelivery(f.ctx, epRef(e), failed.ID, due)
			must(t, err, "RetryDelivery")
			if d.ID != failed.ID || d.Status != wagate.DeliveryPending || !d.NextTryAt.Equal(due) || d.Attempt != 1 {
				t.Errorf("retried delivery: %s %s, next try %v, attempt %d; want %s pending at %v, attempt 1", d.ID, d.Status, d.NextTryAt, d.Attempt, failed.ID, due)
			}
			list, _, err := f.s.ListDeliveries(f.ctx, epRef(e), 10, "")
			must(t, err, "ListDeliveries")
			if len(list) != 2 || list[1].ID != failed.ID || list[1].Status != wagate.DeliveryPending || !list[1].NextTryAt.Equal(due) {
				t.Errorf("history after the retry: %+v", list)
			}
			_, err = f.s.RetryDelivery(f.ctx, epRef(e), failed.ID, due)
			wantCode(t, err, wagate.ECONFLICT, "RetryDelivery of a pending delivery")
			_, err = f.s.RetryDelivery(f.ctx, epRef(e), ok.ID, due)
			wantCode(t, err, wagate.ECONFLICT, "RetryDelivery of a succeeded delivery")
			for _, id := range []string{"dlv_nope", "", "dlv_aaaaaaaaaaaaaaaaaaaa"} {
				_, err = f.s.RetryDelivery(f.ctx, epRef(e), id, due)
				wantCode(t, err, wagate.ENOTFOUND, fmt.Sprintf("RetryDelivery of %q", id))
			}
			other := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			_, err = f.s.RetryDelivery(f.ctx, epRef(other), failed.ID, due)
			wantCode(t, err, wagate.ENOTFOUND, "RetryDelivery through another endpoint")
			_, err = f.s.RetryDelivery(f.ctx, wagate.EndpointRef{WorkspaceID: ws.ID, ID: "ep_nope"}, failed.ID, due)
			wantCode(t, err, wagate.ENOTFOUND, "RetryDelivery of an unknown endpoint")
		}},
		{"the history never drops a pending delivery", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			failed := recordDelivery(f, e, wagate.DeliveryFailed)
			_, err := f.s.RetryDelivery(f.ctx, epRef(e), failed.ID, time.Time{})
			must(t, err, "RetryDelivery")
			for range 2 * wagate.DeliveryHistoryLimit {
				recordDelivery(f, e, wagate.DeliverySucceeded)
			}
			got := deliveryIDs(f, e, 1000)
			if len(got) != wagate.DeliveryHistoryLimit || got[len(got)-1] != failed.ID {
				t.Errorf("%d kept, oldest %s; want %d with the pending %s among them", len(got), got[len(got)-1], wagate.DeliveryHistoryLimit, failed.ID)
			}
		}},
		{"endpoint writes that fail at commit leave nothing", func(t *testing.T, f *fixture[S]) {
			ws := newWorkspace(t, f.ctx, f.s, 0)
			e := createEndpoint(f, ws.ID, wagate.EventMessageSent)
			failed := recordDelivery(f, e, wagate.DeliveryFailed)
			fresh := newEndpoint(ws.ID, wagate.EventMessageSent)
			f.failing(func() {
				unavailable(t, f.s.CreateEndpoint(f.ctx, fresh), "CreateEndpoint")
				_, err := f.s.UpdateEndpoint(f.ctx, epRef(e), func(e *wagate.Endpoint) error { e.Name, e.Enabled = "lost", false; return nil })
				unavailable(t, err, "UpdateEndpoint")
				unavailable(t, f.s.DeleteEndpoint(f.ctx, epRef(e)), "DeleteEndpoint")
				unavailable(t, f.s.RecordDelivery(f.ctx, &wagate.EndpointDelivery{WorkspaceID: ws.ID, EndpointID: e.ID, Status: wagate.DeliverySucceeded}), "RecordDelivery")
				_, err = f.s.RetryDelivery(f.ctx, epRef(e), failed.ID, time.Time{})
				unavailable(t, err, "RetryDelivery")
			})
			_, err := f.s.FindEndpoint(f.ctx, epRef(fresh))
			wantCode(t, err, wagate.ENOTFOUND, "FindEndpoint of the endpoint whose create failed")
			if got := findEndpoint(f, e); got.Name != "CRM" || !got.Enabled {
				t.Errorf("a failed update or delete changed the endpoint: name %q, enabled %v", got.Name, got.Enabled)
			}
			list, _, err := f.s.ListDeliveries(f.ctx, epRef(e), 10, "")
			must(t, err, "ListDeliveries")
			if len(list) != 1 || list[0].ID != failed.ID || list[0].Status != wagate.DeliveryFailed {
				t.Errorf("history after failed writes: %+v, want only the failed %s", list, failed.ID)
			}
		}},
	}
}
