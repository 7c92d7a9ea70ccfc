package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// The account.* events (SPEC §9 and §10), the twin of
// store/account_event.go: the WhatsApp Web wiring reports an account's
// link state changes with SetAccountLink (link.go) and RecordAccountEvent,
// which write the event through accountChanged (event.go) in the
// transaction of the account's change.

var _ wagate.AccountEventService = (*DB)(nil)

// RecordAccountEvent applies edit to the account and writes the account
// event typ about it, from the system, in one transaction; see
// wagate.AccountEventService. edit changes Active and Rules, as in
// UpdateAccount, and as there an edit of the rules ends the account's
// careful-sending holds in the same transaction; so with an edit it locks
// the workspace's row first and then the account's, as every writer of
// messages does.
func (db *DB) RecordAccountEvent(ctx context.Context, ref wagate.AccountRef, typ string, at time.Time, edit func(*wagate.Account) error) (*wagate.Account, error) {
	if !slices.Contains(wagate.AccountEventTypes, typ) {
		return nil, wagate.Errorf(wagate.EINVALID, "account event type %q: must be one of %s", cutUTF8(typ, 40), strings.Join(wagate.AccountEventTypes, ", "))
	}
	at = orNow(at, db.now())
	var out *wagate.Account
	err := db.update(ctx, "record account event", func(tx pgx.Tx) error {
		out = nil
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
			cur.Settings = maps.Clone(a.Settings) // an edit cannot change the stored map
			if err := edit(&cur); err != nil {
				return err
			}
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
	return out, err
}
