package store

import (
	"fmt"
	mathrand "math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// An event exists if and only if the change it reports committed: each
// write that makes an event, failed at the last moment, leaves no event,
// no delivery and wakes nobody; the same write without the fault leaves
// exactly its event.
func TestFailedCommitWritesNoEvent(t *testing.T) {
	tests := []struct {
		op      string
		prepare func(f *fixture) faultState
		act     func(f *fixture, s faultState) error
		want    []string // the events the act writes when it commits
	}{
		{"accept", nil, func(f *fixture, _ faultState) error {
			_, err := f.db.Accept(f.ctx, f.request("hello", 1))
			return err
		}, []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt}},
		{"record attempt", nil, func(f *fixture, _ faultState) error {
			return f.db.RecordAttempt(f.ctx, f.ws.ID, &wagate.Attempt{At: f.clock.Now(), Code: wagate.EINVALID, Message: "bad"})
		}, []string{wagate.EventWebhookAttempt}},
		{"mark sent", sendingMessage, func(f *fixture, s faultState) error {
			return f.db.MarkSent(f.ctx, s.id, wagate.Try{At: f.clock.Now(), ProviderID: "wamid.1"})
		}, []string{wagate.EventMessageSent}},
		{"mark failed", sendingMessage, func(f *fixture, s faultState) error {
			return f.db.MarkFailed(f.ctx, s.id, wagate.Try{At: f.clock.Now(), Error: "not on WhatsApp"})
		}, []string{wagate.EventMessageFailed}},
		{"recover sending", sendingMessage, func(f *fixture, _ faultState) error {
			_, err := f.db.RecoverSending(f.ctx, f.clock.Now())
			return err
		}, []string{wagate.EventMessageFailed}},
		{"apply delivery", func(f *fixture) faultState { return faultState{f.sendWith("wamid.late")} }, func(f *fixture, _ faultState) error {
			_, _, err := f.db.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.late", Status: "read", At: f.clock.Now()}, func(_, _ string) bool { return true })
			return err
		}, []string{wagate.EventMessageRead}},
		{"cancel message", func(f *fixture) faultState { return faultState{f.send("queued")} }, func(f *fixture, s faultState) error {
			_, err := f.db.CancelMessage(f.ctx, f.ws.ID, s.id, wagate.SourceAPI, f.clock.Now())
			return err
		}, []string{wagate.EventMessageCancelled}},
		{"delete account", func(f *fixture) faultState { return faultState{f.send("queued")} }, func(f *fixture, _ faultState) error {
			return f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now())
		}, []string{wagate.EventMessageFailed}},
		{"record account event", nil, func(f *fixture, _ faultState) error {
			_, err := f.db.RecordAccountEvent(f.ctx, f.ref(), wagate.EventAccountDisconnect, f.clock.Now(), func(a *wagate.Account) error {
				a.Active = false
				return nil
			})
			return err
		}, []string{wagate.EventAccountDisconnect}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			f, sw := newFaultFixture(t, 10)
			e := f.createEndpoint(wagate.EventTypes...)
			w := f.watch()
			var s faultState
			if tt.prepare != nil {
				s = tt.prepare(f)
			}
			before := f.outboxEvents(e)
			w.take()

			sw.set(tt.op)
			err := tt.act(f, s)
			if sw.fired() == 0 {
				t.Fatalf("FailCommit was never asked about %q", tt.op)
			}
			wantCode(t, err, wagate.EUNAVAILABLE)
			if got := f.outboxEvents(e); len(got) != len(before) {
				t.Errorf("a failed %q left events %v", tt.op, eventTypes(got[len(before):]))
			}
			if got := w.take(); len(got) != 0 {
				t.Errorf("a failed %q woke the deliverer for %v", tt.op, got)
			}

			sw.set("")
			mustNoErr(t, tt.act(f, s))
			if got := eventTypes(f.outboxEvents(e)[len(before):]); !slices.Equal(got, tt.want) {
				t.Errorf("%q without the fault wrote %v, want %v", tt.op, got, tt.want)
			}
			if got := w.take(); len(got) != len(tt.want) {
				t.Errorf("wake-ups %v after %q, want one per event", got, tt.op)
			}
		})
	}
}

