package outbound

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wagate/wagate"
)

// Variable is one name a placeholder may use, as GET /api/v1/events lists
// it: what it holds and an example value (also the test send's sample).
type Variable struct {
	Name        string
	Description string
	Example     string
}

// The variable groups; an event type has the common group and the ones
// eventGroups names.
var (
	commonVars = []Variable{
		{"event.id", "the event's id, also the webhook-id header; the same on every retry", "evt_01HZY3R8Q5J0W7ZK4N2B6C9D1E"},
		{"event.type", "the event type", wagate.EventMessageSent},
		{"event.timestamp", "when the change happened, RFC 3339 in UTC", "2026-12-04T13:46:30Z"},
		{"event.source", "who made the change: inbound, api, console, or empty for wagate itself", wagate.SourceInbound},
		{"workspace.id", "the workspace's id", "ws_sample"},
	}
	messageVars = []Variable{
		{"message.id", "the message's id", "wa_backend:0123456789ABCDEF0123"},
		{"message.status", "queued, sending, sent or failed", string(wagate.StatusSent)},
		{"message.phone", "the recipient in +E.164; empty for a group or a @lid recipient", "+14155552671"},
		{"message.jid", "the recipient's JID", "14155552671@s.whatsapp.net"},
		{"message.account_phone", "the sending account in +E.164", "+4915112345678"},
		{"message.chat_id", "the chat's id; empty when the message named no chat", "12"},
		{"message.text", "the message text", "Your order has shipped"},
		{"message.file_name", "the attachment's file name; empty when none", "invoice.pdf"},
		{"message.error", "why the message failed; empty unless failed", ""},
		{"message.credits", "the credits the message cost", "1"},
		{"message.created_at", "when the message was accepted, RFC 3339 in UTC", "2026-12-04T13:46:20Z"},
		{"message.sent_at", "when the message was sent, RFC 3339 in UTC; empty until sent", "2026-12-04T13:46:30Z"},
		{"message.delivery", "the transport's last report: sent, delivered, read, failed; empty when none", ""},
		{"message.delivery_at", "when that report came, RFC 3339 in UTC; empty when none", ""},
	}
	refundVars = []Variable{
		{"credits.refunded", "the credits given back to the workspace", "1"},
	}
	attemptVars = []Variable{
		{"attempt.at", "when the inbound URL was called, RFC 3339 in UTC", "2026-12-04T13:46:20Z"},
		{"attempt.request_id", "the request's id", "req_sample"},
		{"attempt.remote_addr", "the caller's address", "203.0.113.7"},
		{"attempt.content_type", "the request's Content-Type", "application/json"},
		{"attempt.body", "the request body, cut at 4 KiB", `{"phone":"+14155552671","message":"Your order has shipped"}`},
		{"attempt.code", "the answer's error code; empty when the message was accepted", ""},
		{"attempt.message", "the answer's message", "queued"},
		{"attempt.message_id", "the accepted message's id; empty when refused", "wa_backend:0123456789ABCDEF0123"},
		{"attempt.credits", "the credits charged", "1"},
	}
	accountVars = []Variable{
		{"account.phone", "the account's phone in +E.164", "+4915112345678"},
		{"account.transport", "the account's transport", "whatsapp"},
		{"account.active", "true or false", "true"},
		{"account.connected_at", "when the account was connected, RFC 3339 in UTC", "2026-12-01T09:00:00Z"},
	}
	balanceVars = []Variable{
		{"credits.balance", "the workspace's balance after the change", "42"},
	}
)

// eventGroups says which groups besides the common one each event type has.
var eventGroups = map[string][][]Variable{
	wagate.EventMessageQueued:     {messageVars},
	wagate.EventMessageSent:       {messageVars},
	wagate.EventMessageDelivered:  {messageVars},
	wagate.EventMessageRead:       {messageVars},
	wagate.EventMessageFailed:     {messageVars, refundVars},
	wagate.EventMessageCancelled:  {messageVars, refundVars},
	wagate.EventWebhookAttempt:    {attemptVars},
	wagate.EventAccountConnected:  {accountVars},
	wagate.EventAccountDisconnect: {accountVars},
	wagate.EventAccountLoggedOut:  {accountVars},
	wagate.EventCreditsLow:        {balanceVars},
}

