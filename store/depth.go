package store

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"
)

// QueueDepths counts the queued messages of each account of a workspace
// (those waiting for a retry included), from the accounts' queue entries:
// the console shows them without reading any message.
func (db *DB) QueueDepths(ctx context.Context, workspaceID string) (map[string]int, error) {
	depths := map[string]int{}
	prefix := join(workspaceID, "")
	err := db.view(ctx, "queue depths", func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketQueues, bucketScheduled} { // scheduled messages are queued too
			queues := bucket(tx, name)
			c := queues.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				if n := countKeys(queues.Bucket(k)); n > 0 {
					depths[string(k[len(prefix):])] += n
				}
			}
		}
		return nil
	})
	return depths, err
}

// QueuedTotal counts every queued message of the instance, for the
// wagate_queue_depth gauge.
func (db *DB) QueuedTotal(ctx context.Context) (int, error) {
	total := 0
	err := db.view(ctx, "queued total", func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketQueues, bucketScheduled} {
			queues := bucket(tx, name)
			if err := queues.ForEachBucket(func(k []byte) error {
				total += countKeys(queues.Bucket(k))
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return total, err
}

// countKeys counts a bucket's keys; nil counts 0.
func countKeys(b *bolt.Bucket) int {
	if b == nil {
		return 0
	}
	return b.Stats().KeyN
}
