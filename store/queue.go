package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// ErrorInterrupted is the error of a message that a stop (crash, kill -9,
// power loss) caught while it was being sent, and whose transport cannot
// tell whether it went out. Sending it again could deliver it twice, so
// wagate fails it, refunds it and says so rather than resend silently.
const ErrorInterrupted = wagate.ErrorInterrupted

// QueuedAccounts lists every account whose queue is not empty (messages
// waiting for a retry included), so the sender resumes them all after a
// restart. It reads one cursor position per account, not the messages.
func (db *DB) QueuedAccounts(ctx context.Context) ([]wagate.AccountRef, error) {
	var refs []wagate.AccountRef
	err := db.view(ctx, "queued accounts", func(tx *bolt.Tx) error {
		refs = refs[:0]
		seen := map[wagate.AccountRef]bool{}
		queues := bucket(tx, bucketQueues)
		err := queues.ForEachBucket(func(k []byte) error {
			if first, _ := queues.Bucket(k).Cursor().First(); first == nil {
				return nil
			}
			parts := split(k)
			if len(parts) != 2 {
				db.log.Warn("queue bucket with a malformed name", zap.ByteString("name", k))
				return nil
			}
			refs = append(refs, wagate.AccountRef{WorkspaceID: parts[0], Phone: parts[1]})
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range refs {
			seen[r] = true
		}
		// Accounts with only scheduled messages: the sender parks each
		// until its first is due.
		return scheduledAccounts(tx, seen, func(r wagate.AccountRef) { refs = append(refs, r) })
	})
	return refs, err
}

// Next returns up to n queued messages of the account that may be sent at
// at, in the order they go: queue order, skipping a message whose retry
// (or careful-sending hold, see Hold) is due after at and every later
// message to the same JID, so a recipient never gets its messages out of
// order. Scheduled messages that are due at at (schedule.go) join in by
// their due time, as if accepted then; those not due are not read, beyond
// the first. due is the earliest of the skipped retries and the next
// scheduled message (zero when none). n < 1 counts as 1.
//
// A retried message keeps its queue entry (its place), so the walk reads
// the messages waiting for a retry at the front of the queue on every call,
// and those blocked behind them: a cost in the number of retrying messages
// of one account, never in the length of its queue when none is retrying.
//
// Entries whose message is no longer queued there should not exist (every
// transition out of queued removes the entry in the same commit); if one
// does, Next skips it and deletes it in a separate write, so the sender
// never sees it twice.
func (db *DB) Next(ctx context.Context, ref wagate.AccountRef, at time.Time, n int) ([]*wagate.Message, time.Time, error) {
	n = max(n, 1)
	var (
		msgs       []*wagate.Message
		due        time.Time
		stale      [][]byte
		staleSched [][]byte
	)
	err := db.view(ctx, "queue next", func(tx *bolt.Tx) error {
		msgs, due, stale, staleSched = nil, time.Time{}, nil, nil
		var fifo []*messageRecord
		var blocked map[string]bool // JIDs with an earlier message waiting for its retry
		if q := bucket(tx, bucketQueues).Bucket(join(ref.WorkspaceID, ref.Phone)); q != nil {
			c := q.Cursor()
			for k, v := c.First(); k != nil && len(fifo) < n; k, v = c.Next() {
				m, err := getMessage(tx, string(v))
				if err != nil {
					return err
				}
				switch {
				case m == nil || !queuedAt(m, ref, k):
					stale = append(stale, copyBytes(k))
				case m.NextTryAt.After(at):
					if blocked == nil {
						blocked = make(map[string]bool)
					}
					blocked[m.JID] = true
					if due.IsZero() || m.NextTryAt.Before(due) {
						due = m.NextTryAt
					}
				case blocked[m.JID]:
					// Behind a retry to the same recipient: waits for it.
				default:
					fifo = append(fifo, m)
				}
			}
		}
		sched, next, st, err := dueScheduled(tx, ref, at, n, blocked)
		if err != nil {
			return err
		}
		staleSched = st
		if !next.IsZero() && (due.IsZero() || next.Before(due)) {
			due = next
		}
		// Merge the two ordered lists: a due scheduled message goes as if
		// it had been accepted at its due time.
		for len(msgs) < n && (len(fifo) > 0 || len(sched) > 0) {
			var take *messageRecord
			if len(sched) == 0 || (len(fifo) > 0 && !fifo[0].CreatedAt.After(sched[0].SendAt)) {
				take, fifo = fifo[0], fifo[1:]
			} else {
				take, sched = sched[0], sched[1:]
			}
			msg := take.domain()
			if err := loadMessageTemplate(tx, msg); err != nil {
				return err
			}
			msgs = append(msgs, msg)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(stale) > 0 {
		err = db.cleanQueue(ctx, ref, stale)
	}
	if len(staleSched) > 0 && err == nil {
		err = db.cleanSchedule(ctx, ref, staleSched)
	}
	return msgs, due, err
}

// Head returns the first message of the account that may be sent now (see
// Next), or (nil, nil) when there is none: a shorthand for tools and tests.
func (db *DB) Head(ctx context.Context, ref wagate.AccountRef) (*wagate.Message, error) {
	msgs, _, err := db.Next(ctx, ref, db.now(), 1)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	return msgs[0], nil
}

// cleanQueue deletes the stale queue entries Next found, re-checking each in
// this write.
func (db *DB) cleanQueue(ctx context.Context, ref wagate.AccountRef, stale [][]byte) error {
	db.log.Warn("removing stale queue entries", zap.String("workspace", ref.WorkspaceID), zap.Int("entries", len(stale)))
	return db.update(ctx, "clean queue", func(tx *bolt.Tx) error {
		q := bucket(tx, bucketQueues).Bucket(join(ref.WorkspaceID, ref.Phone))
		if q == nil {
			return nil
		}
		for _, k := range stale {
			v := q.Get(k)
			if v == nil {
				continue
			}
			m, err := getMessage(tx, string(v))
			if err != nil {
				return err
			}
			if m != nil && queuedAt(m, ref, k) {
				continue // re-checked in this write: still good
			}
			if err := q.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// queuedAt reports whether the queue entry with key k of ref's queue is the
// live position of m.
func queuedAt(m *messageRecord, ref wagate.AccountRef, k []byte) bool {
	seq, err := seqOf(k)
	return err == nil && m.Status == wagate.StatusQueued && m.QueueSeq == seq &&
		m.WorkspaceID == ref.WorkspaceID && m.AccountPhone == ref.Phone
}

// MarkSending takes the message out of its queue, sets it sending and adds
// it to the sending index, durably, before the transport is called: after a
// crash the index tells RecoverSending which sends were in flight without
// scanning every message. The queue position is kept in the record, for a
// retry to put the message back at its place. ENOTFOUND for an unknown id,
// ECONFLICT if the message is no longer queued.
func (db *DB) MarkSending(ctx context.Context, id string, at time.Time) error {
	at = orNow(at, db.now())
	ch := db.change(wagate.SourceSystem, at)
	return db.batch(ctx, "mark sending", func(tx *bolt.Tx) (error, error) {
		m, err := getMessage(tx, id)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return wagate.ErrMessageNotFound(id), nil
		}
		if err := wagate.CheckQueued(id, m.Status); err != nil {
			return err, nil
		}
		if m.QueueSeq != 0 {
			m.Pos = m.QueueSeq
		}
		if err := unqueue(tx, m); err != nil {
			return nil, err
		}
		m.Status = wagate.StatusSending
		m.SendingAt = at
		m.NextTryAt = time.Time{}
		m.WaitingReason = ""
		if err := bucket(tx, bucketSending).Put([]byte(m.ID), []byte{}); err != nil {
			return nil, err
		}
		return nil, putMessage(tx, m, ch)
	})
}

// MarkSent records the try and sets the message sent (SentAt = try.At),
// clearing the error a retried try left. A message already sent is left as
// it is (a repeated call is harmless). A failed message was refunded, so it
// is not turned into a sent one for free: that is ECONFLICT. ENOTFOUND for
// an unknown id.
func (db *DB) MarkSent(ctx context.Context, id string, try wagate.Try) error {
	try = wagate.SentTry(try, db.now())
	ch := db.change(wagate.SourceSystem, try.At)
	return db.batch(ctx, "mark sent", func(tx *bolt.Tx) (error, error) {
		m, err := getMessage(tx, id)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return wagate.ErrMessageNotFound(id), nil
		}
		if done, err := wagate.CheckMarkSent(id, m.Status); done || err != nil {
			return err, nil
		}
		if err := unqueue(tx, m); err != nil {
			return nil, err
		}
		if err := bucket(tx, bucketSending).Delete([]byte(m.ID)); err != nil {
			return nil, err
		}
		m.Tries = append(m.Tries, tryRecord(try))
		m.Status = wagate.StatusSent
		m.SentAt = try.At
		m.Error = ""
		m.NextTryAt = time.Time{}
		m.WaitingReason = ""
		if err := indexProviderID(tx, try.ProviderID, m.ID); err != nil {
			return nil, err
		}
		if err := recordSend(tx, m, try.At); err != nil {
			return nil, err
		}
		return nil, putMessage(tx, m, ch)
	})
}

// Retry records a try that failed in a way another try may fix, and makes
// the message queued again, due at due (zero: at once), in one commit:
//   - a sending message goes back into its account's queue at the position
//     it was taken from, so it keeps its place ahead of the messages
//     accepted after it (at the end if that key is gone: the queue was
//     dropped and made again meanwhile);
//   - a queued message (its file did not download) stays where it is.
//
// While it waits, its Error is the try's error, so the message and the
// attempt log say why it is not sent yet; MarkSent clears it. If the
// account was deleted meanwhile, the message fails with ErrorAccountDeleted
// and is refunded in the same commit instead, and Retry returns nil.
// ECONFLICT for a message already sent or failed (a refund never happens
// twice and a sent message is never resent), ENOTFOUND for an unknown id.
func (db *DB) Retry(ctx context.Context, id string, try wagate.Try, due time.Time) error {
	try = wagate.RetryTry(try, db.now())
	due = orNow(due, try.At)
	ch := db.change(wagate.SourceSystem, try.At)
	return db.batch(ctx, "retry", func(tx *bolt.Tx) (error, error) {
		m, err := getMessage(tx, id)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return wagate.ErrMessageNotFound(id), nil
		}
		if err := wagate.CheckRetry(id, m.Status); err != nil {
			return err, nil
		}
		m.Tries = append(m.Tries, tryRecord(try))
		acct, err := getAccount(tx, wagate.AccountRef{WorkspaceID: m.WorkspaceID, Phone: m.AccountPhone})
		if err != nil {
			return nil, err
		}
		// An account connected again with the same phone is another
		// account: the one the message was for was deleted (and its queue
		// with it), so the message must not slip into the new account's
		// queue, perhaps on another transport.
		if acct == nil || !sameAccount(acct, m) {
			deleted := wagate.AccountDeletedTry(try.At)
			m.Tries = append(m.Tries, tryRecord(deleted))
			m.Error = deleted.Error
			m.NextTryAt = time.Time{}
			return nil, fail(tx, m, ch)
		}
		if m.Status == wagate.StatusSending {
			if err := bucket(tx, bucketSending).Delete([]byte(m.ID)); err != nil {
				return nil, err
			}
			if err := requeue(tx, m); err != nil {
				return nil, err
			}
		}
		if m.scheduled() {
			// Its file did not download: it waits for the retry in the
			// FIFO, where Next honours a due time.
			if err := unschedule(tx, m); err != nil {
				return nil, err
			}
			if err := enqueue(tx, m); err != nil {
				return nil, err
			}
		}
		if err := clearHold(tx, m); err != nil {
			return nil, err
		}
		m.Status = wagate.StatusQueued
		m.NextTryAt = due
		m.Error = try.Error
		return nil, putMessage(tx, m, ch)
	})
}

// requeue puts a message taken out of its queue back at its old position
// (m.Pos), or at the end when that key cannot be its place any more.
// Retry fails the messages of a deleted account before they get here, so
// the queue is the one the message was taken from, and NextSequence never
// hands out a key twice: a free key at or below the sequence is its own.
func requeue(tx *bolt.Tx, m *messageRecord) error {
	q, err := bucket(tx, bucketQueues).CreateBucketIfNotExists(join(m.WorkspaceID, m.AccountPhone))
	if err != nil {
		return err
	}
	if m.Pos != 0 && m.Pos <= q.Sequence() && q.Get(u64(m.Pos)) == nil {
		m.QueueSeq = m.Pos
		return q.Put(u64(m.Pos), []byte(m.ID))
	}
	return enqueue(tx, m)
}

// MarkFailed records the try, sets the message failed with try.Error and
// refunds its credits, in one commit. It works on a queued message too (an
// attachment that failed to download before its turn, a message waiting for
// a retry). Refund-once: a message already failed is left as it is, since
// its credits came back when it failed; a sent message is left as it is
// too, since its credits were rightly spent. ENOTFOUND for an unknown id.
func (db *DB) MarkFailed(ctx context.Context, id string, try wagate.Try) error {
	try = wagate.FailedTry(try, db.now())
	var ignored wagate.MessageStatus
	ch := db.change(wagate.SourceSystem, try.At)
	err := db.batch(ctx, "mark failed", func(tx *bolt.Tx) (error, error) {
		ignored = ""
		m, err := getMessage(tx, id)
		if err != nil {
			return nil, err
		}
		switch {
		case m == nil:
			return wagate.ErrMessageNotFound(id), nil
		case m.Status.Final():
			ignored = m.Status // refund once; a sent message's credits were spent
			return nil, nil
		}
		m.Tries = append(m.Tries, tryRecord(try))
		m.Error = try.Error
		m.NextTryAt = time.Time{}
		return nil, fail(tx, m, ch)
	})
	if err == nil && ignored == wagate.StatusSent {
		db.log.Warn("mark failed: message already sent, left as sent", zap.String("message_id", id))
	}
	return err
}

// Sending lists the messages in sending, from the sending index: at start,
// before any send, these are the ones a stop caught mid-send.
func (db *DB) Sending(ctx context.Context) ([]*wagate.Message, error) {
	var list []*wagate.Message
	err := db.view(ctx, "list sending", func(tx *bolt.Tx) error {
		return bucket(tx, bucketSending).ForEach(func(k, _ []byte) error {
			m, err := getMessage(tx, string(k))
			if err != nil {
				return err
			}
			if m != nil && m.Status == wagate.StatusSending {
				list = append(list, m.domain())
			}
			return nil
		})
	})
	return list, err
}

// RecoverSending runs at start, before any send, after the sender has asked
// the transports that can tell (sender.Confirmer) about the messages left
// in sending: each message still in sending is failed with ErrorInterrupted
// and an "interrupted" try, and refunded, in one commit, and the count is
// returned. wagate's delivery promise is "never twice silently": the
// transport may or may not have delivered it, so it is not retried on its
// own; the client sees the failure and decides.
func (db *DB) RecoverSending(ctx context.Context, at time.Time) (int, error) {
	at = orNow(at, db.now())
	ch := db.change(wagate.SourceSystem, at)
	n := 0
	err := db.update(ctx, "recover sending", func(tx *bolt.Tx) error {
		n = 0
		sending := bucket(tx, bucketSending)
		var ids []string
		if err := sending.ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		}); err != nil {
			return err
		}
		for _, id := range ids {
			m, err := getMessage(tx, id)
			if err != nil {
				return err
			}
			if m == nil || m.Status != wagate.StatusSending {
				// An index entry without its message: drop it.
				if err := sending.Delete([]byte(id)); err != nil {
					return err
				}
				continue
			}
			try := wagate.InterruptedTry(at)
			m.Tries = append(m.Tries, tryRecord(try))
			m.Error = try.Error
			if err := fail(tx, m, ch); err != nil {
				return err
			}
			n++
		}
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

// sameAccount reports whether acct is the account m was accepted for, and
// not another one connected later with the same phone. Records written
// before AccountConnectedAt existed compare with the message's time.
func sameAccount(acct *accountRecord, m *messageRecord) bool {
	if m.AccountConnectedAt.IsZero() {
		return !acct.ConnectedAt.After(m.CreatedAt)
	}
	return acct.ConnectedAt.Equal(m.AccountConnectedAt)
}
