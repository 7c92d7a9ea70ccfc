package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// AllAccounts returns every account of every workspace, by workspace id,
// then phone, in byte order as store/ lists them. The sender asks for it at
// start (sender.AccountLister) to connect the accounts of session
// transports that have nothing queued, and the relink sweep walks it.
func (db *DB) AllAccounts(ctx context.Context) ([]*wagate.Account, error) {
	var list []*wagate.Account
	err := db.read(ctx, "list all accounts", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY workspace_id COLLATE "C", phone COLLATE "C"`)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Account, error) { return scanAccount(r) })
		return err
	})
	return list, err
}
