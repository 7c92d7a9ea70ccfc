package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// rulesRecord is how an account's careful-sending rules are stored: a JSON
// object with names of its own, so renaming a field of wagate.SendRules
// cannot silently drop a stored rule. Durations are nanoseconds.
type rulesRecord struct {
	DailyLimit   int     `json:"daily_limit,omitempty"`
	WarmupStart  int     `json:"warmup_start,omitempty"`
	WarmupGrowth float64 `json:"warmup_growth,omitempty"`
	QuietSet     bool    `json:"quiet_set,omitempty"`
	QuietFrom    int     `json:"quiet_from,omitempty"`
	QuietTo      int     `json:"quiet_to,omitempty"`
	TimeZone     string  `json:"time_zone,omitempty"`
	SendInterval int64   `json:"send_interval_ns,omitempty"`
	SendJitter   int64   `json:"send_jitter_ns,omitempty"`
}

func newRulesRecord(r wagate.SendRules) rulesRecord {
	return rulesRecord{
		DailyLimit: r.DailyLimit, WarmupStart: r.Warmup.Start, WarmupGrowth: r.Warmup.Growth,
		QuietSet: r.QuietHours.Set, QuietFrom: r.QuietHours.From, QuietTo: r.QuietHours.To,
		TimeZone: r.TimeZone, SendInterval: int64(r.SendInterval), SendJitter: int64(r.SendJitter),
	}
}

func (r rulesRecord) domain() wagate.SendRules {
	return wagate.SendRules{
		DailyLimit: r.DailyLimit, Warmup: wagate.Warmup{Start: r.WarmupStart, Growth: r.WarmupGrowth},
		QuietHours: wagate.QuietHours{Set: r.QuietSet, From: r.QuietFrom, To: r.QuietTo},
		TimeZone:   r.TimeZone, SendInterval: time.Duration(r.SendInterval), SendJitter: time.Duration(r.SendJitter),
	}
}

// accountColumns are read by scanAccount, in its order.
const accountColumns = `workspace_id, phone, transport, settings, active, connected_at, rules, link`

func scanAccount(row pgx.Row) (*wagate.Account, error) {
	var (
		a                     wagate.Account
		settings, rules, link []byte
		rec                   rulesRecord
	)
	if err := row.Scan(&a.WorkspaceID, &a.Phone, &a.Transport, &settings, &a.Active, &a.ConnectedAt, &rules, &link); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(settings, &a.Settings); err != nil {
		return nil, fmt.Errorf("account %s: settings: %w", a.Phone, err)
	}
	if err := json.Unmarshal(rules, &rec); err != nil {
		return nil, fmt.Errorf("account %s: rules: %w", a.Phone, err)
	}
	a.Rules = rec.domain()
	l, err := decodeLink(link)
	if err != nil {
		return nil, fmt.Errorf("account %s: link: %w", a.Phone, err)
	}
	a.Link = l
	return &a, nil
}

func errAccountNotFound(phone string) error {
	return wagate.Errorf(wagate.ENOTFOUND, "account %s not found in this workspace", phone)
}

