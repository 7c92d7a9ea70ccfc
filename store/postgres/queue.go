package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// The send queue (sender.Queue), the twin of store/queue.go. An account's
// queue is its queued messages in queue_pos order (migration 0007); a
// scheduled message waits unplaced until it is due (careful.go). Every
// writer here locks the message's workspace row first, then the message
// (lockMessage), as doc.go asks of every writer of messages, and writes
// the message's change through messageChanged in the same transaction.

// (The sender.Queue guard is in guard_test.go, as in store/: the package
// itself does not import the sender.)
var _ wagate.DeliveryService = (*DB)(nil)

// ErrorInterrupted is the error of a message that a stop caught while it
// was being sent (as store.ErrorInterrupted): it may or may not have gone
// out, so it is failed and refunded rather than sent again silently.
const ErrorInterrupted = wagate.ErrorInterrupted

// nextTryView and waitingView are how a message shows its stored
// next_try_at and waiting_reason (store/'s messageRecord.domain): a
// retry or a hold means nothing once the message left the queue; a
// scheduled message, not placed yet, waits for its send_at; a hold shows
// its reason only with its time.
const (
	nextTryView = `CASE WHEN status <> 'queued' THEN NULL
		WHEN queue_pos IS NULL AND send_at IS NOT NULL THEN send_at ELSE next_try_at END`
	waitingView = `CASE WHEN status <> 'queued' THEN ''
		WHEN queue_pos IS NULL AND send_at IS NOT NULL THEN 'scheduled'
		WHEN next_try_at IS NOT NULL THEN waiting_reason ELSE '' END`
)

// queueRow is a message locked for a write, with what the message does not
// show: which connection of its account it was accepted for.
type queueRow struct {
	*wagate.Message
	// connectedAt is the account's ConnectedAt at accept: an account
	// deleted and connected again with the same phone is another account.
	connectedAt time.Time
}

// leadRow scans leading columns into lead, then the rest as its row.
type leadRow struct {
	pgx.Row
	lead []any
}

func (r leadRow) Scan(dest ...any) error { return r.Row.Scan(append(r.lead, dest...)...) }

// lockMessage locks the message's workspace row and then the message's row
// (the order of locks of doc.go) and reads it: two round trips. ENOTFOUND
// for an unknown id.
func lockMessage(ctx context.Context, tx pgx.Tx, id string) (*queueRow, error) {
	var wsID string
	err := tx.QueryRow(ctx, `SELECT id FROM workspaces WHERE id = (SELECT workspace_id FROM messages WHERE id = $1) FOR UPDATE`, id).Scan(&wsID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, wagate.ErrMessageNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	r := &queueRow{}
	r.Message, err = scanMessage(leadRow{tx.QueryRow(ctx, `SELECT account_connected_at, `+messageColumns+` FROM messages WHERE id = $1 FOR UPDATE`, id),
		[]any{&r.connectedAt}})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, wagate.ErrMessageNotFound(id) // deleted meanwhile
	}
	return r, err
}

// QueuedAccounts lists every account with queued messages (waiting for a
// retry, or scheduled, included), so the sender resumes them all after a
// restart. It reads one index entry per account, not the messages: each
// step seeks past the account before.
func (db *DB) QueuedAccounts(ctx context.Context) ([]wagate.AccountRef, error) {
	var refs []wagate.AccountRef
	err := db.read(ctx, "queued accounts", func(q querier) error {
		rows, err := q.Query(ctx, `WITH RECURSIVE a (workspace_id, account_phone) AS (
			(SELECT workspace_id, account_phone FROM messages WHERE status = 'queued' ORDER BY workspace_id, account_phone LIMIT 1)
			UNION ALL
			SELECT n.workspace_id, n.account_phone FROM a, LATERAL (SELECT workspace_id, account_phone FROM messages
				WHERE status = 'queued' AND (workspace_id, account_phone) > (a.workspace_id, a.account_phone)
				ORDER BY workspace_id, account_phone LIMIT 1) n)
			SELECT workspace_id, account_phone FROM a`)
		if err != nil {
			return err
		}
		refs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (wagate.AccountRef, error) {
			var ref wagate.AccountRef
			err := r.Scan(&ref.WorkspaceID, &ref.Phone)
			return ref, err
		})
		return err
	})
	return refs, err
}

// Account returns the account for the sender, or ENOTFOUND when it was
// deleted.
func (db *DB) Account(ctx context.Context, ref wagate.AccountRef) (*wagate.Account, error) {
	return db.FindAccount(ctx, ref)
}

// waiter is a queued message of the queue that waits for a time after the
// instant Next looks at: a retry or a rule's hold.
type waiter struct {
	jid  string
	pos  int64
	next time.Time
}

