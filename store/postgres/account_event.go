package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// The account.* events (SPEC §9, §10), the twin of store/account_event.go.
// An account's link state changes are reported by the WhatsApp Web
// transport: SetAccountLink (link.go) stores the state, and
// RecordAccountEvent stores an event with an optional edit of the account.
// Both call accountChanged in the transaction of the change, as every
// message write calls messageChanged (event.go).

var _ wagate.AccountEventService = (*DB)(nil)

// RecordAccountEvent applies edit to the account and writes the account
// event typ about it, in one transaction; see wagate.AccountEventService.
// With an edit it locks the workspace's row first and then the account's,
// as every writer of messages does: an edit of the rules ends the
// careful-sending holds in the same transaction, as UpdateAccount's does.
func (db *DB) RecordAccountEvent(ctx context.Context, ref wagate.AccountRef, typ string, at time.Time, edit func(*wagate.Account) error) (*wagate.Account, error) {
	if err := wagate.CheckAccountEventType(typ); err != nil {
		return nil, err
	}
	at = orNow(at, db.now())
	var out *wagate.Account
	err := db.update(ctx, "record account event", func(tx pgx.Tx) error {
		if edit != nil {
			if _, err := findWorkspace(ctx, tx, ref.WorkspaceID, true); err != nil {
				if wagate.ErrorCode(err) == wagate.ENOTFOUND {
					return errAccountNotFound(ref.Phone)
				}
				return err
			}
		}
		a, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE workspace_id = $1 AND phone = $2 FOR UPDATE`, ref.WorkspaceID, ref.Phone))
		if errors.Is(err, pgx.ErrNoRows) {
			return errAccountNotFound(ref.Phone)
		}
		if err != nil {
			return err
		}
		if edit != nil {
			cur := *a
			cur.Settings = make(map[string]string, len(a.Settings))
			for k, v := range a.Settings {
				cur.Settings[k] = v
			}
			if err := edit(&cur); err != nil {
				return err
			}
			// As UpdateAccount: only Active and Rules are the edit's.
			changed := a.Rules != cur.Rules
			a.Active, a.Rules = cur.Active, cur.Rules
			rules, err := json.Marshal(newRulesRecord(a.Rules))
			if err != nil {
				return wagate.Errorf(wagate.EINVALID, "rules: %v", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE accounts SET active = $3, rules = $4 WHERE workspace_id = $1 AND phone = $2`,
				ref.WorkspaceID, ref.Phone, a.Active, string(rules)); err != nil {
				return err
			}
			if changed {
				if err := releaseHolds(ctx, tx, ref, change{source: wagate.SourceSystem, at: at}); err != nil {
					return err
				}
			}
		}
		if err := accountChanged(ctx, tx, a, typ, change{source: wagate.SourceSystem, at: at}); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// accountChanged writes the account event typ about a, as the change left
// it, for the workspace's endpoints subscribed to typ whose filter matches
// (the twin of store/'s accountChanged). Call it in the transaction that
// makes the change, after the change.
func accountChanged(ctx context.Context, tx pgx.Tx, a *wagate.Account, typ string, ch change) error {
	ids, err := subscribers(ctx, tx, a.WorkspaceID, typ, a.Phone, ch.source)
	if err != nil || len(ids) == 0 {
		return err
	}
	return emit(ctx, tx, &wagate.Event{Type: typ, WorkspaceID: a.WorkspaceID, At: ch.at, AccountPhone: a.Phone, Source: ch.source, Account: a}, ids)
}