// CreateAccount stores a (settings and rules included); a zero ConnectedAt
// is set to now. ENOTFOUND for an unknown workspace, ECONFLICT if the
// workspace already has the phone or has Options.MaxAccounts accounts. The
// workspace's row is locked first, so two creates racing for the last place
// under the limit are serialised and cannot both win.
func (db *DB) CreateAccount(ctx context.Context, a *wagate.Account) error {
	if err := wagate.CheckAccountPhone(a.Phone); err != nil {
		return err
	}
	settings, err := json.Marshal(orEmpty(a.Settings))
	if err != nil {
		return wagate.Errorf(wagate.EINVALID, "settings: %v", err)
	}
	rules, err := json.Marshal(newRulesRecord(a.Rules))
	if err != nil {
		return wagate.Errorf(wagate.EINVALID, "rules: %v", err)
	}
	link, err := encodeLink(a.Link)
	if err != nil {
		return wagate.Errorf(wagate.EINVALID, "link: %v", err)
	}
	connected := orNow(a.ConnectedAt, db.now())
	err = db.update(ctx, "create account", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, a.WorkspaceID, true); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE workspace_id = $1`, a.WorkspaceID).Scan(&n); err != nil {
			return err
		}
		if db.maxAccounts > 0 && n >= db.maxAccounts {
			// A taken phone is the clearer answer, even at the limit.
			if _, err := findAccount(ctx, tx, a.Ref()); err == nil {
				return wagate.ErrAccountTaken(a.Phone)
			}
			return wagate.ErrAccountLimit(n, db.maxAccounts)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (workspace_id, phone) DO NOTHING`,
			a.WorkspaceID, a.Phone, a.Transport, string(settings), a.Active, connected, string(rules), link)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return wagate.ErrAccountTaken(a.Phone)
		}
		return nil
	})
	if err == nil {
		a.ConnectedAt = connected
	}
	return err
}

// orEmpty keeps a nil map from being stored as JSON null.
func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// FindAccount returns one account or ENOTFOUND.
func (db *DB) FindAccount(ctx context.Context, ref wagate.AccountRef) (*wagate.Account, error) {
	var a *wagate.Account
	err := db.read(ctx, "find account", func(q querier) error {
		var err error
		a, err = findAccount(ctx, q, ref)
		return err
	})
	return a, err
}

// findAccount reads one account, or ENOTFOUND.
func findAccount(ctx context.Context, q querier, ref wagate.AccountRef) (*wagate.Account, error) {
	a, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE workspace_id = $1 AND phone = $2`, ref.WorkspaceID, ref.Phone))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errAccountNotFound(ref.Phone)
	}
	return a, err
}

// ListAccounts returns a workspace's accounts, most recently connected
// first (the default sender of an inbound request is the first active one),
// or ENOTFOUND for an unknown workspace.
func (db *DB) ListAccounts(ctx context.Context, workspaceID string) ([]*wagate.Account, error) {
	var list []*wagate.Account
	err := db.view(ctx, "list accounts", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, false); err != nil {
			return err
		}
		var err error
		list, err = listAccounts(ctx, tx, workspaceID)
		return err
	})
	return list, err
}

// listAccounts reads the accounts of a workspace, most recently connected
// first, ties by phone (the order of both backends).
func listAccounts(ctx context.Context, q querier, workspaceID string) ([]*wagate.Account, error) {
	rows, err := q.Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE workspace_id = $1 ORDER BY connected_at DESC, phone`, workspaceID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Account, error) { return scanAccount(r) })
}

