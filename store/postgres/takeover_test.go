package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// Confirm at takeover (takeover.go): the replica taking an account over
// asks the transport about its previous holder's interrupted sends when
// the transport's Confirmer answers across replicas.

// ledgerTransport is every replica's transport over one shared ledger (as
// the WhatsApp Web send ledger in the database is): it answers Confirm
// from the ledger, and records the sends of the replica using it.
type ledgerTransport struct {
	answers map[string]sender.Delivery // what the dead replica's sends became

	mu    sync.Mutex
	sends []string
	asked []string
	sent  chan string
}

func (tr *ledgerTransport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (sender.Result, error) {
	tr.mu.Lock()
	tr.sends = append(tr.sends, m.ID)
	tr.mu.Unlock()
	tr.sent <- m.ID
	return sender.Result{ProviderID: "ledger:" + m.ID}, nil
}

func (tr *ledgerTransport) Confirm(ctx context.Context, acct *wagate.Account, m *wagate.Message) (sender.Delivery, string, error) {
	tr.mu.Lock()
	tr.asked = append(tr.asked, m.ID)
	tr.mu.Unlock()
	d := tr.answers[m.ID]
	if d == sender.Delivered {
		return d, "wamid." + m.ID, nil
	}
	return d, "", nil
}

func (tr *ledgerTransport) ConfirmsAcrossReplicas() bool { return true }

// TestTakeoverConfirmsWithTheSharedLedger: replica a marks three messages
// of an account sending and dies (its lease expires); the real sender of
// replica b takes the account over and asks the transport. The delivered
// one becomes sent with the transport's provider id and counts as a send
// of the account; the one not delivered goes back to its place and is sent
// once, by b, before the message queued behind it; the unknown one fails
// and is refunded once. Credits: only the unknown one comes back.
func TestTakeoverConfirmsWithTheSharedLedger(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	ref := r.account("+14155550001", 0)
	delivered, notDelivered, unknown := r.accept(r.a, ref), r.accept(r.a, ref), r.accept(r.a, ref)
	next := r.accept(r.a, ref)
	r.lease(r.a)
	// a's sends started long enough ago (real time: the sender's clock)
	// that none can be under way: a NotDelivered is to be trusted.
	start := time.Now().Add(-sender.DefaultSendTimeout - time.Minute)
	for _, m := range []*wagate.Message{delivered, notDelivered, unknown} {
		if err := r.a.MarkSendingPaced(ctx, m.ID, start, start, time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := r.a.FindWorkspace(ctx, "ws")
	r.clock.advance(testTTL) // a died: its lease expires

	tr := &ledgerTransport{sent: make(chan string, 4), answers: map[string]sender.Delivery{
		delivered.ID: sender.Delivered, notDelivered.ID: sender.NotDelivered, unknown.ID: sender.DeliveryUnknown}}
	s := sender.New(r.b, map[string]sender.Transport{wagate.TransportDryrun: tr},
		sender.Config{Interval: time.Millisecond, Jitter: -1, LeaseEvery: time.Hour, Logger: zaptest.NewLogger(t)})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	first, second := <-tr.sent, <-tr.sent
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if first != notDelivered.ID || second != next.ID {
		t.Errorf("b sent %s then %s; want %s (requeued at its place), then %s", first, second, notDelivered.ID, next.ID)
	}
	tr.mu.Lock()
	if len(tr.sends) != 2 || len(tr.asked) != 3 {
		t.Errorf("b sent %v and asked about %v; want two sends, three questions", tr.sends, tr.asked)
	}
	tr.mu.Unlock()
	got := func(m *wagate.Message) *wagate.Message {
		t.Helper()
		g, err := r.b.FindMessage(ctx, "ws", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := got(delivered); g.Status != wagate.StatusSent || len(g.Tries) != 1 || g.Tries[0].ProviderID != "wamid."+delivered.ID ||
		g.Tries[0].Class != wagate.TryClassInterrupted || g.Tries[0].Result != wagate.TryResultSent {
		t.Errorf("delivered: %s, tries %+v; want sent with one interrupted try carrying the transport's provider id", g.Status, g.Tries)
	}
	if g := got(notDelivered); g.Status != wagate.StatusSent || len(g.Tries) != 2 || g.Tries[0].Result != wagate.TryResultRetry ||
		g.Tries[1].ProviderID != "ledger:"+notDelivered.ID {
		t.Errorf("not delivered: %s, tries %+v; want a retry try at the takeover, then sent by b", g.Status, g.Tries)
	}
	if g := got(unknown); g.Status != wagate.StatusFailed || g.Error != ErrorInterrupted {
		t.Errorf("unknown: %s (%q); want failed as interrupted", g.Status, g.Error)
	}
	after, _ := r.b.FindWorkspace(ctx, "ws")
	if after.Credits != before.Credits+1 {
		t.Errorf("balance %d, want %d: only the unknown message refunded, once", after.Credits, before.Credits+1)
	}
	sends, _, err := r.b.SendHistory(ctx, ref, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sends) != 3 {
		t.Errorf("the account's send history holds %d sends, want 3: the confirmed one and b's two", len(sends))
	}
}

// TestSettleAccountIsFenced: only the lease's holder settles; a stale
// holder's SettleAccount writes nothing. An answer for a message no longer
// in sending is ignored.
func TestSettleAccountIsFenced(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	ref := r.account("+14155550001", 0)
	m1, m2 := r.accept(r.a, ref), r.accept(r.a, ref)
	r.lease(r.a)
	now := r.clock.Now()
	if err := r.a.MarkSendingPaced(ctx, m1.ID, now, now, time.Second); err != nil {
		t.Fatal(err)
	}
	r.clock.advance(testTTL)
	r.lease(r.b)
	answers := map[string]wagate.Try{
		m1.ID: {Result: wagate.TryResultSent, Class: wagate.TryClassInterrupted, ProviderID: "p1"},
		m2.ID: {Result: wagate.TryResultSent, ProviderID: "queued, not sending"},
	}
	if _, err := r.a.SettleAccount(ctx, ref, r.clock.Now(), answers); err == nil {
		t.Fatal("a stale holder settled the account")
	} else {
		wantLost(t, "a's SettleAccount", err)
	}
	settled, err := r.b.SettleAccount(ctx, ref, r.clock.Now(), answers)
	if err != nil {
		t.Fatal(err)
	}
	if len(settled) != 1 || settled[m1.ID] != wagate.StatusSent {
		t.Errorf("settled %v, want only m1, sent", settled)
	}
	if g, _ := r.b.FindMessage(ctx, "ws", m2.ID); g.Status != wagate.StatusQueued {
		t.Errorf("m2 is %s, want still queued: it was not in sending", g.Status)
	}
}
