package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// The outbox funnel (SPEC §9: an event is written in the same transaction
// as the change it reports), the twin of store/event.go.
//
// Every write of a message row calls messageChanged after the write, in
// the same transaction, with what the row held when it was read (before)
// and who made the change (ch). The event is worked out from the two, so
// no writer has to know which event it causes:
//
//	"" -> queued                      message.queued
//	* -> sent                         message.sent
//	* -> failed                       message.failed (with the refund)
//	* -> failed, error "cancelled"    message.cancelled
//	delivery report -> delivered/read message.delivered / message.read
//
// queued <-> sending is no event.

// change is who made a state change and when. The events of the change
// carry both, and an endpoint's filter matches on the source.
type change struct {
	source string // wagate.Source…
	at     time.Time
}

// before is what a message row held when its writer read it; a new message
// held nothing (the zero value).
type before struct {
	status   wagate.MessageStatus
	delivery string
}

// beforeOf is what m holds now, taken before a writer changes it.
func beforeOf(m *wagate.Message) before {
	return before{status: m.Status, delivery: m.Delivery}
}

// messageChanged writes the event of m's change since b, if any, for the
// workspace's subscribed endpoints. Until the outbox exists on this backend
// (doc.go, "What remains" 1) it writes nothing.
func messageChanged(ctx context.Context, tx pgx.Tx, m *wagate.Message, b before, ch change) error {
	return nil
}
