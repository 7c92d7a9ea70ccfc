package store

import (
	"encoding/base32"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// The outbox funnel (SPEC §9: an event is written in the same commit as
// the change it reports).
//
// Every write of a message record goes through putMessage, which takes a
// change (who made it, and when) and works out the event from the record
// itself: the status (and delivery report) it was read with against the
// one it is written with. So no transition, today's or a future one, can
// be written without its event, and no caller has to remember to emit one:
//
//	new -> queued                    message.queued    (Accept)
//	* -> sent                        message.sent      (MarkSent)
//	* -> failed                      message.failed, with the refunded credits
//	                                 (MarkFailed, Retry of a deleted account's
//	                                 message, RecoverSending, DeleteAccount, a
//	                                 late "failed" report in ApplyDelivery)
//	* -> failed, error "cancelled"   message.cancelled (CancelMessage)
//	delivery report -> delivered     message.delivered (ApplyDelivery)
//	delivery report -> read          message.read      (ApplyDelivery)
//
// queued <-> sending (MarkSending, Retry) is no event. Likewise every
// attempt record goes through putAttempt (webhook.attempt), and Accept's
// charge checks the workspace's low_credits threshold (credits.low).
//
// An event is written only when an enabled endpoint of the workspace is
// subscribed to its type and its filter matches; it is then stored inside
// one pending delivery per such endpoint (outbox.go). A workspace without
// endpoints pays one Get of endpoint_subs per change and writes nothing.

// change is who made a state change and when. The events of the change
// carry both, and the filter of an endpoint matches on the source.
type change struct {
	db     *DB
	source string // wagate.Source…
	at     time.Time
}

// change describes a change made by source at at.
func (db *DB) change(source string, at time.Time) change {
	return change{db: db, source: source, at: at}
}

// messageEvent is the event type of the transition m made since it was
// read (or created): "" when it made none (wagate.MessageEvent).
func (m *messageRecord) messageEvent() string {
	return wagate.MessageEvent(
		wagate.MessageState{Status: m.stored, Delivery: m.storedDelivery},
		wagate.MessageState{Status: m.Status, Delivery: m.Delivery, Error: m.Error})
}

// messageChanged writes the event of the transition m made, if any
// endpoint listens, and records m's new state as stored. putMessage calls
// it, after writing m.
func (ch change) messageChanged(tx *bolt.Tx, m *messageRecord) error {
	typ := m.messageEvent()
	m.stored, m.storedDelivery = m.Status, m.Delivery
	if typ == "" {
		return nil
	}
	ids, err := ch.db.subscribers(tx, m.WorkspaceID, typ, m.AccountPhone, ch.source)
	if err != nil || len(ids) == 0 {
		return err
	}
	snap := *m
	snap.QueueSeq, snap.Pos = 0, 0 // the store's bookkeeping, not the event's
	ev := &eventRecord{Type: typ, WorkspaceID: m.WorkspaceID, At: ch.at, AccountPhone: m.AccountPhone, Source: ch.source, Message: &snap}
	if m.Status == wagate.StatusFailed {
		ev.Credits = m.Credits // fail refunded them
	}
	return ch.emit(tx, ev, ids)
}

// attemptRecorded writes the webhook.attempt event of an attempt of the
// workspace, from the account phone of its message ("" when none), if any
// endpoint listens.
func (ch change) attemptRecorded(tx *bolt.Tx, workspaceID string, rec *attemptRecord, phone string) error {
	ids, err := ch.db.subscribers(tx, workspaceID, wagate.EventWebhookAttempt, phone, ch.source)
	if err != nil || len(ids) == 0 {
		return err
	}
	att := *rec
	return ch.emit(tx, &eventRecord{Type: wagate.EventWebhookAttempt, WorkspaceID: workspaceID, At: ch.at, AccountPhone: phone, Source: ch.source, Attempt: &att}, ids)
}

// charged writes a credits.low event when a charge took the workspace's
// balance from at or above its low_credits threshold to below it (once per
// crossing, not at every charge below it); phone is the account of the
// message charged.
func (ch change) charged(tx *bolt.Tx, ws *workspaceRecord, before, after int64, phone string) error {
	low := ws.LowCredits
	if low <= 0 || before < low || after >= low {
		return nil
	}
	ids, err := ch.db.subscribers(tx, ws.ID, wagate.EventCreditsLow, phone, ch.source)
	if err != nil || len(ids) == 0 {
		return err
	}
	return ch.emit(tx, &eventRecord{Type: wagate.EventCreditsLow, WorkspaceID: ws.ID, At: ch.at, AccountPhone: phone, Source: ch.source, Credits: after}, ids)
}

// emit gives ev its id and adds one pending delivery of it to each of the
// workspace's endpoints ids, in tx, and has the deliverer woken for them
// once tx has committed.
func (ch change) emit(tx *bolt.Tx, ev *eventRecord, ids []string) error {
	id, err := newEventID(ch.db.rand)
	if err != nil {
		return err
	}
	ev.ID = id
	refs := make([]wagate.EndpointRef, len(ids))
	for i, epID := range ids {
		refs[i] = wagate.EndpointRef{WorkspaceID: ev.WorkspaceID, ID: epID}
		if err := addDelivery(tx, refs[i], ev, ch.db.rand); err != nil {
			return err
		}
	}
	ch.db.wake(tx, refs)
	return nil
}

// idEncoding writes event and delivery ids: lower-case base32 without
// padding, so an id is safe in a URL path, a header and a file name.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newEventID returns "evt_" and 26 base32 characters of 16 bytes read from
// r: the Standard Webhooks webhook-id, unguessable and unique without any
// coordination between stores.
func newEventID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("event id: %w", err)
	}
	return "evt_" + idEncoding.EncodeToString(b[:]), nil
}

// eventRecord is a stored wagate.Event. It is kept inside each delivery
// that carries it (outbox.go), so an event lives exactly as long as a
// delivery needs it and no reference counting is needed: an event goes to
// one or two endpoints in practice, and to EndpointLimit at most.
type eventRecord struct {
	ID           string         `json:"id"`
	WorkspaceID  string         `json:"ws"`
	Type         string         `json:"type"`
	At           time.Time      `json:"at"`
	AccountPhone string         `json:"account,omitempty"`
	Source       string         `json:"source,omitempty"`
	Message      *messageRecord `json:"message,omitempty"`
	Attempt      *attemptRecord `json:"attempt,omitempty"`
	Account      *accountRecord `json:"account_record,omitempty"`
	Credits      int64          `json:"credits,omitempty"`
}

func (r *eventRecord) domain() *wagate.Event {
	e := &wagate.Event{
		ID:           r.ID,
		WorkspaceID:  r.WorkspaceID,
		Type:         r.Type,
		At:           r.At,
		AccountPhone: r.AccountPhone,
		Source:       r.Source,
		Credits:      r.Credits,
	}
	if r.Message != nil {
		e.Message = r.Message.domain()
	}
	if r.Attempt != nil {
		e.Attempt = r.Attempt.domain()
	}
	if r.Account != nil {
		e.Account = r.Account.domain(r.WorkspaceID)
	}
	return e
}
