package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// ErrorInterrupted is the error of a message that a stop (crash, kill -9,
// power loss) caught while it was being sent. Whether WhatsApp got it is
// unknown, and sending it again could deliver it twice, so wagate fails it,
// refunds it and says so rather than resend silently.
const ErrorInterrupted = "interrupted: wagate stopped while sending this message; it may or may not have been delivered, so it is not sent again automatically"

// QueuedAccounts lists every account whose queue is not empty, so the
// sender resumes them all after a restart. It reads one cursor position
// per account, not the messages.
func (db *DB) QueuedAccounts(ctx context.Context) ([]wagate.AccountRef, error) {
	var refs []wagate.AccountRef
	err := db.view(ctx, "queued accounts", func(tx *bolt.Tx) error {
		queues := bucket(tx, bucketQueues)
		return queues.ForEachBucket(func(k []byte) error {
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
	})
	return refs, err
}

// Head returns the oldest queued message of the account, or (nil, nil)
// for an empty queue. Entries whose message is no longer queued should not
// exist (every transition out of queued removes the entry in the same
// commit); if one does, Head skips it and deletes it in a separate write,
// so the sender never sees it twice.
func (db *DB) Head(ctx context.Context, ref wagate.AccountRef) (*wagate.Message, error) {
	var (
		head  *wagate.Message
		stale [][]byte
	)
	err := db.view(ctx, "queue head", func(tx *bolt.Tx) error {
		q := bucket(tx, bucketQueues).Bucket(join(ref.WorkspaceID, ref.Phone))
		if q == nil {
			return nil
		}
		c := q.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			m, err := getMessage(tx, string(v))
			if err != nil {
				return err
			}
			if m != nil && queuedAt(m, ref, k) {
				head = m.domain()
				return nil
			}
			stale = append(stale, copyBytes(k))
		}
		return nil
	})
	if err != nil || len(stale) == 0 {
		return head, err
	}
	db.log.Warn("removing stale queue entries", zap.String("workspace", ref.WorkspaceID), zap.Int("entries", len(stale)))
	err = db.update(ctx, "clean queue", func(tx *bolt.Tx) error {
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
	return head, err
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
// scanning every message. ENOTFOUND for an unknown id, ECONFLICT if the
// message is no longer queued.
func (db *DB) MarkSending(ctx context.Context, id string, at time.Time) error {
	at = orNow(at, db.now())
	return db.batch(ctx, "mark sending", func(tx *bolt.Tx) (error, error) {
		m, err := getMessage(tx, id)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return wagate.Errorf(wagate.ENOTFOUND, "message %s not found", id), nil
		}
		if m.Status != wagate.StatusQueued {
			return wagate.Errorf(wagate.ECONFLICT, "message %s is %s, not queued", id, m.Status), nil
		}
		if err := unqueue(tx, m); err != nil {
			return nil, err
		}
		m.Status = wagate.StatusSending
		m.SendingAt = at
		if err := bucket(tx, bucketSending).Put([]byte(m.ID), []byte{}); err != nil {
			return nil, err
		}
		return nil, putMessage(tx, m)
	})
}

// MarkSent records the try and sets the message sent (SentAt = try.At). A
// message already sent is left as it is (a repeated call is harmless). A
// failed message was refunded, so it is not turned into a sent one for free:
// that is ECONFLICT. ENOTFOUND for an unknown id.
func (db *DB) MarkSent(ctx context.Context, id string, try wagate.Try) error {
	try.At = orNow(try.At, db.now())
	if try.Result == "" {
		try.Result = wagate.TryResultSent
	}
	return db.batch(ctx, "mark sent", func(tx *bolt.Tx) (error, error) {
		m, err := getMessage(tx, id)
		if err != nil {
			return nil, err
		}
		switch {
		case m == nil:
			return wagate.Errorf(wagate.ENOTFOUND, "message %s not found", id), nil
		case m.Status == wagate.StatusSent:
			return nil, nil
		case m.Status == wagate.StatusFailed:
			return wagate.Errorf(wagate.ECONFLICT, "message %s already failed (and was refunded); it cannot become sent", id), nil
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
		return nil, putMessage(tx, m)
	})
}

// MarkFailed records the try, sets the message failed with try.Error and
// refunds its credits, in one commit. It works on a queued message too (an
// attachment that failed to download before its turn). Refund-once: a
// message already failed is left as it is, since its credits came back when
// it failed; a sent message is left as it is too, since its credits were
// rightly spent. ENOTFOUND for an unknown id.
func (db *DB) MarkFailed(ctx context.Context, id string, try wagate.Try) error {
	try.At = orNow(try.At, db.now())
	if try.Result == "" {
		try.Result = wagate.TryResultFailed
	}
	if try.Error == "" {
		try.Error = "failed"
	}
	var ignored wagate.MessageStatus
	err := db.batch(ctx, "mark failed", func(tx *bolt.Tx) (error, error) {
		ignored = ""
		m, err := getMessage(tx, id)
		if err != nil {
			return nil, err
		}
		switch {
		case m == nil:
			return wagate.Errorf(wagate.ENOTFOUND, "message %s not found", id), nil
		case m.Status == wagate.StatusFailed || m.Status == wagate.StatusSent:
			ignored = m.Status
			return nil, nil
		}
		m.Tries = append(m.Tries, tryRecord(try))
		m.Error = try.Error
		return nil, fail(tx, m)
	})
	if err == nil && ignored == wagate.StatusSent {
		db.log.Warn("mark failed: message already sent, left as sent", zap.String("message_id", id))
	}
	return err
}

// RecoverSending runs at start, before any send: each message left in
// sending by a stop is failed with ErrorInterrupted and refunded, in one
// commit, and the count is returned. wagate's delivery promise is "never
// twice silently": the transport may or may not have delivered it, so it is
// not retried on its own; the client sees the failure and decides.
func (db *DB) RecoverSending(ctx context.Context, at time.Time) (int, error) {
	at = orNow(at, db.now())
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
			m.Tries = append(m.Tries, tryRecord{At: at, Result: wagate.TryResultFailed, Error: ErrorInterrupted})
			m.Error = ErrorInterrupted
			if err := fail(tx, m); err != nil {
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
