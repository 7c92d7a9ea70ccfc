package sender

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/wagate/wagate"
)

func TestRecoverAsksTheConfirmer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		delivered := q.addTo(ref, "1111@s.whatsapp.net", "went out before the crash")
		notSent := q.addTo(ref, "2222@s.whatsapp.net", "never reached the transport")
		unknown := q.addTo(ref, "3333@s.whatsapp.net", "nobody knows")
		broken := q.addTo(ref, "4444@s.whatsapp.net", "the confirmer fails")
		queued := q.addTo(ref, "2222@s.whatsapp.net", "queued behind notSent")
		for _, id := range []string{delivered, notSent, unknown, broken} {
			q.setSending(id)
		}
		tr := &confirmingTransport{
			fakeTransport: fakeTransport{called: make(chan string, 5)},
			answers:       map[string]Delivery{delivered: Delivered, notSent: NotDelivered},
			errs:          map[string]error{broken: errors.New("outbox unreadable")},
		}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		got := waitCalled(t, tr.called, 2)
		stop()

		// notSent goes back to its place, before the message queued behind
		// it; delivered is never sent again.
		if !slices.Equal(got, []string{notSent, queued}) {
			t.Fatalf("sent %v, want %v", got, []string{notSent, queued})
		}
		m := q.message(delivered)
		if m.Status != wagate.StatusSent || len(m.Tries) != 1 || m.Tries[0].Class != wagate.TryClassInterrupted || m.Tries[0].ProviderID != "fake:"+delivered {
			t.Errorf("delivered = %+v, want sent with one interrupted try carrying the provider id", m)
		}
		m = q.message(notSent)
		if m.Status != wagate.StatusSent || len(m.Tries) != 2 || m.Tries[0].Result != wagate.TryResultRetry || m.Tries[0].Class != wagate.TryClassInterrupted {
			t.Errorf("notSent = %+v, want an interrupted retry try, then sent", m)
		}
		for _, id := range []string{unknown, broken} {
			if st := q.status(id); st != wagate.StatusFailed || q.refunded(id) != 1 {
				t.Errorf("%s is %s with %d refunded, want failed as interrupted and refunded once", id, st, q.refunded(id))
			}
		}
		for outcome, want := range map[string]float64{recoveredSent: 1, recoveredRequeued: 1, recoveredFailed: 2} {
			if got := value(t, s.m.recovered.WithLabelValues(outcome)); got != want {
				t.Errorf("recovered_total{outcome=%s} = %v, want %v", outcome, got, want)
			}
		}
		// The interrupted try does not count as a retry of the schedule.
		if n := retriesOf(&m); n != 0 {
			t.Errorf("retriesOf(notSent) = %d, want 0", n)
		}
	})
}
