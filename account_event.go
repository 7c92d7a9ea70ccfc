package wagate

import (
	"context"
	"time"
)

// AccountEventTypes are the account.* event types (SPEC §9, §10): the
// link state changes of a WhatsApp Web account that an endpoint can
// subscribe to.
var AccountEventTypes = []string{EventAccountConnected, EventAccountDisconnect, EventAccountLoggedOut}

// AccountEventService writes the account.* events. The WhatsApp Web
// wiring calls it where an account's link state changes, so that the event
// is written in the same commit as the change (the outbox rule of SPEC §9):
// a crash can then neither lose the event of a change that was stored nor
// leave an event for a change that was not.
type AccountEventService interface {
	// RecordAccountEvent writes an event of type typ (one of
	// AccountEventTypes) about the account, at at (zero: now), with source
	// SourceSystem, to every enabled endpoint of the workspace subscribed
	// to typ whose filter matches. In the same commit it applies edit (nil:
	// no change) to the stored account, as UpdateAccount does, and the
	// event carries the account as edit left it; an error from edit is
	// returned with nothing written. EINVALID for another typ, ENOTFOUND
	// for an unknown account.
	RecordAccountEvent(ctx context.Context, ref AccountRef, typ string, at time.Time, edit func(*Account) error) (*Account, error)
}
