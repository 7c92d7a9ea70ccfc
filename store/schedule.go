package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Careful sending in the store (SPEC §2): scheduled messages, rule holds
// and the send history the daily limit counts.
//
//	scheduled / {ws \x00 phone}  due (unix nanos, 8 bytes) ++ message id -> "":
//	                             the account's scheduled messages by due time
//	sends / {ws \x00 phone}      sent at (unix nanos) ++ message id -> "": the
//	                             account's sends of the last 24 h (MarkSent
//	                             prunes older ones in the same write)
//	first_sends                  ws \x00 phone -> unix nanos of its first send ever
//
// A scheduled message is queued with no FIFO entry until it is taken: Next
// reads only the due front of the index (a cursor from the start that
// stops at the first key after now), so a million messages scheduled for
// next week cost a due account nothing, and a scheduled message never
// holds back the account's due ones. No goroutine or timer waits for it:
// Next tells the sender the earliest due time, and the sender parks until
// then.
var (
	bucketScheduled  = []byte("scheduled")
	bucketSends      = []byte("sends")
	bucketFirstSends = []byte("first_sends")
)

// sendWindow is how much send history is kept: the daily limit's window.
const sendWindow = 24 * time.Hour

// scheduled reports whether the message waits in its account's schedule
// index rather than in its FIFO.
func (r *messageRecord) scheduled() bool {
	return r.Status == wagate.StatusQueued && r.QueueSeq == 0 && !r.SendAt.IsZero()
}

func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

func keyTime(k []byte) time.Time {
	if len(k) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()
}

// place puts an accepted message where the sender finds it: in the FIFO,
// or in the schedule index when it has a SendAt (wagate.QueuedMessage
// cleared the SendAt of a message due already: an ordinary message).
func place(tx *bolt.Tx, m *messageRecord) error {
	if m.SendAt.IsZero() {
		return enqueue(tx, m)
	}
	s, err := bucket(tx, bucketScheduled).CreateBucketIfNotExists(join(m.WorkspaceID, m.AccountPhone))
	if err != nil {
		return err
	}
	m.QueueSeq = 0
	return s.Put(timeKey(m.SendAt, m.ID), []byte{})
}

// unschedule removes a scheduled message's index entry.
func unschedule(tx *bolt.Tx, m *messageRecord) error {
	s := bucket(tx, bucketScheduled).Bucket(join(m.WorkspaceID, m.AccountPhone))
	if s == nil {
		return nil
	}
	return s.Delete(timeKey(m.SendAt, m.ID))
}

// dueScheduled returns up to n scheduled messages of ref due at at, by due
// time, skipping those to a JID in skip, and the due time of the first
// one not due yet (zero when none). It reads the index only up to there.
func dueScheduled(tx *bolt.Tx, ref wagate.AccountRef, at time.Time, n int, skip map[string]bool) ([]*messageRecord, time.Time, [][]byte, error) {
	s := bucket(tx, bucketScheduled).Bucket(join(ref.WorkspaceID, ref.Phone))
	if s == nil {
		return nil, time.Time{}, nil, nil
	}
	var (
		out   []*messageRecord
		stale [][]byte
	)
	c := s.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		due := keyTime(k)
		if due.After(at) {
			return out, due, stale, nil
		}
		if len(out) >= n {
			break
		}
		m, err := getMessage(tx, string(k[8:]))
		if err != nil {
			return nil, time.Time{}, nil, err
		}
		switch {
		case m == nil || !m.scheduled() || !m.SendAt.Equal(due) || m.WorkspaceID != ref.WorkspaceID || m.AccountPhone != ref.Phone:
			stale = append(stale, copyBytes(k))
		case skip[m.JID]:
		default:
			out = append(out, m)
		}
	}
	return out, time.Time{}, stale, nil
}

