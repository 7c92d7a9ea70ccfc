package store

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

var _ wagate.AccountLinkService = (*DB)(nil)

// SetAccountLink records a whatsapp account's link state; see
// wagate.AccountLinkService. The record moves to binary format 3, which
// an older wagate cannot read: only accounts of the whatsapp transport,
// which an older wagate cannot send through either, get a link state.
func (db *DB) SetAccountLink(ctx context.Context, ref wagate.AccountRef, l wagate.AccountLink) error {
	return db.update(ctx, "set account link", func(tx *bolt.Tx) error {
		rec, err := mustAccount(tx, ref)
		if err != nil {
			return err
		}
		if rec.Link == l {
			return nil
		}
		rec.Link = l
		return put(bucket(tx, bucketAccounts), join(ref.WorkspaceID, ref.Phone), rec)
	})
}
