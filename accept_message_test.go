package wagate

import (
	"testing"
	"time"
)

// TestQueuedMessage: an accepted message is queued, keeps the request's
// content, forgets any life it has not had, and is scheduled only when its
// send_at is after now.
func TestQueuedMessage(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	created := now.Add(-time.Minute)
	full := func() *Message {
		return &Message{
			ID: "wa_backend:1", WorkspaceID: "ws_other", Status: StatusSent, AccountPhone: "+14155552671",
			ChatID: 7, JID: "14155552672@s.whatsapp.net", Text: "hi", Credits: 2, Error: "boom",
			Tries: []Try{{At: now, Result: TryResultRetry}}, NextTryAt: now.Add(time.Hour), WaitingFor: "wa_backend:0",
			SentAt: now, WaitingReason: WaitingQuietHours, Delivery: "read", DeliveryAt: now,
			TemplateName: "greet", Template: &TemplateSend{Name: "hello"},
		}
	}
	tests := []struct {
		name          string
		sendAt        time.Time
		createdAt     time.Time
		wantSendAt    time.Time
		wantReason    string
		wantNextTry   time.Time
		wantCreatedAt time.Time
	}{
		{"no send_at: sent in its turn", time.Time{}, time.Time{}, time.Time{}, "", time.Time{}, now},
		{"send_at in the past: an ordinary message", now.Add(-time.Second), time.Time{}, time.Time{}, "", time.Time{}, now},
		{"send_at exactly now: due already", now, time.Time{}, time.Time{}, "", time.Time{}, now},
		{"send_at a nanosecond ahead: scheduled", now.Add(time.Nanosecond), time.Time{}, now.Add(time.Nanosecond), WaitingScheduled, now.Add(time.Nanosecond), now},
		{"send_at tomorrow: scheduled", now.Add(24 * time.Hour), time.Time{}, now.Add(24 * time.Hour), WaitingScheduled, now.Add(24 * time.Hour), now},
		{"the request's creation time is kept", time.Time{}, created, time.Time{}, "", time.Time{}, created},
	}
	for _, tt := range tests {
		in := full()
		in.SendAt, in.CreatedAt = tt.sendAt, tt.createdAt
		m := QueuedMessage(in, "ws_a", now)
		if m.Status != StatusQueued || m.WorkspaceID != "ws_a" {
			t.Errorf("%s: status %s workspace %s, want queued in ws_a", tt.name, m.Status, m.WorkspaceID)
		}
		if !m.SendAt.Equal(tt.wantSendAt) || m.WaitingReason != tt.wantReason || !m.NextTryAt.Equal(tt.wantNextTry) {
			t.Errorf("%s: send_at %v, waiting_reason %q, next_try_at %v; want %v, %q, %v",
				tt.name, m.SendAt, m.WaitingReason, m.NextTryAt, tt.wantSendAt, tt.wantReason, tt.wantNextTry)
		}
		if !m.CreatedAt.Equal(tt.wantCreatedAt) {
			t.Errorf("%s: created_at %v, want %v", tt.name, m.CreatedAt, tt.wantCreatedAt)
		}
		if m.Error != "" || m.Tries != nil || !m.SentAt.IsZero() || m.WaitingFor != "" || m.Delivery != "" || !m.DeliveryAt.IsZero() {
			t.Errorf("%s: error %q, tries %v, sent_at %v, waiting_for %q, delivery %q at %v; want none: a new message has no past",
				tt.name, m.Error, m.Tries, m.SentAt, m.WaitingFor, m.Delivery, m.DeliveryAt)
		}
		if m.ID != in.ID || m.AccountPhone != in.AccountPhone || m.ChatID != in.ChatID || m.JID != in.JID || m.Text != in.Text ||
			m.Credits != in.Credits || m.TemplateName != in.TemplateName || m.Template != in.Template {
			t.Errorf("%s: the request's content changed: %+v", tt.name, m)
		}
		if in.Status != StatusSent || in.Error != "boom" || in.WorkspaceID != "ws_other" {
			t.Errorf("%s: the request's message was changed (a batch may accept it again)", tt.name)
		}
	}
}

// TestAcceptAttempt: an accept's attempt names its message and the credits
// charged, a replay's its first message and no credits, a refusal's its
// code and message; what the gateway filled in stays, and a stale result
// from the caller never leaks into the record.
func TestAcceptAttempt(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	set := now.Add(-time.Second)
	msg := &Message{ID: "wa_backend:1", Credits: 3}
	stale := func() *Attempt {
		return &Attempt{RequestID: "req-1", Body: "{}", Code: "stale", Message: "stale", MessageID: "wa_backend:0", Credits: 9}
	}
	tests := []struct {
		name        string
		in          *Attempt
		res         *AcceptResult
		outcome     error
		wantCode    string
		wantMessage string
		wantID      string
		wantCredits int64
		wantAt      time.Time
	}{
		{"accepted", stale(), &AcceptResult{Message: msg}, nil, "", "", msg.ID, 3, now},
		{"replayed: nothing charged", stale(), &AcceptResult{Message: msg, Replayed: true}, nil, "", "", msg.ID, 0, now},
		{"refused", stale(), nil, ErrNoSendingAccount(), EINVALID, ErrorMessage(ErrNoSendingAccount()), "", 0, now},
		{"a replay's record expired meanwhile: names nothing", stale(), nil, nil, "", "", "", 0, now},
		{"no attempt given", nil, &AcceptResult{Message: msg}, nil, "", "", msg.ID, 3, now},
		{"the gateway's time stays", &Attempt{At: set}, &AcceptResult{Message: msg}, nil, "", "", msg.ID, 3, set},
	}
	for _, tt := range tests {
		got := AcceptAttempt(tt.in, tt.res, tt.outcome, now)
		if got.Code != tt.wantCode || got.Message != tt.wantMessage || got.MessageID != tt.wantID || got.Credits != tt.wantCredits || !got.At.Equal(tt.wantAt) {
			t.Errorf("%s: code %q message %q message_id %q credits %d at %v; want %q %q %q %d %v", tt.name,
				got.Code, got.Message, got.MessageID, got.Credits, got.At, tt.wantCode, tt.wantMessage, tt.wantID, tt.wantCredits, tt.wantAt)
		}
		if tt.in != nil && (got.RequestID != tt.in.RequestID || got.Body != tt.in.Body) {
			t.Errorf("%s: request id %q body %q, want the gateway's %q %q", tt.name, got.RequestID, got.Body, tt.in.RequestID, tt.in.Body)
		}
		if tt.in != nil && tt.in.RequestID == "req-1" && (tt.in.Code != "stale" || tt.in.MessageID != "wa_backend:0") {
			t.Errorf("%s: the caller's attempt was changed (the store fills it only after the commit)", tt.name)
		}
	}
}