// cleanSchedule deletes index entries dueScheduled found stale,
// re-checking each in this write.
func (db *DB) cleanSchedule(ctx context.Context, ref wagate.AccountRef, stale [][]byte) error {
	return db.update(ctx, "clean schedule", func(tx *bolt.Tx) error {
		s := bucket(tx, bucketScheduled).Bucket(join(ref.WorkspaceID, ref.Phone))
		if s == nil {
			return nil
		}
		for _, k := range stale {
			m, err := getMessage(tx, string(k[8:]))
			if err != nil {
				return err
			}
			if m != nil && m.scheduled() && m.SendAt.Equal(keyTime(k)) {
				continue
			}
			if err := s.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// Hold keeps a queued message waiting until until because a careful-
// sending rule says so (reason wagate.WaitingDailyLimit or
// WaitingQuietHours): like Retry it sets the due time Next skips it
// until (and, behind it, the later messages to the same recipient), but
// it records no try and spends no retry. A scheduled message moves into
// its account's FIFO (at the end) to wait there. ECONFLICT when the
// message is no longer queued, ENOTFOUND for an unknown id.
func (db *DB) Hold(ctx context.Context, id, reason string, until time.Time) error {
	ch := db.change(wagate.SourceSystem, db.now()) // no transition: no event
	return db.batch(ctx, "hold", func(tx *bolt.Tx) (error, error) {
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
		if m.scheduled() {
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
		if err := countWaiting(tx, reason, 1); err != nil {
			return nil, err
		}
		m.NextTryAt = until
		m.WaitingReason = reason
		return nil, putMessage(tx, m, ch)
	})
}

// recordSend adds a send of m at at to its account's history, prunes what
// is older than the window, and sets the first send ever once.
func recordSend(tx *bolt.Tx, m *messageRecord, at time.Time) error {
	key := join(m.WorkspaceID, m.AccountPhone)
	s, err := bucket(tx, bucketSends).CreateBucketIfNotExists(key)
	if err != nil {
		return err
	}
	s.FillPercent = appendFill
	cutoff := timeKey(at.Add(-sendWindow), "")
	c := s.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, cutoff) <= 0; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	if err := s.Put(timeKey(at, m.ID), []byte{}); err != nil {
		return err
	}
	first := bucket(tx, bucketFirstSends)
	if first.Get(key) == nil {
		return first.Put(key, u64(uint64(at.UnixNano())))
	}
	return nil
}

// SendHistory returns the account's sends after since (at most the last
// 24 h are kept), oldest first, and the time of its first send ever (zero
// when it never sent): what the daily limit and the warm-up count.
func (db *DB) SendHistory(ctx context.Context, ref wagate.AccountRef, since time.Time) (sends []time.Time, first time.Time, err error) {
	err = db.view(ctx, "send history", func(tx *bolt.Tx) error {
		key := join(ref.WorkspaceID, ref.Phone)
		if v := bucket(tx, bucketFirstSends).Get(key); len(v) == 8 {
			first = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		}
		s := bucket(tx, bucketSends).Bucket(key)
		if s == nil {
			return nil
		}
		c := s.Cursor()
		k, _ := c.First()
		if since.After(time.Unix(0, 0)) {
			k, _ = c.Seek(timeKey(since, "\xff"))
		}
		for ; k != nil; k, _ = c.Next() {
			sends = append(sends, keyTime(k))
		}
		return nil
	})
	return sends, first, err
}

// scheduledAccounts adds to seen the accounts with scheduled messages.
func scheduledAccounts(tx *bolt.Tx, seen map[wagate.AccountRef]bool, add func(wagate.AccountRef)) error {
	s := bucket(tx, bucketScheduled)
	return s.ForEachBucket(func(k []byte) error {
		if first, _ := s.Bucket(k).Cursor().First(); first == nil {
			return nil
		}
		parts := split(k)
		if len(parts) != 2 {
			return nil
		}
		ref := wagate.AccountRef{WorkspaceID: parts[0], Phone: parts[1]}
		if !seen[ref] {
			add(ref)
		}
		return nil
	})
}

// failScheduled fails and refunds the scheduled messages of the account
// with queue key qkey, as DeleteAccount does its queue, and drops the
// index.
func failScheduled(tx *bolt.Tx, qkey []byte, at time.Time, ch change) error {
	s := bucket(tx, bucketScheduled).Bucket(qkey)
	if s == nil {
		return nil
	}
	var ids []string
	if err := s.ForEach(func(k, _ []byte) error {
		ids = append(ids, string(k[8:]))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		m, err := getMessage(tx, id)
		if err != nil {
			return err
		}
		if m == nil || !m.scheduled() {
			continue
		}
		try := wagate.DeleteAccountTry(at)
		m.Tries = append(m.Tries, tryRecord(try))
		m.Error = try.Error
		if err := fail(tx, m, ch); err != nil {
			return err
		}
	}
	return bucket(tx, bucketScheduled).DeleteBucket(qkey)
}

// waitingKey is the meta key of the count of messages held for reason.
func waitingKey(reason string) []byte { return append([]byte("waiting\x00"), reason...) }

// countWaiting adds delta to the count of messages held for reason, in
// the same write as the hold or its end, so the /metrics gauge never
// needs a scan of the queues.
func countWaiting(tx *bolt.Tx, reason string, delta int64) error {
	meta := bucket(tx, bucketMeta)
	k := waitingKey(reason)
	var n int64
	if v := meta.Get(k); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	return meta.Put(k, u64(uint64(max(n+delta, 0))))
}

// clearHold ends a rule's hold of m, if any: its reason goes and the
// count with it. Every path out of a hold passes here (unqueue, Retry).
func clearHold(tx *bolt.Tx, m *messageRecord) error {
	if m.WaitingReason == "" {
		return nil
	}
	err := countWaiting(tx, m.WaitingReason, -1)
	m.WaitingReason = ""
	return err
}

// WaitingCounts counts the queued messages that wait for a reason other
// than their turn: scheduled ones (from the schedule index's key counts)
// and those a careful-sending rule holds (from counters kept by Hold), by
// wagate.Waiting… reason. It reads no message.
func (db *DB) WaitingCounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := db.view(ctx, "waiting counts", func(tx *bolt.Tx) error {
		sched := bucket(tx, bucketScheduled)
		if err := sched.ForEachBucket(func(k []byte) error {
			out[wagate.WaitingScheduled] += countKeys(sched.Bucket(k))
			return nil
		}); err != nil {
			return err
		}
		for _, reason := range []string{wagate.WaitingDailyLimit, wagate.WaitingQuietHours} {
			if v := bucket(tx, bucketMeta).Get(waitingKey(reason)); len(v) == 8 {
				out[reason] = int(binary.BigEndian.Uint64(v))
			}
		}
		return nil
	})
	return out, err
}

// releaseHolds ends every careful-sending hold of the account's queued
// messages (a retry's due time stays). It walks the account's FIFO: an
// owner's change of rules, not a hot path.
func releaseHolds(tx *bolt.Tx, ref wagate.AccountRef, ch change) error {
	q := bucket(tx, bucketQueues).Bucket(join(ref.WorkspaceID, ref.Phone))
	if q == nil {
		return nil
	}
	var held []*messageRecord
	if err := q.ForEach(func(k, v []byte) error {
		m, err := getMessage(tx, string(v))
		if err != nil || m == nil || !queuedAt(m, ref, k) || m.WaitingReason == "" {
			return err
		}
		held = append(held, m)
		return nil
	}); err != nil {
		return err
	}
	for _, m := range held {
		if err := clearHold(tx, m); err != nil {
			return err
		}
		m.NextTryAt = time.Time{}
		if err := putMessage(tx, m, ch); err != nil {
			return err
		}
	}
	return nil
}
