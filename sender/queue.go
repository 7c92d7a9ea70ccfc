package sender

import (
	"context"
	"time"

	"github.com/wagate/wagate"
)

// Queue is the durable per-account FIFO the sender drains. store.DB
// implements it on bbolt. Errors are *wagate.Error values or wrapped
// storage errors; the sender logs them and tries again later.
//
// A message's life through it: Next shows it to the sender; MarkSending
// takes it out of its queue just before the transport is called; then
// MarkSent, Retry (back to its place in the queue, due later) or MarkFailed
// (refunded). Retry and MarkFailed also take a message that is still
// queued, for a try that failed before the transport was called (its file
// did not download, its account was deleted).
type Queue interface {
	// QueuedAccounts lists every account that has queued messages, those
	// waiting for a retry included, so a restart resumes them all.
	QueuedAccounts(ctx context.Context) ([]wagate.AccountRef, error)
	// Next returns up to n queued messages of the account that may be sent
	// at the instant at, in the order they go out: queue order (a retried
	// message keeps the place it was accepted at), skipping a message whose
	// retry is due after at and, behind it, every later message to the same
	// recipient (JID), so one recipient never gets its messages out of
	// order. due is the earliest retry time among the messages skipped
	// (zero when none was), so the sender knows when to look again. An
	// empty queue is (nil, zero, nil).
	Next(ctx context.Context, ref wagate.AccountRef, at time.Time, n int) (msgs []*wagate.Message, due time.Time, err error)
	// Account returns the account (for its transport and settings), or
	// ENOTFOUND when it was deleted.
	Account(ctx context.Context, ref wagate.AccountRef) (*wagate.Account, error)
	// MarkSending takes the message out of its queue and sets it sending,
	// durably, before the transport is called. ECONFLICT if it is no longer
	// queued (failed by an account deletion, cancelled by its owner), and
	// ENOTFOUND if it is gone: the sender then skips it.
	MarkSending(ctx context.Context, id string, at time.Time) error
	// MarkSent records the try and sets the message sent (SentAt = try.At).
	MarkSent(ctx context.Context, id string, try wagate.Try) error
	// Retry records the try and makes the message (sending, or still
	// queued) queued again at its own place in its account's FIFO, due at
	// due: Next skips it until then. All in one write, so a restart
	// continues the schedule. If the account was deleted meanwhile, the
	// message fails and is refunded instead, in the same write. ECONFLICT
	// for a message already sent or failed, ENOTFOUND for an unknown id.
	Retry(ctx context.Context, id string, try wagate.Try, due time.Time) error
	// MarkFailed records the try, sets the message (sending or queued)
	// failed with try.Error and refunds its credits, all in one write. A
	// message already failed or sent is left as it is: a refund never
	// happens twice.
	MarkFailed(ctx context.Context, id string, try wagate.Try) error
	// Sending lists the messages a stop left in sending, so that at start,
	// before any send, the sender can ask the transports that can tell
	// (Confirmer) what became of them.
	Sending(ctx context.Context) ([]*wagate.Message, error)
	// RecoverSending fails and refunds, with an "interrupted" try, every
	// message still in sending, and returns how many. The sender calls it at
	// start after the Confirmer answers, before any send: see the README's
	// delivery promises.
	RecoverSending(ctx context.Context, at time.Time) (int, error)
	// Hold keeps a queued message waiting until until because a careful-
	// sending rule says so (reason wagate.WaitingDailyLimit or
	// WaitingQuietHours): Next skips it until then, and the later messages
	// to its recipient, like a retry, but no try is recorded or spent.
	// ECONFLICT when the message is no longer queued.
	Hold(ctx context.Context, id, reason string, until time.Time) error
	// SendHistory returns the account's sends after since (the store
	// keeps the last 24 h), oldest first, and the time of its first send
	// ever (zero when none): what the daily limit and warm-up count.
	SendHistory(ctx context.Context, ref wagate.AccountRef, since time.Time) (sends []time.Time, first time.Time, err error)
}

// Transport hands one message to WhatsApp (or pretends to). file is the
// downloaded attachment when m.FileURL is set, else nil. Send returns what
// became of the message (its Result) and an error that says whether another
// try may succeed: Permanent marks errors after which none can, RetryAfter
// those after which one may, no sooner than the given delay, Defer a send
// not attempted because the provider's turn has not come; any other
// error is transient.
type Transport interface {
	Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (Result, error)
}

// Result is what a Transport reports of one Send.
type Result struct {
	// ProviderID is the transport's id of the sent message (Meta's wamid,
	// the dry run's "dryrun:" id); recorded with the try when Send
	// succeeds.
	ProviderID string
	// PostedAt is when the transport handed the message to the network,
	// when that was later than the call of Send (an upload, or the
	// recipient's turn, came first). The account's pace runs from it, not
	// from the call: otherwise the account's next message would reach the
	// provider sooner after this one than the drawn gap. It counts even
	// when Send fails, since a request that went out took the account's
	// turn all the same. Zero means the message was handed over when Send
	// was called: a transport that does no work first need not set it.
	PostedAt time.Time
}

// Fetcher downloads a message's file_url. Its errors follow the Transport
// rules: Permanent for a URL that cannot work (blocked address, too large, a
// web page instead of a file, 404), plain errors for what may pass
// (timeouts, 5xx). Error texts say what was wrong with the URL; they never
// contain the fetched body.
type Fetcher interface {
	Fetch(ctx context.Context, rawURL, fileName string) (*wagate.Attachment, error)
}

// Delivery is what a Confirmer knows about a message that a stop caught
// while its transport had it.
type Delivery int

// The answers of a Confirmer.
const (
	// DeliveryUnknown: the transport cannot tell. The message fails as
	// interrupted and is refunded; it is not sent again on its own.
	DeliveryUnknown Delivery = iota
	// Delivered: the transport did hand the message over. It becomes sent.
	Delivered
	// NotDelivered: the transport certainly did not hand it over. It goes
	// back to its place in the queue and is sent, once.
	NotDelivered
)

// String names the answer for logs.
func (d Delivery) String() string {
	switch d {
	case Delivered:
		return "delivered"
	case NotDelivered:
		return "not_delivered"
	}
	return "unknown"
}

// Confirmer is an optional interface of a Transport that can tell, after a
// crash, whether a message it was given went out: the dryrun transport
// reads its outbox. At start the sender asks it about each message left in
// sending before deciding its fate; a transport without it gets the
// conservative answer, DeliveryUnknown. Confirm must be sure of Delivered
// and NotDelivered: a wrong NotDelivered sends a message twice. An error
// counts as DeliveryUnknown. With replicas (a Leaser) it is asked at a
// takeover instead, and only when it is a SharedConfirmer that can answer
// for another replica's send (takeover.go).
type Confirmer interface {
	Confirm(ctx context.Context, acct *wagate.Account, m *wagate.Message) (d Delivery, providerID string, err error)
}
