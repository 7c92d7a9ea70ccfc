package wagate

import (
	"context"
	"time"
)

// CustomerWindow is how long after a customer's last message a business
// may send free-form messages through the Cloud API (SPEC §8); past it,
// only a template message is delivered (else error 131047).
const CustomerWindow = 24 * time.Hour

// ChatKey names a conversation as the provider sees it: the sending
// number's provider id (a Cloud API phone_number_id) and the customer's
// WhatsApp id (digits). A webhook knows these, not the workspace, and the
// same number may be connected in several workspaces: they share the
// customer's window, as WhatsApp does.
type ChatKey struct {
	Transport string // e.g. TransportCloudAPI
	Sender    string // the sending number's provider id
	Customer  string // the customer's wa_id (digits)
}

// WindowService records when customers last wrote, for the 24-hour window.
type WindowService interface {
	// RecordCustomerMessage notes that the customer of k wrote at at;
	// an older at than the one kept changes nothing.
	RecordCustomerMessage(ctx context.Context, k ChatKey, at time.Time) error
	// LastCustomerMessage returns when the customer of k last wrote; ok
	// is false when nothing was recorded.
	LastCustomerMessage(ctx context.Context, k ChatKey) (at time.Time, ok bool, err error)
}
