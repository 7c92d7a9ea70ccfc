//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate"
)

// hookDevices are the devices of a Manager whose Config.NewClient is set
// (tests only): the clients come from the hook, while which account has a
// device is still recorded in the key store's table, so a restart on the
// same data folder finds the account linked, as with real keys.
type hookDevices struct {
	ks        *keystore
	newClient func(ref wagate.AccountRef, linked bool) Client
}

func (d hookDevices) client(ctx context.Context, ref wagate.AccountRef) (Client, bool, error) {
	jid, err := d.ks.deviceJID(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	linked := !jid.IsEmpty()
	return d.newClient(ref, linked), linked, nil
}

func (d hookDevices) paired(ctx context.Context, ref wagate.AccountRef, jid types.JID) error {
	return d.ks.paired(ctx, ref, jid)
}

func (d hookDevices) forget(ctx context.Context, ref wagate.AccountRef) error {
	if _, err := d.ks.db.ExecContext(ctx, "DELETE FROM wagate_account_device WHERE workspace = $1 AND phone = $2", ref.WorkspaceID, ref.Phone); err != nil {
		return fmt.Errorf("whatsapp: forgetting the device of %s: %w", ref.Phone, err)
	}
	return nil
}
