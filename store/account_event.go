package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// The account.* events (SPEC §9 and §10). An account's link state changes
// (connected, disconnected, logged out) are reported by the WhatsApp Web
// transport; the wiring stores each one with RecordAccountEvent, which
// writes the event in the commit of the account's change, like every other
// event of the outbox (event.go). A store method added later that changes
// the link state itself (a field of the account record) calls
// accountChanged inside its own transaction instead.

var _ wagate.AccountEventService = (*DB)(nil)

// RecordAccountEvent applies edit to the account and writes the account
// event typ about it, in one commit; see wagate.AccountEventService.
func (db *DB) RecordAccountEvent(ctx context.Context, ref wagate.AccountRef, typ string, at time.Time, edit func(*wagate.Account) error) (*wagate.Account, error) {
	if err := wagate.CheckAccountEventType(typ); err != nil {
		return nil, err
	}
	at = orNow(at, db.now())
	var a *wagate.Account
	err := db.update(ctx, "record account event", func(tx *bolt.Tx) error {
		a = nil
		rec, err := mustAccount(tx, ref)
		if err != nil {
			return err
		}
		if edit != nil {
			cur := rec.domain(ref.WorkspaceID)
			if err := edit(cur); err != nil {
				return err
			}
			changed := rec.Rules != cur.Rules
			rec.Active, rec.Rules = cur.Active, cur.Rules
			if err := put(bucket(tx, bucketAccounts), join(ref.WorkspaceID, ref.Phone), rec); err != nil {
				return err
			}
			if changed {
				if err := releaseHolds(tx, ref, db.change(wagate.SourceSystem, at)); err != nil {
					return err
				}
			}
		}
		if err := db.change(wagate.SourceSystem, at).accountChanged(tx, ref, rec, typ); err != nil {
			return err
		}
		a = rec.domain(ref.WorkspaceID)
		return nil
	})
	return a, err
}

// accountChanged writes the account event typ about rec (as the change
// left it), if any endpoint listens. Call it in the transaction that makes
// the change.
func (ch change) accountChanged(tx *bolt.Tx, ref wagate.AccountRef, rec *accountRecord, typ string) error {
	ids, err := ch.db.subscribers(tx, ref.WorkspaceID, typ, ref.Phone, ch.source)
	if err != nil || len(ids) == 0 {
		return err
	}
	snap := *rec
	return ch.emit(tx, &eventRecord{Type: typ, WorkspaceID: ref.WorkspaceID, At: ch.at, AccountPhone: ref.Phone, Source: ch.source, Account: &snap}, ids)
}
