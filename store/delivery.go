package store

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

var _ wagate.DeliveryService = (*DB)(nil)

// indexProviderID remembers which message a transport's id belongs to, so a
// delivery report (which names only the transport's id) finds its message.
func indexProviderID(tx *bolt.Tx, providerID, messageID string) error {
	if providerID == "" {
		return nil
	}
	return bucket(tx, bucketProviderIDs).Put([]byte(providerID), []byte(messageID))
}

// sentFrom reports whether m's account matches from (see
// wagate.DeliveryUpdate.From): checked against the account's settings when
// the report comes, so the provider_ids index keeps its shape and the ids
// stored before this check keep working. An account deleted since the send
// matches nothing: the sender can no longer be confirmed.
func sentFrom(tx *bolt.Tx, m *messageRecord, from wagate.DeliverySender) (bool, error) {
	switch from.Setting {
	case "":
		return true, nil
	case wagate.DeliverySenderAccountPhone:
		// The account is the phone: no setting to read, and no lookup,
		// so a receipt of a deleted account still matches its message.
		return m.AccountPhone == from.Value, nil
	}
	acct, err := getAccount(tx, wagate.AccountRef{WorkspaceID: m.WorkspaceID, Phone: m.AccountPhone})
	if err != nil || acct == nil {
		return false, err
	}
	v, ok := acct.Settings[from.Setting]
	return ok && v == from.Value, nil
}

// ApplyDelivery records a transport's report on a sent message; see
// wagate.DeliveryService. A late "failed" goes through fail, the one place
// that refunds, and a failed message is never moved again: the refund
// happens once however often the report is repeated.
func (db *DB) ApplyDelivery(ctx context.Context, u wagate.DeliveryUpdate, advance func(current, next string) bool) (*wagate.Message, bool, error) {
	at := orNow(u.At, db.now())
	ch := db.change(wagate.SourceSystem, at)
	var (
		out     *wagate.Message
		applied bool
	)
	err := db.batch(ctx, "apply delivery", func(tx *bolt.Tx) (error, error) {
		out, applied = nil, false
		id := bucket(tx, bucketProviderIDs).Get([]byte(u.ProviderID))
		if id == nil {
			return wagate.Errorf(wagate.ENOTFOUND, "no message was sent with provider id %q", u.ProviderID), nil
		}
		m, err := getMessage(tx, string(id))
		if err != nil || m == nil {
			return nil, err
		}
		if ok, err := sentFrom(tx, m, u.From); err != nil {
			return nil, err
		} else if !ok {
			return wagate.Errorf(wagate.ENOTFOUND, "no message was sent with provider id %q from %s %q", u.ProviderID, u.From.Setting, cutUTF8(u.From.Value, 64)), nil
		}
		if !wagate.DeliveryMoves(m.Status, m.Delivery, u.Status, advance) {
			out = m.domain()
			return nil, nil
		}
		m.Delivery, m.DeliveryAt = u.Status, at
		if wagate.DeliveryFails(m.Status, u.Status) {
			try := wagate.DeliveryFailedTry(at, u.Error)
			m.Error = try.Error
			m.Tries = append(m.Tries, tryRecord(try))
			if err := fail(tx, m, ch); err != nil {
				return nil, err
			}
		} else if err := putMessage(tx, m, ch); err != nil {
			return nil, err
		}
		out, applied = m.domain(), true
		return nil, nil
	})
	return out, applied, err
}
