package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// Careful sending (SPEC §2), the twin of store/schedule.go and waiting.go:
// scheduled messages, the holds of the careful-sending rules, the send
// history the daily limit counts, and the counts of why messages wait
// (their rule is wagate.WaitingCount).
//
// A scheduled message is queued with no place (queue_pos NULL) until it is
// taken: Next reads only the due front of messages_scheduled, so messages
// scheduled for next week cost a due account nothing, and no goroutine or
// timer waits for them: Next tells the sender the earliest due time.

// sendWindow is how much send history is kept: the daily limit's window.
const sendWindow = 24 * time.Hour

// waitingScanLimit bounds the queued messages one WaitingByAccount reads
// (as store/'s), so the console's overview stays quick on a queue of a
// million. A variable for tests.
var waitingScanLimit = 20_000

var _ wagate.WaitingReporter = (*DB)(nil)

// dueScheduled returns up to n scheduled messages of ref due at at, by due
// time, skipping those to a JID in skip, and when the next one is due
// (zero when none is, or when n were taken and another is due already:
// store/'s walk stops there).
func dueScheduled(ctx context.Context, tx pgx.Tx, ref wagate.AccountRef, at time.Time, n int, skip []string) ([]*wagate.Message, time.Time, error) {
	out, err := collectMessages(tx.Query(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE workspace_id = $1 AND account_phone = $2 AND status = 'queued' AND queue_pos IS NULL AND send_at <= $3
			AND NOT (jid = ANY($4))
		ORDER BY send_at, id COLLATE "C" LIMIT $5`, ref.WorkspaceID, ref.Phone, at, skip, n))
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(out) == n {
		last := out[n-1]
		var more bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages
			WHERE workspace_id = $1 AND account_phone = $2 AND status = 'queued' AND queue_pos IS NULL AND send_at <= $3
				AND (send_at > $4 OR (send_at = $4 AND id COLLATE "C" > $5)))`,
			ref.WorkspaceID, ref.Phone, at, last.SendAt, last.ID).Scan(&more); err != nil || more {
			return out, time.Time{}, err
		}
	}
	var next *time.Time
	err = tx.QueryRow(ctx, `SELECT min(send_at) FROM messages
		WHERE workspace_id = $1 AND account_phone = $2 AND status = 'queued' AND queue_pos IS NULL AND send_at > $3`,
		ref.WorkspaceID, ref.Phone, at).Scan(&next)
	return out, deref(next), err
}

