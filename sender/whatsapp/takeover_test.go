//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// TestConfirmAcrossReplicasReadsTheSharedLedger: with the ledger in the
// shared database, a replica that takes an account over (its own
// Manager, its own connections, no session of the account) answers for
// the sends the account's previous replica made: acknowledged → delivered,
// refused or never posted → not delivered, posted with no word →
// unknown. With the SQLite file of one process it says it cannot.
func TestConfirmAcrossReplicasReadsTheSharedLedger(t *testing.T) {
	ctx := context.Background()
	url := pgDatabase(t)
	ksA, ksB := openTestPGKeystore(t, url), openTestPGKeystore(t, url)
	defer ksA.close()
	defer ksB.close()
	b := newManager(Config{DatabaseURL: url, Logger: zaptest.NewLogger(t)}, newFakeDevices(), ksB)
	defer b.Close()
	if !b.ConfirmsAcrossReplicas() {
		t.Fatal("a Manager with its ledger in the shared database must confirm across replicas")
	}
	if newManager(Config{}, newFakeDevices(), newMemLedger()).ConfirmsAcrossReplicas() {
		t.Error("a Manager with a ledger of its own process must not confirm across replicas")
	}

	acct := &wagate.Account{WorkspaceID: "ws", Phone: "+14155550001", Transport: TransportName}
	msg := func(id string) *wagate.Message {
		return &wagate.Message{ID: id, WorkspaceID: "ws", AccountPhone: acct.Phone, JID: "14155550100@s.whatsapp.net"}
	}
	acked, refused, posting, never := msg("wa_a"), msg("wa_b"), msg("wa_c"), msg("wa_d")
	now := time.Now()
	// What replica a's sends wrote before it died.
	for _, w := range []struct {
		m    *wagate.Message
		kind string
	}{{acked, ledgerPosting}, {acked, ledgerAcked}, {refused, ledgerPosting}, {refused, ledgerRefused}, {posting, ledgerPosting}} {
		if err := ksA.seen(ctx, acct.Ref(), MessageID(w.m.ID), w.kind, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		m    *wagate.Message
		want sender.Delivery
		id   string
	}{
		{acked, sender.Delivered, MessageID(acked.ID)},
		{refused, sender.NotDelivered, ""},
		{posting, sender.DeliveryUnknown, ""},
		{never, sender.NotDelivered, ""},
	} {
		d, id, err := b.Confirm(ctx, acct, tt.m)
		if err != nil || d != tt.want || id != tt.id {
			t.Errorf("b.Confirm(%s) = %v, %q, %v; want %v, %q", tt.m.ID, d, id, err, tt.want, tt.id)
		}
	}
}
