package postgres

import (
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// A ClaimLease that commits while a lease round runs, after the round's
// renewal, is held after the round, though it read its clock before the
// round did (so it expires earlier than the round's renewals). The round
// used to tell such claims by a later expiry and dropped it: HoldsLease
// said false until the next round, and the linking session of a whatsapp
// account just claimed through POST …/link could not store its state and
// QR code for the other replicas (TestWhatsAppReplicasLinkPageOnAnyReplica
// answered 503 under load). A lease the round did not renew and nobody
// claimed meanwhile is gone after it.
func TestLeaseRoundKeepsAClaimMadeDuringIt(t *testing.T) {
	b, err := newLeaseBook("r1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	lost := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550001"}
	renewed := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550002"}
	claimed := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550003"}
	b.claimed(lost, 1, t0.Add(b.ttl))
	b.claimed(renewed, 1, t0.Add(b.ttl))

	since := b.roundBegins()
	roundNow := t0.Add(time.Second)
	b.claimed(claimed, 4, t0.Add(500*time.Millisecond).Add(b.ttl)) // clock read before the round's
	b.roundEnds(since, []wagate.AccountLease{{Account: renewed, Epoch: 1}}, roundNow.Add(b.ttl))

	for ref, want := range map[wagate.AccountRef]bool{lost: false, renewed: true, claimed: true} {
		if _, held := b.held[ref]; held != want {
			t.Errorf("%s held after the round = %v, want %v", ref.Phone, held, want)
		}
	}
	if h := b.held[claimed]; h.epoch != 4 {
		t.Errorf("the claim's epoch = %d, want 4", h.epoch)
	}
	// The next round did not renew it (lost meanwhile): it goes.
	b.roundEnds(b.roundBegins(), []wagate.AccountLease{{Account: renewed, Epoch: 1}}, roundNow.Add(time.Second).Add(b.ttl))
	if _, held := b.held[claimed]; held {
		t.Error("a claim the next round did not renew is still held")
	}
}