// Hold keeps a queued message waiting until until because a careful-
// sending rule says so (reason wagate.WaitingDailyLimit or
// WaitingQuietHours): like a retry, Next skips it until then with the
// later messages to its recipient, but no try is recorded or spent. A
// scheduled message takes a place at the end of its queue to wait there.
// ECONFLICT when the message is no longer queued, ENOTFOUND for an
// unknown id.
func (db *DB) Hold(ctx context.Context, id, reason string, until time.Time) error {
	ch := change{source: wagate.SourceSystem, at: db.now()} // no transition: no event
	return db.update(ctx, "hold", func(tx pgx.Tx) error {
		r, err := lockMessage(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := wagate.CheckQueued(id, r.Status); err != nil {
			return err
		}
		b := beforeOf(r.Message)
		if _, err := tx.Exec(ctx, `UPDATE messages SET queue_pos = coalesce(queue_pos, nextval('messages_queue_pos')),
			next_try_at = $2, waiting_reason = $3 WHERE id = $1`, id, nullTime(until), reason); err != nil {
			return err
		}
		r.NextTryAt, r.WaitingReason = until, reason
		if until.IsZero() {
			r.WaitingReason = "" // shown only with its time
		}
		return messageChanged(ctx, tx, r.Message, b, ch)
	})
}

// recordSend adds the send of m at at to its account's history, prunes
// what is older than the window, and sets the first send ever once: one
// round trip.
func recordSend(ctx context.Context, tx pgx.Tx, m *wagate.Message, at time.Time) error {
	var b pgx.Batch
	b.Queue(`DELETE FROM sends WHERE workspace_id = $1 AND account_phone = $2 AND at < $3`, m.WorkspaceID, m.AccountPhone, at.Add(-sendWindow))
	b.Queue(`INSERT INTO sends (workspace_id, account_phone, at, message_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		m.WorkspaceID, m.AccountPhone, at, m.ID)
	b.Queue(`INSERT INTO first_sends (workspace_id, account_phone, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, m.WorkspaceID, m.AccountPhone, at)
	return tx.SendBatch(ctx, &b).Close()
}

// SendHistory returns the account's sends after since (the last 24 h are
// kept), oldest first, and the time of its first send ever (zero when it
// never sent): what the daily limit and the warm-up count.
func (db *DB) SendHistory(ctx context.Context, ref wagate.AccountRef, since time.Time) (sends []time.Time, first time.Time, err error) {
	var after *time.Time
	if since.After(time.Unix(0, 0)) {
		after = &since
	}
	err = db.view(ctx, "send history", func(tx pgx.Tx) error {
		sends, first = nil, time.Time{}
		err := tx.QueryRow(ctx, `SELECT at FROM first_sends WHERE workspace_id = $1 AND account_phone = $2`, ref.WorkspaceID, ref.Phone).Scan(&first)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT at FROM sends WHERE workspace_id = $1 AND account_phone = $2 AND ($3::timestamptz IS NULL OR at > $3)
			ORDER BY at, message_id COLLATE "C"`, ref.WorkspaceID, ref.Phone, after)
		if err != nil {
			return err
		}
		sends, err = pgx.CollectRows(rows, pgx.RowTo[time.Time])
		return err
	})
	if len(sends) == 0 {
		sends = nil
	}
	return sends, first, err
}

// releaseHolds ends every careful-sending hold of the account's queued
// messages (a retry's due time stays), for UpdateAccount when the rules
// change: the sender asks the new rules at once. The caller holds the
// workspace's row.
func releaseHolds(ctx context.Context, tx pgx.Tx, ref wagate.AccountRef, ch change) error {
	held, err := collectMessages(tx.Query(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE workspace_id = $1 AND account_phone = $2 AND status = 'queued' AND waiting_reason <> ''
		ORDER BY queue_pos FOR UPDATE`, ref.WorkspaceID, ref.Phone))
	if err != nil {
		return err
	}
	for _, m := range held {
		b := beforeOf(m)
		if _, err := tx.Exec(ctx, `UPDATE messages SET waiting_reason = '', next_try_at = NULL WHERE id = $1`, m.ID); err != nil {
			return err
		}
		m.WaitingReason, m.NextTryAt = "", time.Time{}
		if err := messageChanged(ctx, tx, m, b, ch); err != nil {
			return err
		}
	}
	return nil
}

// failScheduled fails and refunds the scheduled messages of the account,
// by due time, as DeleteAccount does its queue (store/'s failScheduled).
// The caller holds the workspace's row.
func failScheduled(ctx context.Context, tx pgx.Tx, ref wagate.AccountRef, ch change) error {
	list, err := collectMessages(tx.Query(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE workspace_id = $1 AND account_phone = $2 AND status = 'queued' AND queue_pos IS NULL
		ORDER BY send_at, id COLLATE "C" FOR UPDATE`, ref.WorkspaceID, ref.Phone))
	if err != nil {
		return err
	}
	for _, m := range list {
		try := wagate.DeleteAccountTry(ch.at)
		m.Tries = append(m.Tries, try)
		m.Error = try.Error
		if err := fail(ctx, tx, m, ch); err != nil {
			return err
		}
	}
	return nil
}

// QueuedTotal counts every queued message of the instance (scheduled ones
// included), for the wagate_queue_depth gauge.
func (db *DB) QueuedTotal(ctx context.Context) (int, error) {
	var n int
	err := db.read(ctx, "queued total", func(q querier) error {
		return q.QueryRow(ctx, `SELECT count(*) FROM messages WHERE status = 'queued'`).Scan(&n)
	})
	return n, err
}

// WaitingCounts counts the queued messages that wait for a reason other
// than their turn, by wagate.Waiting… reason: scheduled ones and those a
// careful-sending rule holds. Both are read from small partial indexes.
func (db *DB) WaitingCounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := db.view(ctx, "waiting counts", func(tx pgx.Tx) error {
		clear(out)
		rows, err := tx.Query(ctx, `SELECT 'scheduled', count(*) FROM messages WHERE status = 'queued' AND queue_pos IS NULL
			UNION ALL
			SELECT waiting_reason, count(*) FROM messages WHERE status = 'queued' AND waiting_reason <> '' GROUP BY waiting_reason`)
		if err != nil {
			return err
		}
		var (
			reason string
			n      int
		)
		_, err = pgx.ForEachRow(rows, []any{&reason, &n}, func() error {
			out[reason] += n
			return nil
		})
		return err
	})
	return out, err
}

// WaitingByAccount counts the queued messages of each account of the
// workspace by why they wait (wagate.WaitingReporter), by
// wagate.WaitingCount's rule: scheduled ones from their index; the placed
// ones read in queue order, account by account (at most waitingScanLimit
// in all, oldest first), as Next sees them.
func (db *DB) WaitingByAccount(ctx context.Context, workspaceID string) (map[string]map[string]int, bool, error) {
	var count *wagate.WaitingCount
	complete := true
	now := db.now()
	err := db.view(ctx, "waiting by account", func(tx pgx.Tx) error {
		count = wagate.NewWaitingCount(now)
		complete = true
		rows, err := tx.Query(ctx, `SELECT account_phone, count(*) FROM messages
			WHERE workspace_id = $1 AND status = 'queued' AND queue_pos IS NULL GROUP BY account_phone`, workspaceID)
		if err != nil {
			return err
		}
		var (
			phone, jid, reason string
			n                  int
			next               *time.Time
		)
		if _, err := pgx.ForEachRow(rows, []any{&phone, &n}, func() error {
			count.Scheduled(phone, n)
			return nil
		}); err != nil {
			return err
		}
		// In the order of messages_queue, so the read stops at the limit
		// instead of sorting a workspace's whole queue.
		rows, err = tx.Query(ctx, `SELECT account_phone, jid, next_try_at, waiting_reason FROM messages
			WHERE workspace_id = $1 AND status = 'queued' AND queue_pos IS NOT NULL
			ORDER BY account_phone, queue_pos LIMIT $2`, workspaceID, waitingScanLimit+1)
		if err != nil {
			return err
		}
		read := 0
		_, err = pgx.ForEachRow(rows, []any{&phone, &jid, &next, &reason}, func() error {
			if read == waitingScanLimit {
				complete = false
				return nil
			}
			read++
			count.Placed(phone, jid, reason, deref(next))
			return nil
		})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return count.Counts(), complete, nil
}
