package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// The message lists stay indexed with the accept's fewer indexes
// (0017_pgspeed.sql): on a workspace of 20,000 messages, whether its queue
// is drained or long, no page of any status scans the table, with the plan
// made for its parameters or the generic one a cached statement may get.
func TestMessagePagesUseIndexes(t *testing.T) {
	ctx := context.Background()
	for _, shape := range []struct {
		name                          string
		queued, sending, sent, failed int
	}{
		{"drained queue", 40, 10, 19900, 50},
		{"long queue", 15000, 10, 4900, 90},
	} {
		t.Run(shape.name, func(t *testing.T) {
			w := newBatchWorld(t, nil)
			w.workspace("ws_a", 10)
			w.workspace("ws_b", 10)
			n := 0
			for _, part := range []struct {
				status wagate.MessageStatus
				n      int
			}{{wagate.StatusSent, shape.sent}, {wagate.StatusFailed, shape.failed}, {wagate.StatusSending, shape.sending}, {wagate.StatusQueued, shape.queued}} {
				for _, ws := range []string{"ws_a", "ws_b"} {
					if _, err := w.db.pool.Exec(ctx, `INSERT INTO messages (id, workspace_id, status, account_phone, account_connected_at, chat_id, jid, credits, created_at, queue_pos)
						SELECT $1 || $2 || i, $2, $3, '+14155552671', now(), 1, '14155550100@s.whatsapp.net', 1, now(),
							CASE WHEN $3 IN ('queued', 'sending') THEN nextval('messages_queue_pos') END
						FROM generate_series(1, $4) i`, fmt.Sprint("m", n), ws, string(part.status), part.n); err != nil {
						t.Fatal(err)
					}
					n++
				}
			}
			conn, err := w.db.pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, `ANALYZE messages`); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				for _, status := range []wagate.MessageStatus{"", wagate.StatusQueued, wagate.StatusSending, wagate.StatusSent, wagate.StatusFailed} {
					for _, before := range []int64{1 << 62, 5000} {
						plan := explainPrepared(t, conn.Conn(), mode, pageSQL(status), "ws_a", before, 51)
						if strings.Contains(plan, "Seq Scan") {
							t.Errorf("%s, status %q, seq below %d: the page scans messages:\n%s", mode, status, before, plan)
						}
					}
				}
			}
		})
	}
}

// explainPrepared is the plan of sql with args under plan_cache_mode mode,
// as a prepared statement (what pgx's statement cache runs) gets it.
func explainPrepared(t *testing.T, conn *pgx.Conn, mode, sql string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "RESET plan_cache_mode")
	defer conn.Exec(ctx, "DEALLOCATE ALL")
	if _, err := conn.Exec(ctx, "PREPARE page AS "+sql); err != nil {
		t.Fatal(err)
	}
	params := make([]string, len(args))
	for i, a := range args {
		params[i] = fmt.Sprintf("'%v'", a)
	}
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE page("+strings.Join(params, ", ")+")", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