// QueueDepths counts the queued messages of each account of the workspace
// (waiting for a retry included), by phone; accounts with none are absent.
// ENOTFOUND for an unknown workspace.
func (db *DB) QueueDepths(ctx context.Context, workspaceID string) (map[string]int, error) {
	depths := map[string]int{}
	err := db.view(ctx, "queue depths", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT account_phone, count(*) FROM messages WHERE workspace_id = $1 AND status = 'queued' GROUP BY account_phone`, workspaceID)
		if err != nil {
			return err
		}
		var (
			phone string
			n     int
		)
		_, err = pgx.ForEachRow(rows, []any{&phone, &n}, func() error {
			depths[phone] = n
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return depths, nil
}

// SetAccountActive switches an account on or off. An inactive account's
// queue is kept; Accept refuses new messages for it.
func (db *DB) SetAccountActive(ctx context.Context, ref wagate.AccountRef, active bool) (*wagate.Account, error) {
	return db.UpdateAccount(ctx, ref, func(a *wagate.Account) error {
		a.Active = active
		return nil
	})
}

// UpdateAccount applies edit to the account in one transaction, its row
// locked: edit sees the stored account and changes Active and Rules (other
// fields are kept as stored), or returns an error that is passed on with
// nothing written. So two owners changing different rules at once both
// keep their change. ENOTFOUND for an unknown account.
//
// When the rules change, the careful-sending holds of the account's queued
// messages end in the same transaction (releaseHolds), so the new rules
// apply at once; a retry's due time stays. As the release writes messages,
// the workspace's row is locked first, as by every writer of messages.
func (db *DB) UpdateAccount(ctx context.Context, ref wagate.AccountRef, edit func(*wagate.Account) error) (*wagate.Account, error) {
	var out *wagate.Account
	err := db.update(ctx, "update account", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, ref.WorkspaceID, true); err != nil {
			if wagate.ErrorCode(err) == wagate.ENOTFOUND {
				return errAccountNotFound(ref.Phone)
			}
			return err
		}
		stored, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE workspace_id = $1 AND phone = $2 FOR UPDATE`, ref.WorkspaceID, ref.Phone))
		if errors.Is(err, pgx.ErrNoRows) {
			return errAccountNotFound(ref.Phone)
		}
		if err != nil {
			return err
		}
		cur := *stored
		cur.Settings = make(map[string]string, len(stored.Settings))
		for k, v := range stored.Settings {
			cur.Settings[k] = v
		}
		if err := edit(&cur); err != nil {
			return err
		}
		changed := stored.Rules != cur.Rules
		stored.Active, stored.Rules = cur.Active, cur.Rules
		rules, err := json.Marshal(newRulesRecord(stored.Rules))
		if err != nil {
			return wagate.Errorf(wagate.EINVALID, "rules: %v", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET active = $3, rules = $4 WHERE workspace_id = $1 AND phone = $2`,
			ref.WorkspaceID, ref.Phone, stored.Active, string(rules)); err != nil {
			return err
		}
		if changed {
			if err := releaseHolds(ctx, tx, ref, change{source: wagate.SourceSystem, at: db.now()}); err != nil {
				return err
			}
		}
		if stored.Active {
			// Activated, or its holds released: the replica that holds the
			// account's lease wakes it at once (notify.go).
			if err := notifyQueued(ctx, tx, []wagate.AccountRef{ref}); err != nil {
				return err
			}
		}
		out = stored
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteAccount removes the account and, in the same transaction, fails
// each of its queued messages (error "account deleted", with a failed try
// at at) with a refund, in queue order and then its scheduled ones by due
// time, as store/ does: credits are never held by messages that can no
// longer be sent. Messages being sent right now are left to their sender.
// The chats stay, so their ids keep resolving to a clear error. source
// names who deleted it, for the events of the failed messages.
func (db *DB) DeleteAccount(ctx context.Context, ref wagate.AccountRef, source string, at time.Time) error {
	at = orNow(at, db.now())
	return db.update(ctx, "delete account", func(tx pgx.Tx) error {
		// The workspace first, as every writer of messages locks it.
		if _, err := findWorkspace(ctx, tx, ref.WorkspaceID, true); err != nil {
			if wagate.ErrorCode(err) == wagate.ENOTFOUND {
				return errAccountNotFound(ref.Phone)
			}
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM accounts WHERE workspace_id = $1 AND phone = $2`, ref.WorkspaceID, ref.Phone)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errAccountNotFound(ref.Phone)
		}
		ch := change{source: source, at: at}
		queued, err := collectMessages(tx.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE workspace_id = $1 AND account_phone = $2 AND status = 'queued' AND queue_pos IS NOT NULL ORDER BY queue_pos FOR UPDATE`,
			ref.WorkspaceID, ref.Phone))
		if err != nil {
			return err
		}
		for _, m := range queued {
			// Not a send, but the try records when and why it failed.
			try := wagate.DeleteAccountTry(at)
			m.Tries = append(m.Tries, try)
			m.Error = try.Error
			if err := fail(ctx, tx, m, ch); err != nil {
				return err
			}
		}
		return failScheduled(ctx, tx, ref, ch)
	})
}

// ErrorAccountDeleted is the error of the queued messages failed by
// DeleteAccount (as store.ErrorAccountDeleted).
const ErrorAccountDeleted = wagate.ErrorAccountDeleted
