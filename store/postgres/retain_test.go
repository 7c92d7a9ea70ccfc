package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// Retention keeps the credits of the sent messages it deletes in
// workspaces.pruned_credits, so granted == balance + held + pruned still
// holds; a sent message is judged by its last try, not its acceptance.
// (Messages are marked sent with SQL: this backend has no send queue yet.)
func TestPruneKeepsSpentCredits(t *testing.T) {
	ctx := context.Background()
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	var ids []string
	for _, credits := range []int64{2, 3, 1} {
		j := w.job("ws_a", credits)
		if _, err := w.db.Accept(ctx, j.a); err != nil {
			t.Fatalf("Accept: %v", err)
		}
		ids = append(ids, j.a.Message.ID)
	}
	sentAt := w.now.Add(time.Minute)
	late := w.now.Add(3 * time.Hour)
	for _, st := range []struct {
		id    string
		tries string
	}{
		{ids[0], `[{"at":"` + sentAt.Format(time.RFC3339Nano) + `","result":"sent"}]`},
		{ids[1], `[{"at":"` + sentAt.Format(time.RFC3339Nano) + `","result":"sent"},{"at":"` + late.Format(time.RFC3339Nano) + `","result":"sent"}]`},
	} {
		if _, err := w.db.pool.Exec(ctx, `UPDATE messages SET status = 'sent', sent_at = $2, tries = $3 WHERE id = $1`, st.id, sentAt, st.tries); err != nil {
			t.Fatal(err)
		}
	}
	n, err := w.db.PruneMessages(ctx, w.now.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneMessages = %d, %v; want the message sent before the cut (the other's last try is after it)", n, err)
	}
	if _, err := w.db.FindMessage(ctx, "ws_a", ids[0]); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("FindMessage of the pruned message = %v, want ENOTFOUND", err)
	}
	var granted, balance, held, pruned int64
	if err := w.db.pool.QueryRow(ctx, `SELECT granted, balance, pruned_credits,
		(SELECT coalesce(sum(credits), 0) FROM messages WHERE workspace_id = w.id AND status <> 'failed')
		FROM workspaces w WHERE id = 'ws_a'`).Scan(&granted, &balance, &pruned, &held); err != nil {
		t.Fatal(err)
	}
	if pruned != 2 || granted != balance+held+pruned {
		t.Errorf("granted %d, balance %d, held %d, pruned %d: want pruned 2 and granted = balance + held + pruned", granted, balance, held, pruned)
	}
}
