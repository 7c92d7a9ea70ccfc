package store

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Retention (serve --retain): messages final (sent or failed) for longer
// than the retention are deleted, with their entry in the workspace's list
// and their provider-id entries. Attempts keep their ring of the last 100
// (an attempt whose message is gone shows no send status).
//
// Credits must still add up after a sent message is gone: its credits were
// spent, and the audit's sum (granted == balance + credits of queued,
// sending and sent messages) would lose them. So each deletion of a sent
// message adds its credits, in the same commit, to a per-workspace counter
// kept in the meta bucket under prunedKeyPrefix + workspace id (8-byte
// big-endian), and the audit counts that counter as sent credits. A deleted
// failed message held nothing (it was refunded), so it changes no counter.
//
// Idempotency records point at messages; they expire 24 h after the accept,
// so a retention of at least IdempotencyWindow (MinRetain) never deletes a
// message a live record still names.

// MinRetain is the shortest retention PruneMessages accepts: the
// Idempotency-Key window, so that a replay always finds its first message.
const MinRetain = IdempotencyWindow

// PruneBatch is how many messages one commit of PruneMessages deletes at
// most, so the single writer is never held for long: an accept waits for
// at most one such commit.
const PruneBatch = 500

// pruneScanMax bounds how many list entries one commit reads, so a long
// run of queued messages (which are kept) does not make one commit long.
const pruneScanMax = 5 * PruneBatch

// prunedKeyPrefix prefixes a workspace's counter of pruned sent credits in
// the meta bucket.
var prunedKeyPrefix = []byte("pruned_credits\x00")

// PruneMessages deletes every message of every workspace that became final
// (sent or failed) before before, in commits of at most PruneBatch
// deletions, and returns how many it deleted. A message is judged by when
// it became final: its sent time, its last try or delivery report. It
// walks each workspace's list oldest first and stops at the first message
// accepted at or after before (nothing later can have ended earlier), so an
// hourly run reads little more than what it deletes. A ctx done between
// commits stops it; what was committed stays deleted.
func (db *DB) PruneMessages(ctx context.Context, before time.Time) (int, error) {
	var wsIDs []string
	err := db.view(ctx, "prune messages", func(tx *bolt.Tx) error {
		return bucket(tx, bucketWsMessages).ForEachBucket(func(k []byte) error {
			wsIDs = append(wsIDs, string(k))
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for _, ws := range wsIDs {
		var from []byte // resume key: the list is walked once per run
		for {
			n, next, err := db.pruneChunk(ctx, ws, from, before)
			total += n
			if err != nil {
				return total, err
			}
			if next == nil {
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

// pruneChunk is one commit of PruneMessages for one workspace: from the
// list key from (nil: the first), it deletes up to PruneBatch messages
// final before before. next is where the following chunk starts, nil when
// the workspace is done.
func (db *DB) pruneChunk(ctx context.Context, ws string, from []byte, before time.Time) (n int, next []byte, err error) {
	err = db.update(ctx, "prune messages", func(tx *bolt.Tx) error {
		n, next = 0, nil
		list := bucket(tx, bucketWsMessages).Bucket([]byte(ws))
		if list == nil {
			return nil
		}
		type victim struct {
			key []byte
			m   *messageRecord // nil: an entry whose message is gone
		}
		var victims []victim
		c := list.Cursor()
		k, v := c.First()
		if from != nil {
			k, v = c.Seek(from)
		}
		for scanned := 0; k != nil; k, v = c.Next() {
			if scanned == pruneScanMax || len(victims) == PruneBatch {
				next = copyBytes(k)
				break
			}
			scanned++
			m, err := getMessage(tx, string(v))
			if err != nil {
				return err
			}
			if m == nil {
				victims = append(victims, victim{key: copyBytes(k)})
				continue
			}
			if !m.CreatedAt.Before(before) {
				break // accepted since: nothing later ended before
			}
			if at, final := finalAt(m); final && at.Before(before) {
				victims = append(victims, victim{key: copyBytes(k), m: m})
			}
		}
		var spent int64
		for _, vi := range victims {
			if err := list.Delete(vi.key); err != nil {
				return err
			}
			if vi.m == nil {
				continue
			}
			if err := deleteMessage(tx, vi.m); err != nil {
				return err
			}
			if vi.m.Status == wagate.StatusSent {
				spent += vi.m.Credits
			}
			n++
		}
		return addPrunedCredits(tx, ws, spent)
	})
	if err != nil {
		return 0, nil, err
	}
	return n, next, nil
}

// finalAt reports whether m is final (sent or failed) and since when: the
// latest of its sent time, its last try and its last delivery report.
func finalAt(m *messageRecord) (time.Time, bool) {
	if m.Status != wagate.StatusSent && m.Status != wagate.StatusFailed {
		return time.Time{}, false
	}
	at := m.CreatedAt
	for _, t := range []time.Time{m.SentAt, m.DeliveryAt} {
		if t.After(at) {
			at = t
		}
	}
	if len(m.Tries) > 0 && m.Tries[len(m.Tries)-1].At.After(at) {
		at = m.Tries[len(m.Tries)-1].At
	}
	return at, true
}

// deleteMessage deletes a final message's record and the provider-id
// entries that point at it (the caller deletes its list entry).
func deleteMessage(tx *bolt.Tx, m *messageRecord) error {
	ids := bucket(tx, bucketProviderIDs)
	for _, t := range m.Tries {
		if t.ProviderID != "" && string(ids.Get([]byte(t.ProviderID))) == m.ID {
			if err := ids.Delete([]byte(t.ProviderID)); err != nil {
				return err
			}
		}
	}
	if err := deleteMessageTemplate(tx, m.ID); err != nil {
		return err
	}
	return bucket(tx, bucketMessages).Delete([]byte(m.ID))
}

// addPrunedCredits adds n to the workspace's counter of pruned sent
// credits.
func addPrunedCredits(tx *bolt.Tx, ws string, n int64) error {
	if n == 0 {
		return nil
	}
	key := append(copyBytes(prunedKeyPrefix), ws...)
	return bucket(tx, bucketMeta).Put(key, u64(uint64(prunedCredits(tx, ws)+n)))
}

// prunedCredits returns the credits of the workspace's sent messages that
// retention deleted: spent credits the audit must still count.
func prunedCredits(tx *bolt.Tx, ws string) int64 {
	v := tx.Bucket(bucketMeta).Get(append(copyBytes(prunedKeyPrefix), ws...))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}
