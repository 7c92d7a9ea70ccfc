package cloudapi

import (
	"context"
	"encoding/json"
	"fmt"
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

// customerBody is the part of a webhook that carries customers' messages.
type customerBody struct {
	Object string `json:"object"`
	Entry  []struct {
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID string `json:"phone_number_id"`
				} `json:"metadata"`
				Messages []struct {
					From      string          `json:"from"`
					Timestamp json.RawMessage `json:"timestamp"`
				} `json:"messages"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// ParseCustomerMessages reads the customers' messages of a Cloud API
// webhook body (entry[].changes[].value.messages[] of field "messages").
// Entries without a sender or a business number are skipped. Verify the
// signature first.
func ParseCustomerMessages(body []byte) ([]CustomerMessage, error) {
	var w customerBody
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("cloudapi: the webhook body is not a JSON object of the Cloud API: %w", err)
	}
	if w.Object != "whatsapp_business_account" {
		return nil, fmt.Errorf("cloudapi: the webhook is for object %q, not \"whatsapp_business_account\"", w.Object)
	}
	var out []CustomerMessage
	for _, e := range w.Entry {
		for _, c := range e.Changes {
			if c.Field != "" && c.Field != "messages" {
				continue
			}
			for _, m := range c.Value.Messages {
				if m.From == "" || c.Value.Metadata.PhoneNumberID == "" || !reDigits.MatchString(m.From) {
					continue
				}
				out = append(out, CustomerMessage{PhoneNumberID: c.Value.Metadata.PhoneNumberID, From: m.From, At: unixTime(m.Timestamp)})
			}
		}
	}
	return out, nil
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

// recordCustomers notes each customer message of a webhook body; a
// message without a timestamp counts as written now.
func recordCustomers(ctx context.Context, windows wagate.WindowService, body []byte, now time.Time, log *zap.Logger) error {
	if windows == nil {
		return nil
	}
	msgs, err := ParseCustomerMessages(body)
	if err != nil {
		return nil // ParseStatusWebhook already answered for such a body
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
