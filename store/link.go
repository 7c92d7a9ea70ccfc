package store

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

var _ wagate.AccountLinkService = (*DB)(nil)

// linkEvents are the account events (SPEC §9) of the link states that an
// integrator acts on; the others (linking, banned, outdated, error) have
// none.
var linkEvents = map[string]string{
	"connected":    wagate.EventAccountConnected,
	"disconnected": wagate.EventAccountDisconnect,
	"logged_out":   wagate.EventAccountLoggedOut,
}

// SetAccountLink records a whatsapp account's link state; see
// wagate.AccountLinkService. Entering connected, disconnected or
// logged_out writes its account event in the same commit (the outbox rule
// of SPEC §9); a report of the state the account is already in writes
// none. The record moves to binary format 3, which an older wagate cannot
// read: only accounts of the whatsapp transport, which an older wagate
// cannot send through either, get a link state.
func (db *DB) SetAccountLink(ctx context.Context, ref wagate.AccountRef, l wagate.AccountLink) error {
	return db.update(ctx, "set account link", func(tx *bolt.Tx) error {
		rec, err := mustAccount(tx, ref)
		if err != nil {
			return err
		}
		if rec.Link == l {
			return nil
		}
		entered := rec.Link.State != l.State
		rec.Link = l
		if err := put(bucket(tx, bucketAccounts), join(ref.WorkspaceID, ref.Phone), rec); err != nil {
			return err
		}
		if typ, ok := linkEvents[l.State]; ok && entered {
			return db.change(wagate.SourceSystem, orNow(l.Since, db.now())).accountChanged(tx, ref, rec, typ)
		}
		return nil
	})
}
