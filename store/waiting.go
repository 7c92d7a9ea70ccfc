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
// workspace by why they wait. Scheduled ones are counted from the
// schedule index's keys; the others are read from the accounts' FIFOs
// (at most waitingScanLimit in all, oldest first), as Next sees them: held
// by a rule (their waiting_reason), waiting for their own retry, or
// behind an earlier waiting message to the same recipient.
func (db *DB) WaitingByAccount(ctx context.Context, workspaceID string) (map[string]map[string]int, bool, error) {
	out := map[string]map[string]int{}
	add := func(phone, reason string, n int) {
		if out[phone] == nil {
			out[phone] = map[string]int{}
		}
		out[phone][reason] += n
	}
	complete := true
	now := db.now()
	prefix := join(workspaceID, "")
	err := db.view(ctx, "waiting by account", func(tx *bolt.Tx) error {
		clear(out)
		complete = true
		sched := bucket(tx, bucketScheduled)
		c := sched.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if n := countKeys(sched.Bucket(k)); n > 0 {
				add(string(k[len(prefix):]), wagate.WaitingScheduled, n)
			}
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
			blocked := map[string]bool{}
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
				switch {
				case m == nil || !queuedAt(m, ref, ek):
				case blocked[m.JID] && !m.NextTryAt.After(now):
					add(ref.Phone, wagate.WaitingBehind, 1)
				case m.WaitingReason != "":
					blocked[m.JID] = blocked[m.JID] || m.NextTryAt.After(now)
					add(ref.Phone, m.WaitingReason, 1)
				case m.NextTryAt.After(now):
					blocked[m.JID] = true
					add(ref.Phone, wagate.WaitingRetry, 1)
				}
			}
		}
		return nil
	})
	return out, complete, err
}
