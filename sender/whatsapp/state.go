package whatsapp

import (
	"errors"
	"time"

	"github.com/wagate/wagate"
)

// TransportName is the transport's name in an account's "transport" field.
const TransportName = "whatsapp"

// SettingTyping is the account setting that, when "true", shows "typing…"
// to the recipient before each send (see TypingDuration).
const SettingTyping = "typing"

// LinkState is where an account's link to WhatsApp stands (SPEC §10).
type LinkState string

// The link states.
const (
	// StateUnlinked: no device is linked; link by QR code or pairing code.
	StateUnlinked LinkState = "unlinked"
	// StateLinking: a QR code or pairing code is waiting to be used.
	StateLinking LinkState = "linking"
	// StateConnected: linked and online; messages go out.
	StateConnected LinkState = "connected"
	// StateDisconnected: linked, but the network or WhatsApp dropped the
	// connection; wagate reconnects with backoff and messages wait.
	StateDisconnected LinkState = "disconnected"
	// StateLoggedOut: the device was removed on the phone (or WhatsApp
	// logged it out); the account must be linked again.
	StateLoggedOut LinkState = "logged_out"
	// StateBanned: WhatsApp banned the account for a while (Until).
	StateBanned LinkState = "banned"
	// StateOutdated: WhatsApp refused this client version; update wagate.
	StateOutdated LinkState = "outdated"
	// StateError: something else went wrong; Error says what.
	StateError LinkState = "error"
)

// Link methods of Manager.Link.
const (
	MethodQR   = "qr"
	MethodCode = "code"
)

// Link is an account's link state as the API and the console show it.
// QR and Code are secrets of the moment: shown to the account's owners
// only, never logged (Link's String leaves them out).
type Link struct {
	State LinkState
	Since time.Time // when the state was entered
	Error string    // for error, outdated, disconnected, logged_out: what happened and what to do
	Until time.Time // for banned: when WhatsApp lifts the ban (zero if it did not say)
	// While linking: the QR code to show (it rotates; ExpiresAt is when
	// the next one comes) or the pairing code to type on the phone.
	QR        string
	Code      string
	ExpiresAt time.Time
}

// String describes the state for logs, never the QR or pairing code.
func (l Link) String() string {
	s := string(l.State)
	if l.Error != "" {
		s += ": " + l.Error
	}
	return s
}

// Receipt is WhatsApp's report that a message sent by an account reached
// the recipient's phone ("delivered") or was read ("read"). The cmd turns
// it into a wagate.DeliveryUpdate (see DeliveryUpdate) for the store's
// ApplyDelivery.
type Receipt struct {
	Account    wagate.AccountRef
	ProviderID string // the WhatsApp message id Send returned
	Status     string // "delivered" or "read"
	At         time.Time
}

// Delivery statuses of a Receipt, the same words as the Cloud API's.
const (
	StatusDelivered = "delivered"
	StatusRead      = "read"
)

// DeliveryUpdate returns the update to apply for r. The account is named by
// its phone: a WhatsApp message id is unique per sending account only.
func (r Receipt) DeliveryUpdate() wagate.DeliveryUpdate {
	return wagate.DeliveryUpdate{
		ProviderID: r.ProviderID,
		Status:     r.Status,
		At:         r.At,
		From:       wagate.DeliverySender{Setting: DeliveryFromAccountPhone, Value: r.Account.Phone},
	}
}

// DeliveryFromAccountPhone is the DeliverySender.Setting of a Receipt's
// update: the message's account must have this phone. The store matches
// the account by its phone for this pseudo-setting.
const DeliveryFromAccountPhone = wagate.DeliverySenderAccountPhone

// Advance says whether a receipt status moves a message's delivery forward:
// delivered after sent, read after sent or delivered; never backwards, and
// never over a failure.
func Advance(current, next string) bool {
	rank := map[string]int{"": 0, "sent": 1, StatusDelivered: 2, StatusRead: 3}
	c, ok := rank[current]
	if !ok {
		return false
	}
	n, ok := rank[next]
	return ok && n > c
}

// ErrNotBuilt is Open's answer in a binary built with -tags nowhatsapp.
var ErrNotBuilt = errors.New("whatsapp: this wagate was built without the WhatsApp Web transport (-tags nowhatsapp); use a build without that tag to link WhatsApp accounts")
