package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Retention (serve --retain), the twin of store/retain.go: messages final
// (sent or failed) for longer than the retention are deleted. Attempts
// keep their ring (an attempt whose message is gone shows no send status).
//
// Credits must still add up after a sent message is gone: its credits were
// spent. Each deletion of a sent message adds its credits, in the same
// transaction, to workspaces.pruned_credits, which an audit counts as
// sent credits (granted == balance + credits of queued, sending and sent
// messages + pruned_credits). A deleted failed message held nothing.
//
// Idempotency records point at messages; they expire 24 h after the
// accept, so a retention of at least IdempotencyWindow (MinRetain) never
// deletes a message a live record still names.

// MinRetain is the shortest retention PruneMessages is meant for: the
// Idempotency-Key window, so that a replay always finds its first message.
const MinRetain = IdempotencyWindow

// PruneBatch is how many messages one transaction of PruneMessages deletes
// at most, so the workspace's row, which accepts lock, is never held long.
const PruneBatch = 500

// PruneMessages deletes every message of every workspace that became final
// (sent or failed) before before, in transactions of at most PruneBatch
// deletions, and returns how many it deleted. A message is judged by when
// it became final: the latest of its acceptance, its sent time, its last
// try and its last delivery report. Each workspace's messages are walked
// once, in acceptance order, from where the previous transaction stopped,
// so a run reads each message at most once. A ctx done between
// transactions stops it; what was committed stays deleted.
func (db *DB) PruneMessages(ctx context.Context, before time.Time) (int, error) {
	var wsIDs []string
	err := db.read(ctx, "prune messages", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT id FROM workspaces ORDER BY seq`)
		if err != nil {
			return err
		}
		wsIDs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for _, ws := range wsIDs {
		var from int64 // the seq the next transaction starts after
		for {
			n, next, err := db.pruneChunk(ctx, ws, from, before)
			total += n
			if err != nil {
				return total, err
			}
			if next == 0 {
				break
			}
			from = next
		}
	}
	if total > 0 {
		db.log.Info("deleted messages past the retention", zap.Int("messages", total), zap.Time("final_before", before))
	}
	return total, nil
}

// finalBefore is the SQL condition "final before $before", on the columns
// of messages: GREATEST skips the times a message does not have.
const finalBefore = `status IN ('sent', 'failed') AND created_at < $3
	AND GREATEST(created_at, sent_at, delivery_at, (tries -> -1 ->> 'at')::timestamptz) < $3`

// pruneChunk is one transaction of PruneMessages for one workspace: it
// deletes up to PruneBatch messages final before before with a seq above
// from. next is the seq the following chunk starts after, 0 when the
// workspace is done.
func (db *DB) pruneChunk(ctx context.Context, ws string, from int64, before time.Time) (n int, next int64, err error) {
	err = db.update(ctx, "prune messages", func(tx pgx.Tx) error {
		n, next = 0, 0
		// The workspace first, as every writer of messages locks it.
		if _, err := findWorkspace(ctx, tx, ws, true); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM messages WHERE id IN (
				SELECT id FROM messages WHERE workspace_id = $1 AND seq > $2 AND `+finalBefore+`
				ORDER BY seq LIMIT $4 FOR UPDATE)
			RETURNING seq, status, credits`, ws, from, before, PruneBatch)
		if err != nil {
			return err
		}
		var (
			seq, credits, spent, last int64
			status                    string
		)
		_, err = pgx.ForEachRow(rows, []any{&seq, &status, &credits}, func() error {
			n++
			last = max(last, seq)
			if status == string(wagate.StatusSent) {
				spent += credits
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n == PruneBatch {
			next = last
		}
		if spent > 0 {
			_, err = tx.Exec(ctx, `UPDATE workspaces SET pruned_credits = pruned_credits + $2 WHERE id = $1`, ws, spent)
		}
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return n, next, nil
}
