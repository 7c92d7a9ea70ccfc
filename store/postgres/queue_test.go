package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// accepted is an accept of the job's message that must succeed.
func (w *batchWorld) accepted(ws string) *wagate.Message {
	w.t.Helper()
	res, err := w.db.Accept(context.Background(), w.job(ws, 1).a)
	if err != nil {
		w.t.Fatalf("Accept: %v", err)
	}
	return res.Message
}

// TestWaitingByAccountCut: past the scan limit the counts are of the
// oldest messages and say so (store/'s TestWaitingByAccountCut).
func TestWaitingByAccountCut(t *testing.T) {
	w := newBatchWorld(t, nil)
	ctx := context.Background()
	defer func(n int) { waitingScanLimit = n }(waitingScanLimit)
	waitingScanLimit = 2
	w.workspace("ws_a", 10)
	for range 3 {
		m := w.accepted("ws_a")
		if err := w.db.Hold(ctx, m.ID, wagate.WaitingDailyLimit, w.now.Add(time.Hour)); err != nil {
			t.Fatalf("Hold: %v", err)
		}
	}
	counts, complete, err := w.db.WaitingByAccount(ctx, "ws_a")
	if err != nil || complete || counts["+14155552671"][wagate.WaitingDailyLimit] != 2 {
		t.Fatalf("WaitingByAccount past the limit = %v, complete %v, %v; want 2 counted and not complete", counts, complete, err)
	}
}

// TestDeliveryReportFindsItsSenderAmongSameProviderIDs: two accounts whose
// sends got the same provider id (ids are unique per sending number, not
// across numbers) each get their own reports: the report is matched by
// (sender, provider id), not by the newest message with the id.
func TestDeliveryReportFindsItsSenderAmongSameProviderIDs(t *testing.T) {
	w := newBatchWorld(t, nil)
	ctx := context.Background()
	var sent []*wagate.Message
	for _, ws := range []string{"ws_a", "ws_b"} {
		w.workspace(ws, 10)
		// Each account's number id is its workspace's id, for short.
		if _, err := w.db.pool.Exec(ctx, `UPDATE accounts SET settings = jsonb_build_object('phone_number_id', $1::text) WHERE workspace_id = $1`, ws); err != nil {
			t.Fatal(err)
		}
		m := w.accepted(ws)
		if err := w.db.MarkSending(ctx, m.ID, w.now); err != nil {
			t.Fatalf("MarkSending: %v", err)
		}
		if err := w.db.MarkSent(ctx, m.ID, wagate.Try{At: w.now, ProviderID: "wamid.same"}); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
		sent = append(sent, m)
	}
	always := func(string, string) bool { return true }
	for i, ws := range []string{"ws_a", "ws_b"} {
		got, applied, err := w.db.ApplyDelivery(ctx, wagate.DeliveryUpdate{ProviderID: "wamid.same", Status: "read",
			From: wagate.DeliverySender{Setting: "phone_number_id", Value: ws}}, always)
		if err != nil || !applied || got.ID != sent[i].ID {
			t.Errorf("report from %s: %v applied=%v %v; want %s", ws, got, applied, err, sent[i].ID)
		}
	}
	_, _, err := w.db.ApplyDelivery(ctx, wagate.DeliveryUpdate{ProviderID: "wamid.same", Status: "read",
		From: wagate.DeliverySender{Setting: "phone_number_id", Value: "ws_c"}}, always)
	if wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("a report from a third sender: %v, want ENOTFOUND", err)
	}
}
