package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// sentWith finds the message a delivery report is about: the newest one
// sent with the provider id whose account matches from (see
// wagate.DeliveryUpdate.From), checked against the account's settings when
// the report comes. An account deleted since the send matches nothing by a
// setting (its sender can no longer be confirmed), but still by its phone.
// ENOTFOUND, saying which, when no message was sent with the id, or none
// from that sender.
func sentWith(ctx context.Context, q querier, providerID string, from wagate.DeliverySender) (string, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT m.id FROM messages m
		LEFT JOIN accounts a ON a.workspace_id = m.workspace_id AND a.phone = m.account_phone
		WHERE m.provider_id = $1 AND ($2::text = ''
			OR ($2::text = $4::text AND m.account_phone = $3::text)
			OR ($2::text <> $4::text AND a.settings ->> $2::text = $3::text))
		ORDER BY m.seq DESC LIMIT 1`, providerID, from.Setting, from.Value, wagate.DeliverySenderAccountPhone).Scan(&id)
	if !errors.Is(err, pgx.ErrNoRows) {
		return id, err
	}
	var sent bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE provider_id = $1)`, providerID).Scan(&sent); err != nil {
		return "", err
	}
	if !sent {
		return "", wagate.Errorf(wagate.ENOTFOUND, "no message was sent with provider id %q", providerID)
	}
	return "", wagate.Errorf(wagate.ENOTFOUND, "no message was sent with provider id %q from %s %q", providerID, from.Setting, wagate.CutUTF8(from.Value, 64))
}

// ApplyDelivery records a transport's report on a sent message; see
// wagate.DeliveryService. A late "failed" goes through fail, the one place
// that refunds, and a failed message never moves again: the refund happens
// once however often the report is repeated.
func (db *DB) ApplyDelivery(ctx context.Context, u wagate.DeliveryUpdate, advance func(current, next string) bool) (*wagate.Message, bool, error) {
	at := orNow(u.At, db.now())
	ch := change{source: wagate.SourceSystem, at: at}
	var (
		out     *wagate.Message
		applied bool
	)
	err := db.update(ctx, "apply delivery", func(tx pgx.Tx) error {
		out, applied = nil, false
		id, err := sentWith(ctx, tx, u.ProviderID, u.From)
		if err != nil {
			return err
		}
		r, err := lockMessage(ctx, tx, id)
		if err != nil {
			return err
		}
		out = r.Message
		if !wagate.DeliveryMoves(r.Status, r.Delivery, u.Status, advance) {
			return nil
		}
		b := beforeOf(r.Message)
		if _, err := tx.Exec(ctx, `UPDATE messages SET delivery = $2, delivery_at = $3 WHERE id = $1`, id, u.Status, at); err != nil {
			return err
		}
		r.Delivery, r.DeliveryAt = u.Status, at
		if err := messageChanged(ctx, tx, r.Message, b, ch); err != nil {
			return err
		}
		applied = true
		if !wagate.DeliveryFails(r.Status, u.Status) {
			return nil
		}
		try := wagate.DeliveryFailedTry(at, u.Error)
		r.Error = try.Error
		r.Tries = append(r.Tries, try)
		return fail(ctx, tx, r.Message, ch)
	})
	if err != nil {
		return nil, false, err
	}
	return out, applied, nil
}
