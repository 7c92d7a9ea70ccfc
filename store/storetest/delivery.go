package storetest

import (
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// forward is the advance rule of the Cloud API transport, reduced: a
// report applies when it moves the message forward.
func forward(current, next string) bool {
	rank := map[string]int{"": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}
	return rank[next] > rank[current]
}

// sentWith sends a message of phone1 through the queue with providerID.
func (w *world[S]) sentWith(providerID string, credits int64) *wagate.Message {
	w.t.Helper()
	m := w.queued(jidA, credits)
	w.sending(m.ID)
	must(w.t, w.s.MarkSent(w.ctx, m.ID, wagate.Try{At: w.clock.Now(), ProviderID: providerID}), "MarkSent")
	return m
}

func deliveryBehaviours[S Store]() []behaviour[S] {
	return []behaviour[S]{
		{"a delivery report moves the sent message forward", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.sentWith("wamid.1", 2)
			at := f.clock.Now().Add(time.Minute)
			got, applied, err := f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: "delivered", At: at}, forward)
			must(t, err, "ApplyDelivery")
			if !applied || got.ID != m.ID || got.Delivery != "delivered" {
				t.Fatalf("applied=%v message %+v, want %s delivered", applied, got, m.ID)
			}
			sameTime(t, got.DeliveryAt, at, "DeliveryAt")
			stored := w.message(m.ID)
			if stored.Delivery != "delivered" || stored.Status != wagate.StatusSent {
				t.Errorf("stored delivery %q status %s", stored.Delivery, stored.Status)
			}
			got, applied, err = f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: "sent", At: at}, forward)
			must(t, err, "ApplyDelivery late")
			if applied || got == nil || got.Delivery != "delivered" {
				t.Errorf("a late report: applied=%v delivery %v, want not applied, still delivered", applied, got)
			}
		}},
		{"a failed report on a sent message fails and refunds it once", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.sentWith("wamid.1", 4)
			got, applied, err := f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: "failed", Error: "131026: undeliverable"}, forward)
			must(t, err, "ApplyDelivery failed")
			if !applied || got.Status != wagate.StatusFailed || got.Error != "131026: undeliverable" {
				t.Errorf("applied=%v %s %q, want failed with the report's error", applied, got.Status, got.Error)
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100", b)
			}
			_, applied, err = f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: "failed"}, func(string, string) bool { return true })
			must(t, err, "ApplyDelivery failed again")
			if applied {
				t.Error("a second report applied to a failed message")
			}
			if b := w.balance(); b != 100 {
				t.Errorf("balance %d, want 100 (refunded once)", b)
			}
			if got := w.message(m.ID); got.Status != wagate.StatusFailed {
				t.Errorf("status %s", got.Status)
			}
		}},
		{"a report with an unknown provider id is not found", func(t *testing.T, f *fixture[S]) {
			newWorld(f, 100)
			_, _, err := f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.unknown", Status: "read"}, forward)
			wantCode(t, err, wagate.ENOTFOUND, "ApplyDelivery")
		}},
		{"a report is matched by its sender, not by the provider id alone", func(t *testing.T, f *fixture[S]) {
			w := newWorld(f, 100)
			m := w.sentWith("wamid.1", 1)
			wrong := wagate.DeliverySender{Setting: "phone_number_id", Value: "pn-0"}
			_, _, err := f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: "read", From: wrong}, forward)
			wantCode(t, err, wagate.ENOTFOUND, "ApplyDelivery from another number")
			if got := w.message(m.ID); got.Delivery != "" {
				t.Errorf("a report from another number was applied: %q", got.Delivery)
			}
			right := wagate.DeliverySender{Setting: "phone_number_id", Value: "pn-14155552671"}
			_, applied, err := f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: "read", From: right}, forward)
			must(t, err, "ApplyDelivery from the sending number")
			if !applied {
				t.Error("the sender's report was not applied")
			}
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceSystem, time.Time{}), "DeleteAccount")
			_, _, err = f.s.ApplyDelivery(f.ctx, wagate.DeliveryUpdate{ProviderID: "wamid.1", Status: "failed", From: right}, forward)
			wantCode(t, err, wagate.ENOTFOUND, "ApplyDelivery after the account was deleted")
		}},
	}
}
