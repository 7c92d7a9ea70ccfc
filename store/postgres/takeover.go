package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// Confirm at takeover (sender.Leaser): a replica taking an account over
// whose transport can tell what a send of any replica became (a
// sender.SharedConfirmer: the WhatsApp Web send ledger in this database,
// a dryrun outbox every replica shares) reads the messages the previous
// holder left in sending (SendingOf), asks the transport about each, and
// settles them all in one fenced write (SettleAccount): what went out
// becomes sent, what certainly did not goes back to its place in the
// queue, and the rest fails and is refunded as RecoverAccount does.

// SendingOf lists ref's messages in sending, in their order: at a
// takeover, before any send, the ones the account's previous holder left.
func (db *DB) SendingOf(ctx context.Context, ref wagate.AccountRef) ([]*wagate.Message, error) {
	var list []*wagate.Message
	err := db.read(ctx, "list sending of account", func(q querier) error {
		var err error
		list, err = collectMessages(q.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE workspace_id = $1 AND account_phone = $2 AND status = 'sending' ORDER BY seq`, ref.WorkspaceID, ref.Phone))
		return err
	})
	return list, err
}

// SettleAccount settles, in one transaction fenced by ref's lease, every
// message of ref left in sending: a message with an answer takes it (a try
// with Result sent: sent, with the try's provider id, and counted in the
// account's send history; Result retry: queued again at its place, due at
// the try's time, no charge changed, or failed and refunded if the account
// was deleted meanwhile), and every other one fails and is refunded with
// an interrupted try at at, as RecoverAccount does. An answer for a
// message no longer in sending is ignored. It returns the status each
// message of ref that was in sending ended with. Only the lease's holder
// settles: ECONFLICT wrapping wagate.ErrLeaseLost otherwise.
func (db *DB) SettleAccount(ctx context.Context, ref wagate.AccountRef, at time.Time, answers map[string]wagate.Try) (map[string]wagate.MessageStatus, error) {
	at = orNow(at, db.now())
	var settled map[string]wagate.MessageStatus
	err := db.update(ctx, "settle account", func(tx pgx.Tx) error {
		settled = map[string]wagate.MessageStatus{}
		if gone, err := db.lockTakenOver(ctx, tx, ref, at); gone || err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM messages
			WHERE workspace_id = $1 AND account_phone = $2 AND status = 'sending' ORDER BY seq FOR UPDATE`, ref.WorkspaceID, ref.Phone)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range ids {
			r, err := lockMessage(ctx, tx, id)
			if err != nil {
				return err
			}
			try, ok := answers[id]
			if ok {
				try.At = orNow(try.At, at)
			}
			switch {
			case ok && try.Result == wagate.TryResultSent:
				err = markSentTx(ctx, tx, r, try)
			case ok && try.Result == wagate.TryResultRetry:
				err = retryTx(ctx, tx, r, try, try.At)
			default:
				interrupted := wagate.InterruptedTry(at)
				r.Tries = append(r.Tries, interrupted)
				r.Error = interrupted.Error
				err = fail(ctx, tx, r.Message, change{source: wagate.SourceSystem, at: at})
			}
			if err != nil {
				return err
			}
			settled[id] = r.Status
		}
		if len(ids) > 0 {
			// As fenceOutcome: the gap of the next send runs from no
			// earlier than this settlement.
			_, err = tx.Exec(ctx, `UPDATE account_leases SET last_send_at = greatest(last_send_at, $3) WHERE workspace_id = $1 AND phone = $2`,
				ref.WorkspaceID, ref.Phone, at)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return settled, nil
}

// lockTakenOver locks what a takeover writes, in every writer's order:
// the workspace first, then the account's lease, fenced (RecoverAccount,
// SettleAccount). gone is true when the workspace was deleted meanwhile:
// nothing is left to settle.
func (db *DB) lockTakenOver(ctx context.Context, tx pgx.Tx, ref wagate.AccountRef, at time.Time) (gone bool, err error) {
	if _, err := findWorkspace(ctx, tx, ref.WorkspaceID, true); err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return true, nil
		}
		return false, err
	}
	return false, db.fence(ctx, tx, ref, at, false)
}
