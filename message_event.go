package wagate

// MessageState is what a message's events are worked out from: its status,
// its delivery report and its error (which tells a cancel from a failure).
type MessageState struct {
	Status   MessageStatus
	Delivery string
	Error    string
}

// MessageEvent is the event type of a message's change from before to
// after, or "" when the change is none an endpoint hears of (SPEC §9):
//
//	"" -> queued                       message.queued
//	* -> sent                          message.sent
//	* -> failed                        message.failed (with the refund)
//	* -> failed, error "cancelled"     message.cancelled
//	delivery report -> delivered/read  message.delivered / message.read
//
// queued <-> sending is no event. Every backend's outbox funnel asks it, so
// the backends cannot disagree on which change writes which event.
func MessageEvent(before, after MessageState) string {
	if after.Status != before.Status {
		switch after.Status {
		case StatusQueued:
			if before.Status == "" {
				return EventMessageQueued
			}
		case StatusSent:
			return EventMessageSent
		case StatusFailed:
			if after.Error == ErrorCancelled {
				return EventMessageCancelled
			}
			return EventMessageFailed
		}
		return ""
	}
	if after.Delivery != before.Delivery {
		switch after.Delivery {
		case "delivered":
			return EventMessageDelivered
		case "read":
			return EventMessageRead
		}
	}
	return ""
}
