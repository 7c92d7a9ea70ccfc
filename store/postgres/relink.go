package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// ErrorRelinkGrace is the error of the queued messages failed by
// FailUnlinkedQueues (as store.ErrorRelinkGrace).
const ErrorRelinkGrace = wagate.ErrorRelinkGrace

// FailUnlinkedQueues fails, with a refund, the queued messages (scheduled
// ones that came due included) of every whatsapp account that has needed
// linking (unlinked or logged out, SPEC §10) since before before: a phone
// nobody links again must not hold credits forever. Messages being sent,
// and accounts that never had a link state, are left alone. It returns how
// many messages it failed; each account is one transaction. Several
// replicas may run it at once: each account's transaction checks the
// account again under the workspace's lock, so a message fails once.
func (db *DB) FailUnlinkedQueues(ctx context.Context, before time.Time) (int, error) {
	accts, err := db.AllAccounts(ctx)
	if err != nil {
		return 0, err
	}
	return wagate.FailUnlinked(accts, before, func(ref wagate.AccountRef) (int, error) {
		return db.failUnlinkedQueue(ctx, ref, before)
	})
}

// failUnlinkedQueue fails one account's queued messages, after checking
// again in the transaction that the account still needs linking. A
// scheduled message that has come due is as stuck as a queued one; one
// scheduled later keeps waiting, as the account may be linked by its time.
func (db *DB) failUnlinkedQueue(ctx context.Context, ref wagate.AccountRef, before time.Time) (int, error) {
	at := db.now()
	ch := change{source: wagate.SourceSystem, at: at}
	n := 0
	err := db.update(ctx, "fail unlinked queue", func(tx pgx.Tx) error {
		n = 0
		// The workspace first, as every writer of messages locks it.
		if _, err := findWorkspace(ctx, tx, ref.WorkspaceID, true); err != nil {
			if wagate.ErrorCode(err) == wagate.ENOTFOUND {
				return nil
			}
			return err
		}
		acct, err := findAccount(ctx, tx, ref)
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return nil // deleted meanwhile: DeleteAccount failed its queue
		}
		if err != nil || !wagate.LinkExpired(acct.Transport, acct.Link, before) {
			return err
		}
		stuck, err := collectMessages(tx.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE workspace_id = $1 AND account_phone = $2 AND status = 'queued' AND (send_at IS NULL OR send_at <= $3)
			ORDER BY seq FOR UPDATE`, ref.WorkspaceID, ref.Phone, at))
		if err != nil {
			return err
		}
		for _, m := range stuck {
			try := wagate.RelinkGraceTry(at)
			m.Tries = append(m.Tries, try)
			m.Error = try.Error
			m.NextTryAt = time.Time{}
			if err := fail(ctx, tx, m, ch); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