// EventVariables lists the variables of an event type in a stable order,
// for GET /api/v1/events and the OpenAPI description; nil for an unknown
// type.
func EventVariables(eventType string) []Variable {
	groups, ok := eventGroups[eventType]
	if !ok {
		return nil
	}
	vs := slices.Clone(commonVars)
	for _, g := range groups {
		vs = append(vs, g...)
	}
	return vs
}

// IsVariable reports whether name is a variable of events of eventType:
// the check Validate makes for every placeholder, against each subscribed
// event.
func IsVariable(eventType, name string) bool {
	return slices.ContainsFunc(EventVariables(eventType), func(v Variable) bool { return v.Name == name })
}

// Variables returns the values of every variable of e's type, so a
// placeholder renders the same whatever the endpoint's body type. A value
// the event does not have is "" (a placeholder's default applies).
// Times are RFC 3339 in UTC, numbers in decimal, phones in +E.164.
func Variables(e *wagate.Event) map[string]string {
	v := map[string]string{
		"event.id":        e.ID,
		"event.type":      e.Type,
		"event.timestamp": timeVar(e.At),
		"event.source":    e.Source,
		"workspace.id":    e.WorkspaceID,
	}
	for _, g := range eventGroups[e.Type] {
		for _, vr := range g {
			v[vr.Name] = ""
		}
	}
	if m := e.Message; m != nil {
		v["message.id"] = m.ID
		v["message.status"] = string(m.Status)
		v["message.phone"] = jidPhone(m.JID)
		v["message.jid"] = m.JID
		v["message.account_phone"] = m.AccountPhone
		if m.ChatID != 0 {
			v["message.chat_id"] = strconv.FormatInt(m.ChatID, 10)
		}
		v["message.text"] = m.Text
		v["message.file_name"] = m.FileName
		v["message.error"] = m.Error
		v["message.credits"] = strconv.FormatInt(m.Credits, 10)
		v["message.created_at"] = timeVar(m.CreatedAt)
		v["message.sent_at"] = timeVar(m.SentAt)
		v["message.delivery"] = m.Delivery
		v["message.delivery_at"] = timeVar(m.DeliveryAt)
	}
	if a := e.Attempt; a != nil {
		v["attempt.at"] = timeVar(a.At)
		v["attempt.request_id"] = a.RequestID
		v["attempt.remote_addr"] = a.RemoteAddr
		v["attempt.content_type"] = a.ContentType
		v["attempt.body"] = a.Body
		v["attempt.code"] = a.Code
		v["attempt.message"] = a.Message
		v["attempt.message_id"] = a.MessageID
		v["attempt.credits"] = strconv.FormatInt(a.Credits, 10)
	}
	if a := e.Account; a != nil {
		v["account.phone"] = a.Phone
		v["account.transport"] = a.Transport
		v["account.active"] = strconv.FormatBool(a.Active)
		v["account.connected_at"] = timeVar(a.ConnectedAt)
	}
	switch e.Type {
	case wagate.EventMessageFailed, wagate.EventMessageCancelled:
		v["credits.refunded"] = strconv.FormatInt(e.Credits, 10)
	case wagate.EventCreditsLow:
		v["credits.balance"] = strconv.FormatInt(e.Credits, 10)
	}
	// Every body type carries text; bytes that are not UTF-8 become
	// U+FFFD once here, so all of them carry the same text.
	for k, x := range v {
		if !utf8.ValidString(x) {
			v[k] = strings.ToValidUTF8(x, "\uFFFD")
		}
	}
	return v
}

// timeVar writes t as RFC 3339 in UTC, "" for the zero time.
func timeVar(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// jidPhone returns the +E.164 number of a person's JID, "" for a group or
// a @lid (whose digits are not a phone number).
func jidPhone(jid string) string {
	user, server, ok := strings.Cut(jid, "@")
	if !ok || user == "" || (server != wagate.ServerUser && server != "c.us") {
		return ""
	}
	return "+" + user
}
