package store

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// AllAccounts returns every account of every workspace, in key order
// (workspace, then phone). The sender asks for it at start
// (sender.AccountLister) to connect the accounts of session transports
// that have nothing queued.
func (db *DB) AllAccounts(ctx context.Context) ([]*wagate.Account, error) {
	var list []*wagate.Account
	err := db.view(ctx, "list all accounts", func(tx *bolt.Tx) error {
		return bucket(tx, bucketAccounts).ForEach(func(k, v []byte) error {
			var rec accountRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			list = append(list, rec.domain(split(k)[0]))
			return nil
		})
	})
	return list, err
}
