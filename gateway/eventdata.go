package gateway

import (
	"encoding/json"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// EventData renders the "data" of an event's default JSON payload (SPEC §9):
// for message events the message object of the admin API (§4), for
// webhook.attempt the attempt as the attempt log shows it, for account
// events the account object, and for credits.low the balance. The command
// hands it to the deliverer, which must not import the gateway, so an
// integrator reads the same shapes from a webhook as from the API.
func EventData(ev *wagate.Event) (json.RawMessage, error) {
	var v any
	switch {
	case ev.Message != nil:
		m := renderMessage(ev.Message)
		if ev.Type == wagate.EventMessageFailed || ev.Type == wagate.EventMessageCancelled {
			v = struct {
				api.Message
				Refunded int64 `json:"refunded_credits"`
			}{m, ev.Credits}
		} else {
			v = m
		}
	case ev.Attempt != nil:
		v = renderAttempt(ev.Attempt)
	case ev.Account != nil:
		v = renderAccount(ev.Account)
	case ev.Type == wagate.EventCreditsLow:
		v = map[string]int64{"balance": ev.Credits}
	default:
		v = map[string]any{}
	}
	return json.Marshal(v)
}
