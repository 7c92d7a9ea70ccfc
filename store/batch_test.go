package store

import (
	"testing"

	"github.com/wagate/wagate"
)

func (f *fixture) batchOf(texts ...string) *wagate.AcceptBatch {
	f.t.Helper()
	b := &wagate.AcceptBatch{WorkspaceID: f.ws.ID, IdempotencyKey: "batch-1", BodyHash: [32]byte{1}}
	for _, text := range texts {
		b.Items = append(b.Items, f.request(text, 1))
		b.Refused = append(b.Refused, nil)
	}
	return b
}

// TestAcceptBatchAllOrNothing: a batch whose commit fails leaves nothing of
// any item (no message, charge, queue entry, attempt or idempotency
// record); the same batch then commits whole, and its key replays it.
func TestAcceptBatchAllOrNothing(t *testing.T) {
	f, sw := newFaultFixture(t, 10)
	before := snapshot(t, f.db)
	sw.set("accept batch")
	_, err := f.db.AcceptBatch(f.ctx, f.batchOf("a", "b", "c"))
	wantCode(t, err, wagate.EUNAVAILABLE)
	if sw.fired() == 0 {
		t.Fatal("the fault was never injected")
	}
	if after := snapshot(t, f.db); before != after {
		t.Fatal("a failed batch commit changed the file")
	}
	sw.set("")
	res, err := f.db.AcceptBatch(f.ctx, f.batchOf("a", "b", "c"))
	if err != nil || len(res.Items) != 3 || res.Replayed {
		t.Fatalf("AcceptBatch = %+v, %v", res, err)
	}
	if got := f.balance(); got != 7 {
		t.Fatalf("balance %d, want 7", got)
	}
	again, err := f.db.ReplayBatch(f.ctx, f.ws.ID, "batch-1", [32]byte{1})
	if err != nil || again == nil || !again.Replayed || again.Items[2].MessageID != res.Items[2].MessageID {
		t.Fatalf("ReplayBatch = %+v, %v", again, err)
	}
	_, err = f.db.ReplayBatch(f.ctx, f.ws.ID, "batch-1", [32]byte{2})
	wantCode(t, err, wagate.EIDEMPOTENCY)
	checkConsistent(t, f.db)
}
