package wagate

import (
	"context"
	"time"
)

// TransportWhatsApp is the WhatsApp Web transport (SPEC §10): an ordinary
// WhatsApp or WhatsApp Business app account linked as a companion device.
const TransportWhatsApp = "whatsapp"

// AccountLink is where a whatsapp account's link to WhatsApp stands (SPEC
// §10), as the account object shows it. State is one of unlinked, linking,
// connected, disconnected, logged_out, banned, outdated, error; the zero
// value (State "") is an account that never had a link state, such as
// every account of another transport. It never holds the QR code or the
// pairing code: those are secrets of the moment and are not stored.
type AccountLink struct {
	State string
	Since time.Time
	Error string    // what happened and what to do, for the states that need it
	Until time.Time // banned: when WhatsApp lifts the ban (zero if it did not say)
}

// Link states the accept rules look at (the full list is in
// sender/whatsapp): a request for an account in one of these is refused
// with 409, since nothing would send it until someone links the phone.
const (
	LinkUnlinked  = "unlinked"
	LinkLoggedOut = "logged_out"
)

// NeedsLinking reports whether a whatsapp account cannot send until it is
// linked (again): unlinked, logged out, or never linked at all.
func (l AccountLink) NeedsLinking() bool {
	return l.State == "" || l.State == LinkUnlinked || l.State == LinkLoggedOut
}

// DeliverySenderAccountPhone is a DeliverySender.Setting that names the
// sending account by its phone rather than by a setting: a WhatsApp Web
// message id is unique per sending account, and the account is the phone.
const DeliverySenderAccountPhone = "@account_phone"

// AccountLinkService keeps the link state of whatsapp accounts. The
// transport reports every change; the account object shows the last one.
type AccountLinkService interface {
	// SetAccountLink records the account's link state; ENOTFOUND for an
	// unknown account. It changes nothing else of the account.
	SetAccountLink(ctx context.Context, ref AccountRef, l AccountLink) error
}
