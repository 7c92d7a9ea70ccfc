package store

import (
	"testing"
)

func TestQueueDepths(t *testing.T) {
	f := newFixture(t, 100)
	f.createAccount(f.ws.ID, testPhone2, true)
	other := f.createWorkspace(100) // the same phone in another workspace
	f.createAccount(other.ID, testPhone, true)
	for i := 0; i < 3; i++ {
		f.send("first account")
	}
	f.phone = testPhone2
	id := f.send("second account")

	depths, err := f.db.QueueDepths(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if len(depths) != 2 || depths[testPhone] != 3 || depths[testPhone2] != 1 {
		t.Fatalf("QueueDepths = %v, want %s: 3, %s: 1", depths, testPhone, testPhone2)
	}
	if d, err := f.db.QueueDepths(f.ctx, other.ID); err != nil || len(d) != 0 {
		t.Fatalf("the other workspace's depths = %v, %v; want none", d, err)
	}
	mustNoErr(t, f.db.MarkSending(f.ctx, id, f.clock.Now()))
	depths, err = f.db.QueueDepths(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if _, ok := depths[testPhone2]; ok || depths[testPhone] != 3 {
		t.Fatalf("after taking the second account's message: %v", depths)
	}
	if n, err := f.db.QueuedTotal(f.ctx); err != nil || n != 3 {
		t.Fatalf("QueuedTotal = %d, %v; want 3", n, err)
	}
}
