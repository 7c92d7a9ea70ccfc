package outbound

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate"
)

// SampleEvent makes the event of a test send (SPEC §9: "sample data
// overridden by variables"): an event of eventType at at, with the example
// values GET /api/v1/events shows, then each of vars set in the event
// itself, so the default JSON payload and every placeholder agree. The
// event id is "evt_test_" + the Unix nanoseconds of at, so a receiver can
// tell a test from a real event. Errors are EINVALID naming
// "variables.<name>": a name that is not a variable of eventType, or a
// value that does not fit (a number, a time, true/false).
func SampleEvent(workspaceID, eventType string, at time.Time, vars map[string]string) (*wagate.Event, error) {
	if !slices.Contains(wagate.EventTypes, eventType) {
		return nil, wagate.Errorf(wagate.EINVALID, "event %q is not an event type; use one of %s", cutText(eventType, 40), strings.Join(wagate.EventTypes, ", "))
	}
	ex := func(name string) string {
		for _, v := range EventVariables(eventType) {
			if v.Name == name {
				return v.Example
			}
		}
		return ""
	}
	ev := &wagate.Event{
		ID: "evt_test_" + strconv.FormatInt(at.UnixNano(), 10), WorkspaceID: workspaceID, Type: eventType, At: at.UTC(),
		Source: wagate.SourceInbound,
	}
	switch {
	case strings.HasPrefix(eventType, "message."):
		m := &wagate.Message{
			ID: ex("message.id"), WorkspaceID: workspaceID, Status: wagate.StatusSent, AccountPhone: ex("message.account_phone"),
			ChatID: 12, JID: ex("message.jid"), Text: ex("message.text"), FileName: ex("message.file_name"), Credits: 1,
			CreatedAt: at.Add(-10 * time.Second).UTC(), SentAt: at.UTC(),
		}
		switch eventType {
		case wagate.EventMessageQueued:
			m.Status, m.SentAt = wagate.StatusQueued, time.Time{}
		case wagate.EventMessageFailed:
			m.Status, m.SentAt, m.Error = wagate.StatusFailed, time.Time{}, "the number is not on WhatsApp"
			ev.Credits = 1
		case wagate.EventMessageCancelled:
			m.Status, m.SentAt, m.Error = wagate.StatusFailed, time.Time{}, wagate.ErrorCancelled
			ev.Credits = 1
		case wagate.EventMessageDelivered, wagate.EventMessageRead:
			m.Delivery, m.DeliveryAt = strings.TrimPrefix(eventType, "message."), at.UTC()
		}
		ev.Message, ev.AccountPhone = m, m.AccountPhone
	case eventType == wagate.EventWebhookAttempt:
		ev.Attempt = &wagate.Attempt{
			At: at.UTC(), RequestID: ex("attempt.request_id"), RemoteAddr: ex("attempt.remote_addr"),
			ContentType: ex("attempt.content_type"), Body: ex("attempt.body"), Message: ex("attempt.message"),
			MessageID: ex("attempt.message_id"), Credits: 1,
		}
	case strings.HasPrefix(eventType, "account."):
		ev.Account = &wagate.Account{WorkspaceID: workspaceID, Phone: ex("account.phone"), Transport: ex("account.transport"),
			Active: eventType == wagate.EventAccountConnected, ConnectedAt: at.Add(-72 * time.Hour).UTC()}
		ev.AccountPhone = ev.Account.Phone
	case eventType == wagate.EventCreditsLow:
		ev.Credits = 42
		ev.Source = wagate.SourceSystem
	}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	slices.Sort(names) // the first error is the same on every call
	for _, name := range names {
		if !IsVariable(eventType, name) {
			return nil, wagate.Errorf(wagate.EINVALID, "variables.%s is not a variable of %s; see GET /api/v1/events for its variables", cutText(name, 60), eventType)
		}
		if err := setVariable(ev, name, vars[name]); err != nil {
			return nil, wagate.Errorf(wagate.EINVALID, "variables.%s %v", name, err)
		}
	}
	return ev, nil
}

// setVariable writes one variable's value into the event it comes from.
func setVariable(ev *wagate.Event, name, value string) error {
	num := func(p *int64) error {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("must be a whole number, e.g. 1")
		}
		*p = n
		return nil
	}
	tm := func(p *time.Time) error {
		if value == "" {
			*p = time.Time{}
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, value)
		if err != nil {
			return fmt.Errorf("must be a time in RFC 3339, e.g. 2026-12-04T13:46:30Z")
		}
		*p = t.UTC()
		return nil
	}
	m, a, acc := ev.Message, ev.Attempt, ev.Account
	switch name {
	case "event.id":
		ev.ID = value
	case "event.type":
		if value != ev.Type {
			return fmt.Errorf("is the event type chosen; choose the event instead")
		}
	case "event.timestamp":
		return tm(&ev.At)
	case "event.source":
		ev.Source = value
	case "workspace.id":
		ev.WorkspaceID = value
	case "message.id":
		m.ID = value
	case "message.status":
		if !wagate.MessageStatus(value).Valid() {
			return fmt.Errorf("must be queued, sending, sent or failed")
		}
		m.Status = wagate.MessageStatus(value)
	case "message.phone":
		m.JID = strings.TrimPrefix(value, "+") + "@" + wagate.ServerUser
	case "message.jid":
		m.JID = value
	case "message.account_phone":
		m.AccountPhone, ev.AccountPhone = value, value
	case "message.chat_id":
		if value == "" {
			m.ChatID = 0
			return nil
		}
		return num(&m.ChatID)
	case "message.text":
		m.Text = value
	case "message.file_name":
		m.FileName = value
	case "message.error":
		m.Error = value
	case "message.credits":
		return num(&m.Credits)
	case "message.created_at":
		return tm(&m.CreatedAt)
	case "message.sent_at":
		return tm(&m.SentAt)
	case "message.delivery":
		m.Delivery = value
	case "message.delivery_at":
		return tm(&m.DeliveryAt)
	case "credits.refunded", "credits.balance":
		return num(&ev.Credits)
	case "attempt.at":
		return tm(&a.At)
	case "attempt.request_id":
		a.RequestID = value
	case "attempt.remote_addr":
		a.RemoteAddr = value
	case "attempt.content_type":
		a.ContentType = value
	case "attempt.body":
		a.Body = value
	case "attempt.code":
		a.Code = value
	case "attempt.message":
		a.Message = value
	case "attempt.message_id":
		a.MessageID = value
	case "attempt.credits":
		return num(&a.Credits)
	case "account.phone":
		acc.Phone, ev.AccountPhone = value, value
	case "account.transport":
		acc.Transport = value
	case "account.active":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		acc.Active = b
	case "account.connected_at":
		return tm(&acc.ConnectedAt)
	default:
		return fmt.Errorf("cannot be set in a test send")
	}
	return nil
}