// Next returns up to n queued messages of the account that may be sent at
// at, in the order they go (see the sender's Queue and store.DB.Next): queue
// order, skipping a message whose retry or hold is due after at and every
// later message to its recipient; scheduled messages due at at join by
// their due time, as if accepted then. due is the earliest of the skipped
// ones' times and the next scheduled message's (zero when none), as
// store/ computes it: only the waiting messages ahead of the last one
// taken count, and none when n due scheduled messages were taken and more
// are due. n < 1 counts as 1.
func (db *DB) Next(ctx context.Context, ref wagate.AccountRef, at time.Time, n int) ([]*wagate.Message, time.Time, error) {
	n = max(n, 1)
	var (
		msgs []*wagate.Message
		due  time.Time
	)
	err := db.view(ctx, "queue next", func(tx pgx.Tx) error {
		msgs, due = nil, time.Time{}
		waiters, err := queueWaiters(ctx, tx, ref, at)
		if err != nil {
			return err
		}
		var last int64
		rows, err := tx.Query(ctx, `SELECT queue_pos, `+messageColumns+` FROM messages m
			WHERE workspace_id = $1 AND account_phone = $2 AND status = 'queued' AND queue_pos IS NOT NULL
				AND (next_try_at IS NULL OR next_try_at <= $3)
				AND NOT EXISTS (SELECT 1 FROM messages b WHERE b.workspace_id = m.workspace_id AND b.account_phone = m.account_phone
					AND b.jid = m.jid AND b.status = 'queued' AND b.next_try_at > $3 AND b.queue_pos < m.queue_pos)
			ORDER BY queue_pos LIMIT $4`, ref.WorkspaceID, ref.Phone, at, n)
		if err != nil {
			return err
		}
		fifo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Message, error) {
			return scanMessage(leadRow{r, []any{&last}})
		})
		if err != nil {
			return err
		}
		// The waiting messages Next walked past: all of them, or those
		// ahead of the last one taken when n were.
		blocked := []string{}
		for _, w := range waiters {
			if len(fifo) == n && w.pos > last {
				break
			}
			blocked = append(blocked, w.jid)
			if due.IsZero() || w.next.Before(due) {
				due = w.next
			}
		}
		sched, next, err := dueScheduled(ctx, tx, ref, at, n, blocked)
		if err != nil {
			return err
		}
		if !next.IsZero() && (due.IsZero() || next.Before(due)) {
			due = next
		}
		// Merge the two ordered lists: a due scheduled message goes as if
		// it had been accepted at its due time.
		for len(msgs) < n && (len(fifo) > 0 || len(sched) > 0) {
			if len(sched) == 0 || (len(fifo) > 0 && !fifo[0].CreatedAt.After(sched[0].SendAt)) {
				msgs, fifo = append(msgs, fifo[0]), fifo[1:]
			} else {
				msgs, sched = append(msgs, sched[0]), sched[1:]
			}
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return msgs, due, nil
}

// queueWaiters reads the placed messages of the queue that wait for a time
// after at, in queue order.
func queueWaiters(ctx context.Context, q querier, ref wagate.AccountRef, at time.Time) ([]waiter, error) {
	rows, err := q.Query(ctx, `SELECT jid, queue_pos, next_try_at FROM messages
		WHERE workspace_id = $1 AND account_phone = $2 AND status = 'queued' AND next_try_at > $3 AND queue_pos IS NOT NULL
		ORDER BY queue_pos`, ref.WorkspaceID, ref.Phone, at)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (waiter, error) {
		var w waiter
		err := r.Scan(&w.jid, &w.pos, &w.next)
		return w, err
	})
}

// MarkSending takes the message out of its queue and sets it sending,
// durably, before the transport is called. Its place is kept, for a retry
// to put it back there. ENOTFOUND for an unknown id, ECONFLICT if the
// message is no longer queued.
func (db *DB) MarkSending(ctx context.Context, id string, at time.Time) error {
	return db.markSending(ctx, id, at, nil)
}

