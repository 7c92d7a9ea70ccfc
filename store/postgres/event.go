package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"slices"
	"strings"
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
// queued <-> sending is no event. Likewise every attempt row is written by
// putAttempt, which calls attemptRecorded (webhook.attempt), Accept's
// charge calls charged (credits.low), and a change of an account's link
// state calls accountChanged (account.*).
//
// An event is written only when an enabled endpoint of the workspace is
// subscribed to its type and its filter matches: one probe of
// endpoint_subs' key per change, which finds nothing for a workspace
// without endpoints, so such a workspace writes nothing more. The event
// is stored inside one pending delivery per such endpoint (outbox.go), and
// the deliverer is woken for them once the transaction has committed
// (wakeTx, Options.OnDeliveries).

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

// messageEvent is the event type of m's change since b: "" when it made
// none (wagate.MessageEvent, the table store/ uses too).
func messageEvent(m *wagate.Message, b before) string {
	return wagate.MessageEvent(
		wagate.MessageState{Status: b.status, Delivery: b.delivery},
		wagate.MessageState{Status: m.Status, Delivery: m.Delivery, Error: m.Error})
}

// messageChanged writes the event of m's change since b, if any, for the
// workspace's subscribed endpoints. The event carries m as the change left
// it; a failed message's event carries the credits refunded.
func messageChanged(ctx context.Context, tx pgx.Tx, m *wagate.Message, b before, ch change) error {
	typ := messageEvent(m, b)
	if typ == "" {
		return nil
	}
	ids, err := subscribers(ctx, tx, m.WorkspaceID, typ, m.AccountPhone, ch.source)
	if err != nil || len(ids) == 0 {
		return err
	}
	ev := &wagate.Event{Type: typ, WorkspaceID: m.WorkspaceID, At: ch.at, AccountPhone: m.AccountPhone, Source: ch.source, Message: m}
	if m.Status == wagate.StatusFailed {
		ev.Credits = m.Credits // fail refunded them
	}
	return emit(ctx, tx, ev, ids)
}

// attemptRecorded writes the webhook.attempt event of an attempt of the
// workspace, from the account phone of its message ("" when none), if any
// endpoint listens.
func attemptRecorded(ctx context.Context, tx pgx.Tx, workspaceID string, a *wagate.Attempt, phone string, ch change) error {
	ids, err := subscribers(ctx, tx, workspaceID, wagate.EventWebhookAttempt, phone, ch.source)
	if err != nil || len(ids) == 0 {
		return err
	}
	return emit(ctx, tx, &wagate.Event{Type: wagate.EventWebhookAttempt, WorkspaceID: workspaceID, At: ch.at, AccountPhone: phone, Source: ch.source, Attempt: a}, ids)
}

// charged writes a credits.low event when a charge took the workspace's
// balance from at or above its low_credits threshold to below it (once per
// crossing, not at every charge below it); phone is the account of the
// message charged.
func charged(ctx context.Context, tx pgx.Tx, ws *wagate.Workspace, before, after int64, phone string, ch change) error {
	low := ws.LowCredits
	if low <= 0 || before < low || after >= low {
		return nil
	}
	ids, err := subscribers(ctx, tx, ws.ID, wagate.EventCreditsLow, phone, ch.source)
	if err != nil || len(ids) == 0 {
		return err
	}
	return emit(ctx, tx, &wagate.Event{Type: wagate.EventCreditsLow, WorkspaceID: ws.ID, At: ch.at, AccountPhone: phone, Source: ch.source, Credits: after}, ids)
}

// emit gives ev its id and adds one pending delivery of it, due at once,
// to each of the workspace's endpoints ids, and has the deliverer woken
// for them once tx has committed.
func emit(ctx context.Context, tx pgx.Tx, ev *wagate.Event, ids []string) error {
	id, err := newEventID(idSource)
	if err != nil {
		return err
	}
	ev.ID = id
	data, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	refs := make([]wagate.EndpointRef, len(ids))
	for i, epID := range ids {
		refs[i] = wagate.EndpointRef{WorkspaceID: ev.WorkspaceID, ID: epID}
		if err := addDelivery(ctx, tx, refs[i], ev, data); err != nil {
			return err
		}
	}
	noteWake(tx, refs...)
	return nil
}

// idSource is where event and delivery ids come from.
var idSource io.Reader = rand.Reader

// idEncoding writes event and delivery ids as store/ does: lower-case
// base32 without padding, safe in a URL path, a header and a file name.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newEventID returns "evt_" and 26 base32 characters of 16 bytes read from
// r: the Standard Webhooks webhook-id, unguessable and unique without any
// coordination between replicas.
func newEventID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("event id: %w", err)
	}
	return "evt_" + idEncoding.EncodeToString(b[:]), nil
}

// newDeliveryID returns "dlv_" and 20 base32 characters of 12 bytes read
// from r, the shape of store/'s delivery ids.
func newDeliveryID(r io.Reader) (string, error) {
	var b [12]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("delivery id: %w", err)
	}
	return "dlv_" + idEncoding.EncodeToString(b[:]), nil
}

// newOwner names a store as the owner of delivery leases: "rep_" and 16
// base32 characters of 10 bytes read from r.
func newOwner(r io.Reader) (string, error) {
	var b [10]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("postgres: lease owner: %w", err)
	}
	return "rep_" + idEncoding.EncodeToString(b[:]), nil
}

// wakeTx is the transaction update and the group commit hand to writers:
// it collects the endpoints that got deliveries, so the deliverer is woken
// for them after the commit (a rolled-back transaction wakes nobody). Its
// savepoints share the list: a savepoint rolled back may leave a wake-up
// behind, which costs the deliverer one read and loses nothing.
type wakeTx struct {
	pgx.Tx
	refs *[]wagate.EndpointRef
}

// Begin starts a savepoint that collects into the same list.
func (t *wakeTx) Begin(ctx context.Context) (pgx.Tx, error) {
	sp, err := t.Tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &wakeTx{Tx: sp, refs: t.refs}, nil
}

// noteWake adds refs to tx's wake-ups. A transaction not begun by update
// or the group commit wakes nobody: the deliverer's poll finds its
// deliveries.
func noteWake(tx pgx.Tx, refs ...wagate.EndpointRef) {
	if a, ok := tx.(*acceptTx); ok {
		tx = a.Tx
	}
	if w, ok := tx.(*wakeTx); ok {
		*w.refs = append(*w.refs, refs...)
	}
}

// wake calls Options.OnDeliveries with refs, each once, after a commit.
func (db *DB) wake(refs []wagate.EndpointRef) {
	if db.onDeliveries == nil || len(refs) == 0 {
		return
	}
	slices.SortFunc(refs, func(x, y wagate.EndpointRef) int {
		if c := strings.Compare(x.WorkspaceID, y.WorkspaceID); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	db.onDeliveries(slices.Compact(refs))
}
