package gateway_test

import (
	"encoding/json"
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// TestEventDataIsTheAPIShape checks that a webhook's data is the object
// the admin API answers, with the refund on failures.
func TestEventDataIsTheAPIShape(t *testing.T) {
	m := &wagate.Message{ID: "wa_backend:0123456789ABCDEF0123", WorkspaceID: "ws", Status: wagate.StatusFailed, AccountPhone: "+15105566777", JID: "14155550100@s.whatsapp.net", Credits: 2, Error: "not on WhatsApp", CreatedAt: t0}
	for _, tc := range []struct {
		ev   *wagate.Event
		want map[string]any
	}{
		{&wagate.Event{Type: wagate.EventMessageFailed, Message: m, Credits: 2}, map[string]any{"id": m.ID, "status": "failed", "error": "not on WhatsApp", "refunded_credits": 2.0}},
		{&wagate.Event{Type: wagate.EventMessageSent, Message: m}, map[string]any{"id": m.ID, "account_phone": "+15105566777"}},
		{&wagate.Event{Type: wagate.EventCreditsLow, Credits: 7}, map[string]any{"balance": 7.0}},
		{&wagate.Event{Type: wagate.EventAccountConnected, Account: &wagate.Account{Phone: "+15105566777", Transport: "dryrun"}}, map[string]any{"phone": "+15105566777", "transport": "dryrun"}},
	} {
		raw, err := gateway.EventData(tc.ev)
		if err != nil {
			t.Fatalf("%s: %v", tc.ev.Type, err)
		}
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: %v in %s", tc.ev.Type, err, raw)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v (in %s)", tc.ev.Type, k, got[k], v, raw)
			}
		}
		if _, ok := got["refunded_credits"]; ok && tc.ev.Type == wagate.EventMessageSent {
			t.Errorf("message.sent carries refunded_credits: %s", raw)
		}
	}
}