// markSending is MarkSending, fenced by the account's lease (lease.go),
// that also writes the account's pace when one is given
// (MarkSendingPaced).
func (db *DB) markSending(ctx context.Context, id string, at time.Time, p *pace) error {
	at = orNow(at, db.now())
	return db.update(ctx, "mark sending", func(tx pgx.Tx) error {
		r, err := lockMessage(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := wagate.CheckQueued(id, r.Status); err != nil {
			return err
		}
		if err := db.fence(ctx, tx, r.Account(), db.now(), true); err != nil {
			return err
		}
		if p != nil {
			if err := setPace(ctx, tx, r.Account(), p.start, p.gap); err != nil {
				return err
			}
		}
		b := beforeOf(r.Message)
		if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'sending', sending_at = $2, next_try_at = NULL, waiting_reason = '' WHERE id = $1`, id, at); err != nil {
			return err
		}
		r.Status, r.NextTryAt, r.WaitingReason = wagate.StatusSending, time.Time{}, ""
		return messageChanged(ctx, tx, r.Message, b, change{source: wagate.SourceSystem, at: at})
	})
}

// MarkSent records the try and sets the message sent (SentAt = try.At),
// clearing the error a retried try left, and adds the send to its
// account's history. A message already sent is left as it is (a repeated
// call is harmless); a failed one was refunded, so it does not become sent
// for free: ECONFLICT. ENOTFOUND for an unknown id.
func (db *DB) MarkSent(ctx context.Context, id string, try wagate.Try) error {
	try = wagate.SentTry(try, db.now())
	return db.update(ctx, "mark sent", func(tx pgx.Tx) error {
		r, err := lockMessage(ctx, tx, id)
		if err != nil {
			return err
		}
		if done, err := wagate.CheckMarkSent(id, r.Status); done || err != nil {
			return err
		}
		if r.Status == wagate.StatusSending {
			if err := db.fenceOutcome(ctx, tx, r.Account(), try.At); err != nil {
				return err
			}
		}
		return markSentTx(ctx, tx, r, try)
	})
}

// markSentTx is MarkSent's write of the locked message r, after the
// checks: the try recorded, the message sent, the send in its account's
// history (also SettleAccount's, for a send confirmed at a takeover).
func markSentTx(ctx context.Context, tx pgx.Tx, r *queueRow, try wagate.Try) error {
	b := beforeOf(r.Message)
	r.Tries = append(r.Tries, try)
	tries, err := encodeTries(r.Tries)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'sent', sent_at = $2, error = '', tries = $3, next_try_at = NULL, waiting_reason = '',
		provider_id = coalesce(nullif($4, ''), provider_id) WHERE id = $1`, r.ID, try.At, tries, try.ProviderID); err != nil {
		return err
	}
	if err := recordSend(ctx, tx, r.Message, try.At); err != nil {
		return err
	}
	r.Status, r.SentAt, r.Error, r.NextTryAt, r.WaitingReason = wagate.StatusSent, try.At, "", time.Time{}, ""
	return messageChanged(ctx, tx, r.Message, b, change{source: wagate.SourceSystem, at: try.At})
}

// Retry records a try that another may fix and makes the message queued
// again, due at due (zero: at once), in one transaction: a sending message
// goes back to its place, a queued one stays where it is, and a scheduled
// one (sent or not) takes a place at the end. While it waits, its Error is
// the try's. If its account was deleted meanwhile (or connected again: that
// is another account), the message fails with ErrorAccountDeleted and is
// refunded instead. ECONFLICT for a message already sent or failed,
// ENOTFOUND for an unknown id.
func (db *DB) Retry(ctx context.Context, id string, try wagate.Try, due time.Time) error {
	try = wagate.RetryTry(try, db.now())
	due = orNow(due, try.At)
	return db.update(ctx, "retry", func(tx pgx.Tx) error {
		r, err := lockMessage(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := wagate.CheckRetry(id, r.Status); err != nil {
			return err
		}
		if r.Status == wagate.StatusSending {
			if err := db.fenceOutcome(ctx, tx, r.Account(), try.At); err != nil {
				return err
			}
		}
		return retryTx(ctx, tx, r, try, due)
	})
}

// retryTx is Retry's write of the locked message r, after the checks: the
// try recorded and the message queued again at its place, due at due, or
// failed and refunded if its account is gone (also SettleAccount's, for a
// send confirmed not made at a takeover).
func retryTx(ctx context.Context, tx pgx.Tx, r *queueRow, try wagate.Try, due time.Time) error {
	ch := change{source: wagate.SourceSystem, at: try.At}
	r.Tries = append(r.Tries, try)
	acct, err := findAccount(ctx, tx, r.Account())
	if err != nil && wagate.ErrorCode(err) != wagate.ENOTFOUND {
		return err
	}
	if acct == nil || !acct.ConnectedAt.Equal(r.connectedAt) {
		deleted := wagate.AccountDeletedTry(try.At)
		r.Tries = append(r.Tries, deleted)
		r.Error, r.NextTryAt = deleted.Error, time.Time{}
		return fail(ctx, tx, r.Message, ch)
	}
	b := beforeOf(r.Message)
	tries, err := encodeTries(r.Tries)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'queued', queue_pos = coalesce(queue_pos, nextval('messages_queue_pos')),
		next_try_at = $2, error = $3, tries = $4, waiting_reason = '' WHERE id = $1`, r.ID, due, try.Error, tries); err != nil {
		return err
	}
	r.Status, r.NextTryAt, r.Error, r.WaitingReason = wagate.StatusQueued, due, try.Error, ""
	return messageChanged(ctx, tx, r.Message, b, ch)
}

// MarkFailed records the try, sets the message (sending or queued) failed
// with try.Error and refunds it, in one transaction. A message already
// failed or sent is left as it is: a refund never happens twice, and a
// sent message's credits were rightly spent. ENOTFOUND for an unknown id.
func (db *DB) MarkFailed(ctx context.Context, id string, try wagate.Try) error {
	try = wagate.FailedTry(try, db.now())
	var ignored wagate.MessageStatus
	err := db.update(ctx, "mark failed", func(tx pgx.Tx) error {
		ignored = ""
		r, err := lockMessage(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.Status.Final() {
			ignored = r.Status // refund once; a sent message's credits were spent
			return nil
		}
		if r.Status == wagate.StatusSending {
			if err := db.fenceOutcome(ctx, tx, r.Account(), try.At); err != nil {
				return err
			}
		}
		r.Tries = append(r.Tries, try)
		r.Error, r.NextTryAt = try.Error, time.Time{}
		return fail(ctx, tx, r.Message, change{source: wagate.SourceSystem, at: try.At})
	})
	if err == nil && ignored == wagate.StatusSent {
		db.log.Warn("mark failed: message already sent, left as sent", zap.String("message_id", id))
	}
	return err
}

// Sending lists the messages in sending, by id: at start, before any
// send, the ones a stop caught mid-send.
func (db *DB) Sending(ctx context.Context) ([]*wagate.Message, error) {
	var list []*wagate.Message
	err := db.read(ctx, "list sending", func(q querier) error {
		var err error
		list, err = collectMessages(q.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE status = 'sending' ORDER BY id COLLATE "C"`))
		return err
	})
	return list, err
}

