package store

import (
	"context"
	"slices"
	"strings"
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
	if !slices.Contains(wagate.AccountEventTypes, typ) {
		return nil, wagate.Errorf(wagate.EINVALID, "account event type %q: must be one of %s", cutUTF8(typ, 40), strings.Join(wagate.AccountEventTypes, ", "))
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
