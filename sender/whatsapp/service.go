package whatsapp

import (
	"context"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// Service is what the cmd uses of the transport, in both builds: the
// sender's Transport and Confirmer, and the session lifecycle the account
// routes drive. Open returns the real one, or ErrNotBuilt in a build with
// -tags nowhatsapp.
type Service interface {
	// SharedConfirmer: its Confirm answers across replicas when its
	// ledger is in the shared database.
	sender.SharedConfirmer
	// SessionHolder: the sender starts and stops the sessions itself
	// (StartAccount is Start with the sender's wake; StopAccount is Stop).
	sender.SessionHolder
	// Start brings up the session of a linked account (at boot, when the
	// account is resumed). An account with no linked device is reported
	// unlinked. Starting a running session does nothing.
	Start(ctx context.Context, acct *wagate.Account)
	// Stop ends the account's session (paused, deleted); its device stays
	// linked for the next Start.
	Stop(ref wagate.AccountRef)
	// Link starts linking the account by MethodQR or MethodCode and
	// returns the first state (with the QR code or the pairing code). An
	// account already connected is an ECONFLICT.
	Link(ctx context.Context, acct *wagate.Account, method string) (Link, error)
	// Unlink logs the account's device out and forgets its keys.
	Unlink(ctx context.Context, ref wagate.AccountRef) error
	// Status is the account's current link state.
	Status(ref wagate.AccountRef) Link
	// Close stops every session and closes the key store.
	Close() error
}
