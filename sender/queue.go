package sender

import (
	"context"
	"time"

	"github.com/wagate/wagate"
)

// Queue is the durable per-account FIFO the sender drains. store.DB
// implements it on bbolt. Errors are *wagate.Error values or wrapped
// storage errors; the sender logs them and tries again later.
type Queue interface {
	// QueuedAccounts lists every account that has queued messages, so a
	// restart resumes them.
	QueuedAccounts(ctx context.Context) ([]wagate.AccountRef, error)
	// Head returns the oldest queued message of the account, or (nil, nil)
	// when its queue is empty.
	Head(ctx context.Context, ref wagate.AccountRef) (*wagate.Message, error)
	// Account returns the account (for its transport and settings), or
	// ENOTFOUND when it was deleted.
	Account(ctx context.Context, ref wagate.AccountRef) (*wagate.Account, error)
	// MarkSending takes the message out of its queue and sets it sending,
	// durably, before the transport is called. ECONFLICT if it is no longer
	// queued (failed by an account deletion, say).
	MarkSending(ctx context.Context, id string, at time.Time) error
	// MarkSent records the try and sets the message sent (SentAt = try.At).
	MarkSent(ctx context.Context, id string, try wagate.Try) error
	// MarkFailed records the try, sets the message failed with try.Error and
	// refunds its credits, all in one write. A message already failed is
	// left as it is: a refund never happens twice. The sender calls it only
	// for a message it has marked sending, even when the message never
	// reached a transport (its account was deleted, say).
	MarkFailed(ctx context.Context, id string, try wagate.Try) error
	// RecoverSending handles the messages a crash left in sending, at start,
	// before any send: see the README's delivery promises.
	RecoverSending(ctx context.Context, at time.Time) (int, error)
}

// Transport hands one message to WhatsApp (or pretends to). file is the
// downloaded attachment when m.FileURL is set, else nil. Send returns the
// transport's id of the sent message. Its error says whether another try
// may succeed: Permanent marks errors after which none can, RetryAfter those
// after which one may, no sooner than the given delay; any other error is
// transient.
type Transport interface {
	Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (providerID string, err error)
}

// Fetcher downloads a message's file_url. Its errors follow the Transport
// rules: Permanent for a URL that cannot work (blocked address, too large, a
// web page instead of a file, 404), plain errors for what may pass
// (timeouts, 5xx). Error texts say what was wrong with the URL; they never
// contain the fetched body.
type Fetcher interface {
	Fetch(ctx context.Context, rawURL, fileName string) (*wagate.Attachment, error)
}
