package postgres

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The audit finds nothing in a store its own writes made, and names the
// workspace, chat or message of each broken invariant.
func TestAudit(t *testing.T) {
	ctx := context.Background()
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	w.workspace("ws_b", 10)
	var ids []string
	for _, ws := range []string{"ws_a", "ws_a", "ws_b"} {
		j := w.job(ws, 2)
		if _, err := w.db.Accept(ctx, j.a); err != nil {
			t.Fatalf("Accept: %v", err)
		}
		ids = append(ids, j.a.Message.ID)
	}
	if _, err := w.db.CancelMessage(ctx, "ws_a", ids[1], "api", w.now); err != nil {
		t.Fatalf("CancelMessage: %v", err)
	}
	// A sent message pruned by retention still counts as spent.
	if _, err := w.db.pool.Exec(ctx, `UPDATE messages SET status = 'sent', sent_at = $2 WHERE id = $1`, ids[0], w.now); err != nil {
		t.Fatal(err)
	}
	if n, err := w.db.PruneMessages(ctx, w.now.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("PruneMessages = %d, %v; want the sent and the cancelled message", n, err)
	}
	if problems, err := w.db.Audit(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("Audit of a sound store = %q, %v; want no problems", problems, err)
	}

	j := w.job("ws_a", 1)
	if _, err := w.db.Accept(ctx, j.a); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	ids = append(ids, j.a.Message.ID)
	for _, sql := range []string{
		`UPDATE workspaces SET balance = balance + 1 WHERE id = 'ws_a'`,
		`UPDATE workspaces SET chat_seq = 0 WHERE id = 'ws_b'`,
		`DELETE FROM accounts WHERE workspace_id = 'ws_b'`,                                                  // behind DeleteAccount's back: its queued message stays
		`UPDATE accounts SET connected_at = connected_at + interval '1 second' WHERE workspace_id = 'ws_a'`, // as if deleted and connected again
	} {
		if _, err := w.db.pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	problems, err := w.db.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"workspace ws_a: credits do not add up", "workspace ws_b: chat 1 is above the chat counter 0", "message " + ids[2] + " is queued for account +14155552671 of workspace ws_b, which is gone",
		"message " + ids[3] + " is queued for an earlier account +14155552671 of workspace ws_a"}
	if len(problems) != len(want) {
		t.Fatalf("Audit = %q; want %d problems", problems, len(want))
	}
	for i, p := range problems {
		if !strings.HasPrefix(p, want[i]) {
			t.Errorf("problem %d = %q, want it to start %q", i, p, want[i])
		}
	}
}
