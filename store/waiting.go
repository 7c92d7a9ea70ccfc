package store

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// waitingScanLimit bounds the queued messages one WaitingByAccount reads:
// the console's overview, which shows the counts, stays quick on a queue
// of a million. A variable for tests.
var waitingScanLimit = 20_000

var _ wagate.WaitingReporter = (*DB)(nil)

// WaitingByAccount counts the queued messages of each account of the
// workspace by why they wait, by wagate.WaitingCount's rule. Scheduled
// ones are counted from the schedule index's keys; the others are read
// from the accounts' FIFOs (at most waitingScanLimit in all, oldest
// first), as Next sees them.
func (db *DB) WaitingByAccount(ctx context.Context, workspaceID string) (map[string]map[string]int, bool, error) {
	var count *wagate.WaitingCount
	complete := true
	now := db.now()
	prefix := join(workspaceID, "")
	err := db.view(ctx, "waiting by account", func(tx *bolt.Tx) error {
		count = wagate.NewWaitingCount(now)
		complete = true
		sched := bucket(tx, bucketScheduled)
		c := sched.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			count.Scheduled(string(k[len(prefix):]), countKeys(sched.Bucket(k)))
		}
		read := 0
		queues := bucket(tx, bucketQueues)
		qc := queues.Cursor()
		for k, _ := qc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = qc.Next() {
			ref := wagate.AccountRef{WorkspaceID: workspaceID, Phone: string(k[len(prefix):])}
			q := queues.Bucket(k)
			if q == nil {
				continue
			}
			ec := q.Cursor()
			for ek, v := ec.First(); ek != nil; ek, v = ec.Next() {
				if read == waitingScanLimit {
					complete = false
					return nil
				}
				read++
				m, err := getMessage(tx, string(v))
				if err != nil {
					return err
				}
				if m != nil && queuedAt(m, ref, ek) {
					count.Placed(ref.Phone, m.JID, m.WaitingReason, m.NextTryAt)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return count.Counts(), complete, nil
}
