package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// ErrorRelinkGrace is the error of the queued messages failed by
// FailUnlinkedQueues.
const ErrorRelinkGrace = wagate.ErrorRelinkGrace

// FailUnlinkedQueues fails, with a refund, the queued messages (scheduled
// ones that came due included) of every whatsapp account that has needed
// linking (unlinked or logged out, SPEC §10) since before before: a phone
// nobody links again must not hold credits forever. Messages being sent, and accounts that never had a link
// state, are left alone. It returns how many messages it failed; each
// account is one commit.
func (db *DB) FailUnlinkedQueues(ctx context.Context, before time.Time) (int, error) {
	accts, err := db.AllAccounts(ctx)
	if err != nil {
		return 0, err
	}
	return wagate.FailUnlinked(accts, before, func(ref wagate.AccountRef) (int, error) {
		return db.failUnlinkedQueue(ctx, ref, before)
	})
}

// failUnlinkedQueue fails one account's queued messages, after checking
// again in the write that the account still needs linking.
func (db *DB) failUnlinkedQueue(ctx context.Context, ref wagate.AccountRef, before time.Time) (int, error) {
	at := db.now()
	ch := db.change(wagate.SourceSystem, at)
	n := 0
	err := db.update(ctx, "fail unlinked queue", func(tx *bolt.Tx) error {
		n = 0
		acct, err := getAccount(tx, ref)
		if err != nil || acct == nil || !wagate.LinkExpired(acct.Transport, acct.Link, before) {
			return err
		}
		q := bucket(tx, bucketQueues).Bucket(join(ref.WorkspaceID, ref.Phone))
		var ids []string
		if q != nil {
			if err := q.ForEach(func(_, v []byte) error {
				ids = append(ids, string(v))
				return nil
			}); err != nil {
				return err
			}
		}
		// A scheduled message that has come due waits in the schedule
		// index, not the FIFO, until the sender takes it: it is as stuck
		// as a queued one. One scheduled later keeps waiting, as the
		// account may be linked again by its time.
		if sch := bucket(tx, bucketScheduled).Bucket(join(ref.WorkspaceID, ref.Phone)); sch != nil {
			c := sch.Cursor()
			for k, _ := c.First(); k != nil && !keyTime(k).After(at); k, _ = c.Next() {
				ids = append(ids, string(k[8:]))
			}
		}
		for _, id := range ids {
			m, err := getMessage(tx, id)
			if err != nil {
				return err
			}
			if m == nil || m.Status != wagate.StatusQueued {
				continue
			}
			try := wagate.RelinkGraceTry(at)
			m.Tries = append(m.Tries, tryRecord(try))
			m.Error = try.Error
			m.NextTryAt = time.Time{}
			if err := fail(tx, m, ch); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