// Concurrent accepts share group commits, a seeded third of which fail
// (and bbolt runs the others again): every accepted message has exactly one
// message.queued event, a refused one none, and no event is written twice.
func TestEventsInFailingGroupCommits(t *testing.T) {
	const workers, each = 16, 8
	f, _ := newFaultFixture(t, 1000)
	e := f.createEndpoint(wagate.EventMessageQueued)
	seed := mathrand.Uint64()
	t.Logf("seed %d", seed)
	var mu sync.Mutex
	rng := mathrand.New(mathrand.NewPCG(seed, seed))
	f.db.failCommit = func(op string) error {
		mu.Lock()
		defer mu.Unlock()
		if op == "accept" && rng.IntN(3) == 0 {
			return syscall.ENOSPC
		}
		return nil
	}
	var (
		accepted sync.Map // message id -> true if committed
		wg       sync.WaitGroup
	)
	for w := range workers {
		reqs := make([]*wagate.Accept, each)
		for i := range reqs {
			reqs[i] = f.request(fmt.Sprintf("w%d m%d", w, i), 1)
		}
		wg.Go(func() {
			for _, a := range reqs {
				_, err := f.db.Accept(f.ctx, a)
				accepted.Store(a.Message.ID, err == nil)
			}
		})
	}
	wg.Wait()
	f.db.failCommit = nil

	counts := map[string]int{}
	ids := map[string]bool{}
	for _, ev := range f.outboxEvents(e) {
		counts[ev.Message.ID]++
		if ids[ev.ID] {
			t.Errorf("event id %s written twice", ev.ID)
		}
		ids[ev.ID] = true
	}
	ok, failed := 0, 0
	accepted.Range(func(k, v any) bool {
		id := k.(string)
		want := 0
		if v.(bool) {
			want, ok = 1, ok+1
		} else {
			failed++
		}
		if counts[id] != want {
			t.Errorf("message %s (committed %v) has %d message.queued events, want %d", id, v, counts[id], want)
		}
		return true
	})
	if ok == 0 || failed == 0 {
		t.Fatalf("%d accepted, %d failed: the seed did not mix successes and faults", ok, failed)
	}
}

// The endpoint and outbox writes are all or nothing too: failed at the last
// moment, the file is byte for byte what it was.
func TestFailedEndpointCommitsLeaveNothingWritten(t *testing.T) {
	type state struct {
		e *wagate.Endpoint
		d *wagate.EndpointDelivery
	}
	withPending := func(f *fixture) state {
		e := f.createEndpoint(wagate.EventMessageQueued)
		f.send("hi")
		ds, _ := f.nextDue(e, 1)
		return state{e, ds[0].Delivery}
	}
	withFailed := func(f *fixture) state {
		e := f.createEndpoint(wagate.EventMessageQueued)
		return state{e, f.recordDelivery(e, wagate.DeliveryFailed)}
	}
	tests := []struct {
		op      string
		prepare func(f *fixture) state
		act     func(f *fixture, s state) error
	}{
		{"create endpoint", func(*fixture) state { return state{} }, func(f *fixture, _ state) error {
			return f.db.CreateEndpoint(f.ctx, f.newEndpoint(wagate.EventMessageSent))
		}},
		{"update endpoint", withPending, func(f *fixture, s state) error {
			_, err := f.db.UpdateEndpoint(f.ctx, epRef(s.e), func(e *wagate.Endpoint) error { e.Enabled = false; return nil })
			return err
		}},
		{"delete endpoint", withPending, func(f *fixture, s state) error { return f.db.DeleteEndpoint(f.ctx, epRef(s.e)) }},
		{"record delivery", withFailed, func(f *fixture, s state) error {
			return f.db.RecordDelivery(f.ctx, &wagate.EndpointDelivery{WorkspaceID: f.ws.ID, EndpointID: s.e.ID, Status: wagate.DeliverySucceeded})
		}},
		{"retry delivery", withFailed, func(f *fixture, s state) error {
			_, err := f.db.RetryDelivery(f.ctx, epRef(s.e), s.d.ID, time.Time{})
			return err
		}},
		{"finish attempt", withPending, func(f *fixture, s state) error {
			d := *s.d
			d.Status = wagate.DeliveryFailed
			return f.db.FinishAttempt(f.ctx, &d, "410")
		}},
		{"set low credits", func(*fixture) state { return state{} }, func(f *fixture, _ state) error {
			_, err := f.db.SetLowCredits(f.ctx, f.ws.ID, 3)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			f, sw := newFaultFixture(t, 10)
			s := tt.prepare(f)
			before := snapshot(t, f.db)
			sw.set(tt.op)
			err := tt.act(f, s)
			if sw.fired() == 0 {
				t.Fatalf("FailCommit was never asked about %q", tt.op)
			}
			wantCode(t, err, wagate.EUNAVAILABLE)
			if got := snapshot(t, f.db); got != before {
				t.Fatalf("a failed %q changed the file:\nbefore:\n%s\nafter:\n%s", tt.op, before, got)
			}
			sw.set("")
			mustNoErr(t, tt.act(f, s))
			if snapshot(t, f.db) == before {
				t.Fatalf("%q without the fault wrote nothing: the test proves nothing", tt.op)
			}
		})
	}
}
