package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

var _ wagate.AccountLinkService = (*DB)(nil)

// linkRecord is how a whatsapp account's link state is stored in
// accounts.link: names of its own, times to the nanosecond (as the
// transport reported them). An account that never had a link state has
// NULL there, so every other account reads as the zero AccountLink.
type linkRecord struct {
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	Error string    `json:"error,omitempty"`
	Until time.Time `json:"until,omitzero"`
}

// encodeLink is the accounts.link value of l: NULL for the zero link.
func encodeLink(l wagate.AccountLink) (*string, error) {
	if l == (wagate.AccountLink{}) {
		return nil, nil
	}
	b, err := json.Marshal(linkRecord(l))
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// decodeLink reads an accounts.link value (nil: none).
func decodeLink(b []byte) (wagate.AccountLink, error) {
	if b == nil {
		return wagate.AccountLink{}, nil
	}
	var rec linkRecord
	err := json.Unmarshal(b, &rec)
	return wagate.AccountLink(rec), err
}

// sameLink compares two links as instants, not as time.Time values (a
// time with a monotonic reading or another location is the same state).
func sameLink(a, b wagate.AccountLink) bool {
	return a.State == b.State && a.Error == b.Error && a.Since.Equal(b.Since) && a.Until.Equal(b.Until)
}

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
// logged_out writes its account event in the same transaction
// (accountChanged); a report of the state the account is already in
// writes none, and a report of the very link stored writes nothing at all.
// The account's row is locked, so two reports racing are applied one
// after the other and each sees what the other stored.
func (db *DB) SetAccountLink(ctx context.Context, ref wagate.AccountRef, l wagate.AccountLink) error {
	link, err := encodeLink(l)
	if err != nil {
		return wagate.Errorf(wagate.EINVALID, "link: %v", err)
	}
	return db.update(ctx, "set account link", func(tx pgx.Tx) error {
		a, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE workspace_id = $1 AND phone = $2 FOR UPDATE`, ref.WorkspaceID, ref.Phone))
		if errors.Is(err, pgx.ErrNoRows) {
			return errAccountNotFound(ref.Phone)
		}
		if err != nil {
			return err
		}
		if sameLink(a.Link, l) {
			return nil
		}
		entered := a.Link.State != l.State
		if _, err := tx.Exec(ctx, `UPDATE accounts SET link = $3 WHERE workspace_id = $1 AND phone = $2`, ref.WorkspaceID, ref.Phone, link); err != nil {
			return err
		}
		a.Link = l
		if typ, ok := linkEvents[l.State]; ok && entered {
			return accountChanged(ctx, tx, a, typ, change{source: wagate.SourceSystem, at: orNow(l.Since, db.now())})
		}
		return nil
	})
}