// RecoverSending fails with ErrorInterrupted and an "interrupted" try, and
// refunds, every message still in sending, in one transaction, and returns
// how many: the transport may or may not have delivered it, so it is not
// sent again on its own (see store.DB.RecoverSending). The workspaces of
// those messages are locked first, in id order.
func (db *DB) RecoverSending(ctx context.Context, at time.Time) (int, error) {
	at = orNow(at, db.now())
	ch := change{source: wagate.SourceSystem, at: at}
	n := 0
	err := db.update(ctx, "recover sending", func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT DISTINCT workspace_id FROM messages WHERE status = 'sending'`)
		if err != nil {
			return err
		}
		wsIDs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		slices.Sort(wsIDs) // the order of every locker (commit.go)
		for _, id := range wsIDs {
			if _, err := findWorkspace(ctx, tx, id, true); err != nil {
				return err
			}
		}
		list, err := collectMessages(tx.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE status = 'sending' AND workspace_id = ANY($1) ORDER BY id COLLATE "C" FOR UPDATE`, wsIDs))
		if err != nil {
			return err
		}
		for _, m := range list {
			try := wagate.InterruptedTry(at)
			m.Tries = append(m.Tries, try)
			m.Error = try.Error
			if err := fail(ctx, tx, m, ch); err != nil {
				return err
			}
		}
		n = len(list)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		db.log.Warn("failed and refunded messages interrupted while sending", zap.Int("messages", n))
	}
	return n, nil
}

// fillWaitingFor sets the WaitingFor of each placed queued message of
// list: the first message before it in its account's queue, to the same
// recipient, that waits for a time after now (Next's order rule seen from
// the waiting message). One read for the whole list, on the small index
// of waiting messages.
func fillWaitingFor(ctx context.Context, q querier, list []*wagate.Message, now time.Time) error {
	var ids []string
	for _, m := range list {
		if m.Status == wagate.StatusQueued && m.WaitingReason != wagate.WaitingScheduled {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `SELECT m.id, w.id FROM messages m, LATERAL (SELECT b.id FROM messages b
			WHERE b.workspace_id = m.workspace_id AND b.account_phone = m.account_phone AND b.jid = m.jid
				AND b.status = 'queued' AND b.next_try_at > $2 AND b.queue_pos < m.queue_pos
			ORDER BY b.queue_pos LIMIT 1) w
		WHERE m.id = ANY($1) AND m.status = 'queued' AND m.queue_pos IS NOT NULL`, ids, now)
	if err != nil {
		return err
	}
	waiting := map[string]string{}
	var id, blocker string
	if _, err := pgx.ForEachRow(rows, []any{&id, &blocker}, func() error {
		waiting[id] = blocker
		return nil
	}); err != nil {
		return err
	}
	for _, m := range list {
		m.WaitingFor = waiting[m.ID]
	}
	return nil
}
