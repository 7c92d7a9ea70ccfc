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
// link state changes with RecordAccountEvent, which writes the event in
// the transaction of the account's change.

var _ wagate.AccountEventService = (*DB)(nil)

// RecordAccountEvent applies edit to the account (its row locked) and
// writes the account event typ about it, from the system, in one
// transaction; see wagate.AccountEventService. edit changes Active and
// Rules, as in UpdateAccount; when the rules change, the careful-sending
// holds of the account must end in the same transaction, as in
// UpdateAccount (doc.go, "What remains" 3: neither releases them yet).
func (db *DB) RecordAccountEvent(ctx context.Context, ref wagate.AccountRef, typ string, at time.Time, edit func(*wagate.Account) error) (*wagate.Account, error) {
	if !slices.Contains(wagate.AccountEventTypes, typ) {
		return nil, wagate.Errorf(wagate.EINVALID, "account event type %q: must be one of %s", cutUTF8(typ, 40), strings.Join(wagate.AccountEventTypes, ", "))
	}
	at = orNow(at, db.now())
	var out *wagate.Account
	err := db.update(ctx, "record account event", func(tx pgx.Tx) error {
		out = nil
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
			a.Active, a.Rules = cur.Active, cur.Rules
			rules, err := json.Marshal(newRulesRecord(a.Rules))
			if err != nil {
				return wagate.Errorf(wagate.EINVALID, "rules: %v", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE accounts SET active = $3, rules = $4 WHERE workspace_id = $1 AND phone = $2`,
				ref.WorkspaceID, ref.Phone, a.Active, string(rules)); err != nil {
				return err
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
