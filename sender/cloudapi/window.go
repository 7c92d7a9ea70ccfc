package cloudapi

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// The 24-hour customer service window (SPEC §8): a business may send
// free-form messages to a customer for 24 hours after the customer last
// wrote; after that only templates are delivered (error 131047). The
// "messages" field of the webhook carries what customers write
// (value.messages[]); wagate keeps, per business number and customer, when
// that last happened, so a free-form send to a closed window is refused at
// accept instead of being charged, queued and failed.

// CustomerMessage is a message a customer wrote to a business number.
type CustomerMessage struct {
	PhoneNumberID string    // the business number (metadata.phone_number_id)
	From          string    // the customer's wa_id
	At            time.Time // Meta's timestamp; zero if absent
}

// ParseCustomerMessages reads the customers' messages of a Cloud API
// webhook body: ParseWebhook's Customers.
func ParseCustomerMessages(body []byte) ([]CustomerMessage, error) {
	w, err := ParseWebhook(body)
	if err != nil {
		return nil, err
	}
	return w.Customers, nil
}

// ChatKey names the conversation of an account (its phone_number_id
// setting) with a person's JID, for the 24-hour window. ok is false for
// what has no window (no phone_number_id, a group or @lid address).
func ChatKey(settings map[string]string, jid string) (wagate.ChatKey, bool) {
	id := strings.TrimSpace(settings[SettingPhoneNumberID])
	user, server, _ := strings.Cut(jid, "@")
	if id == "" || server != wagate.ServerUser || user == "" {
		return wagate.ChatKey{}, false
	}
	return wagate.ChatKey{Transport: wagate.TransportCloudAPI, Sender: id, Customer: user}, true
}

// recordCustomers notes each customer message of a webhook; a message
// without a timestamp counts as written now.
func recordCustomers(ctx context.Context, windows wagate.WindowService, msgs []CustomerMessage, now time.Time, log *zap.Logger) error {
	if windows == nil {
		return nil
	}
	for _, m := range msgs {
		at := m.At
		if at.IsZero() {
			at = now
		}
		k := wagate.ChatKey{Transport: wagate.TransportCloudAPI, Sender: m.PhoneNumberID, Customer: m.From}
		if err := windows.RecordCustomerMessage(context.WithoutCancel(ctx), k, at.UTC()); err != nil {
			log.Error("recording a customer message", zap.Error(err))
			return err
		}
	}
	if len(msgs) > 0 {
		log.Debug("customer messages recorded", zap.Int("messages", len(msgs)))
	}
	return nil
}
