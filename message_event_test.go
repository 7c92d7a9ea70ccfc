package wagate

import "testing"

func TestMessageEvent(t *testing.T) {
	tests := []struct {
		name          string
		before, after MessageState
		want          string
	}{
		{"accepted", MessageState{}, MessageState{Status: StatusQueued}, EventMessageQueued},
		{"taken by the sender", MessageState{Status: StatusQueued}, MessageState{Status: StatusSending}, ""},
		{"back in the queue for a retry", MessageState{Status: StatusSending}, MessageState{Status: StatusQueued}, ""},
		{"sent", MessageState{Status: StatusSending}, MessageState{Status: StatusSent}, EventMessageSent},
		{"failed", MessageState{Status: StatusSending}, MessageState{Status: StatusFailed, Error: "not on WhatsApp"}, EventMessageFailed},
		{"failed from the queue", MessageState{Status: StatusQueued}, MessageState{Status: StatusFailed, Error: "account deleted"}, EventMessageFailed},
		{"cancelled", MessageState{Status: StatusQueued}, MessageState{Status: StatusFailed, Error: ErrorCancelled}, EventMessageCancelled},
		{"delivered", MessageState{Status: StatusSent}, MessageState{Status: StatusSent, Delivery: "delivered"}, EventMessageDelivered},
		{"read", MessageState{Status: StatusSent, Delivery: "delivered"}, MessageState{Status: StatusSent, Delivery: "read"}, EventMessageRead},
		{"the same report again", MessageState{Status: StatusSent, Delivery: "read"}, MessageState{Status: StatusSent, Delivery: "read"}, ""},
		{"a late failure after sent", MessageState{Status: StatusSent, Delivery: "delivered"}, MessageState{Status: StatusFailed, Delivery: "failed", Error: "undeliverable"}, EventMessageFailed},
		{"nothing changed", MessageState{Status: StatusQueued}, MessageState{Status: StatusQueued}, ""},
	}
	for _, tt := range tests {
		if got := MessageEvent(tt.before, tt.after); got != tt.want {
			t.Errorf("%s: MessageEvent(%+v, %+v) = %q, want %q", tt.name, tt.before, tt.after, got, tt.want)
		}
	}
}
