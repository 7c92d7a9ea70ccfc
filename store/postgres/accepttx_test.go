package postgres

import (
	"context"
	"testing"

	"github.com/wagate/wagate"
)

// The batch's memory and its queued writes (accepttx.go) must read as if
// each accept ran its statements alone, in order.

func TestBatchSeesAKeyUsedEarlierInTheSameBatch(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	first, again, other := w.job("ws_a", 2), w.job("ws_a", 2), w.job("ws_a", 2)
	for _, j := range []*acceptJob{first, again, other} {
		j.a.IdempotencyKey, j.a.BodyHash = "order-1", [32]byte{1}
	}
	other.a.BodyHash = [32]byte{2}
	w.db.commitBatch([]*acceptJob{first, again, other})
	if first.err != nil || first.run.outcome != nil || first.run.res == nil || first.run.res.Replayed {
		t.Fatalf("the first: err %v outcome %v, want it accepted", first.err, first.run.outcome)
	}
	if again.err != nil || again.run.res == nil || !again.run.res.Replayed || again.run.res.Message.ID != first.a.Message.ID {
		t.Errorf("the same key and body in the same batch: err %v outcome %v, want a replay of %s (its record was queued, not yet written)",
			again.err, again.run.outcome, first.a.Message.ID)
	}
	if other.err != nil || wagate.ErrorCode(other.run.outcome) != wagate.EIDEMPOTENCY {
		t.Errorf("the same key with another body: err %v outcome %v, want EIDEMPOTENCY", other.err, other.run.outcome)
	}
	if b := w.balance("ws_a"); b != 8 {
		t.Errorf("balance %d, want 8: the key's one message charged once", b)
	}
}

func TestBatchKeepsTheBalanceOfEachWorkspaceAndTheAttemptRing(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 1000)
	w.workspace("ws_b", 5)
	var batch []*acceptJob
	for range wagate.AttemptLimit + 10 {
		batch = append(batch, w.job("ws_a", 1))
	}
	for range 7 {
		batch = append(batch, w.job("ws_b", 1)) // the last two find no credits
	}
	w.db.commitBatch(batch)
	for _, j := range batch {
		if j.err != nil {
			t.Fatalf("job %s: %v, want no storage error", j.a.Message.ID, j.err)
		}
	}
	if a, b := w.balance("ws_a"), w.balance("ws_b"); a != 1000-wagate.AttemptLimit-10 || b != 0 {
		t.Errorf("balances %d and %d, want %d and 0: every charge of the batch written", a, b, 1000-wagate.AttemptLimit-10)
	}
	if got := w.attempts("ws_a"); len(got) != wagate.AttemptLimit {
		t.Errorf("ws_a keeps %d attempts, want the ring's %d after a batch of %d", len(got), wagate.AttemptLimit, wagate.AttemptLimit+10)
	}
	got := w.attempts("ws_b")
	if len(got) != 7 || got[0].Code != wagate.ECREDITS || got[2].Code != "" {
		t.Errorf("ws_b: %d attempts, newest code %q, third newest %q: want 7, the last two refused ECREDITS", len(got), got[0].Code, got[2].Code)
	}
}

func TestBatchWritesTheEventsOfEveryAcceptForASubscribedEndpoint(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	ctx := context.Background()
	ep := wagate.EndpointRef{WorkspaceID: "ws_a", ID: "ep_batch"}
	if err := w.db.CreateEndpoint(ctx, &wagate.Endpoint{ID: ep.ID, WorkspaceID: ep.WorkspaceID, Enabled: true, URL: "https://crm.example",
		Events: []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}); err != nil {
		t.Fatal(err)
	}
	batch := []*acceptJob{w.job("ws_a", 1), w.job("ws_a", 1), w.job("ws_a", 1)}
	w.db.commitBatch(batch)
	list, _, err := w.db.ListDeliveries(ctx, ep, 20, "")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, d := range list {
		count[d.Event]++
	}
	if count[wagate.EventMessageQueued] != 3 || count[wagate.EventWebhookAttempt] != 3 {
		t.Errorf("deliveries %v, want 3 message.queued and 3 webhook.attempt: the subscriptions read once serve every accept", count)
	}
}
