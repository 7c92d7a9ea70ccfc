package wagate

import "time"

// The records below are what `wagate migrate` carries from one backend to
// another (SPEC §12): a stopped store's whole content, record by record,
// in the domain's words plus what only storage knows (a message's place
// in its queue, a workspace's pruned credits). The bbolt store's Export
// yields them; the PostgreSQL backend's Import inserts them as they are,
// without Accept's charge or any event, so nothing is charged twice and
// no endpoint hears of a change that did not happen.
//
// Export yields, in this order, so that every record's parents come
// first: *ExportedWorkspace, *Token, *ExportedSession, *Account, *Chat,
// *Template, *AccountTemplates, *ExportedMessage, *ExportedIdempotency,
// *ExportedAttempt, *ExportedSends, *ExportedWindow, *Endpoint (secrets
// included) and *ExportedDelivery. An importer refuses
// a record of any other type, so a kind of data added later cannot be
// left behind silently.

// ExportedWorkspace is a workspace with its counters.
type ExportedWorkspace struct {
	// Workspace: Credits is the balance, Granted what was ever granted,
	// Webhook the inbound token, LowCredits the credits.low threshold.
	Workspace Workspace
	// PrunedCredits are the credits of sent messages retention deleted:
	// the audit counts them as spent.
	PrunedCredits int64
	// ChatSeq is the last chat id given: the next chat gets ChatSeq + 1.
	ChatSeq int64
}

// ExportedSession is a console session under the SHA-256 of its id.
type ExportedSession struct {
	Key     [32]byte
	Session Session
}

// ExportedMessage is a message in any status, with what only the queue
// knows.
type ExportedMessage struct {
	// Message holds NextTryAt and WaitingReason as stored (a hold or a
	// retry of a queued message), not as a read shows them.
	Message Message
	// AccountConnectedAt is the ConnectedAt of the account the message was
	// accepted for (a later account of the same phone is another one).
	AccountConnectedAt time.Time
	// QueuePos orders the messages of one account's queue (kept while the
	// message is sending, so a retry goes back to it); 0 for a scheduled
	// message not placed yet.
	QueuePos uint64
	// SendingAt is when the sender took the message; zero if never.
	SendingAt time.Time
	// ProviderID is the transport's id of the sent message, which its
	// delivery reports name; "" when none.
	ProviderID string
}

// ExportedIdempotency is the record of an Idempotency-Key; Batch is set
// (MessageID "batch") when the key named a batch.
type ExportedIdempotency struct {
	WorkspaceID string
	Key         string
	BodyHash    [32]byte
	MessageID   string
	At          time.Time
	Batch       []BatchItem
}

// ExportedAttempt is one entry of a workspace's attempt ring; a
// workspace's attempts are yielded oldest first.
type ExportedAttempt struct {
	WorkspaceID string
	Attempt     Attempt
}

// ExportedSends is an account's send history: its sends of the last 24 h
// (what the daily limit counts) and its first send ever (the warm-up).
// Both outlive the account.
type ExportedSends struct {
	Account AccountRef
	Sends   []ExportedSend
	First   time.Time // zero: never sent
}

// ExportedSend is one send of an account.
type ExportedSend struct {
	At        time.Time
	MessageID string
}

// ExportedWindow is when the customer of a chat last wrote (the 24-hour
// window).
type ExportedWindow struct {
	Key    ChatKey
	LastAt time.Time
}

// ExportedDelivery is one delivery of an endpoint's outbox, pending or
// finished, with the event it carries (nil for a test delivery, which
// carries none); an endpoint's deliveries are yielded oldest first, after
// every endpoint.
type ExportedDelivery struct {
	Delivery EndpointDelivery
	Event    *Event
}

// ExportCounts sums up an export or an import, so the two can be
// compared: records by kind (the type names above, e.g. "message") and
// the credits of the workspaces.
type ExportCounts struct {
	Records map[string]int64
	// Balance and Granted are the sums over every workspace; Held the
	// credits of the messages queued, sending or sent; Pruned the pruned
	// credits.
	Balance, Granted, Held, Pruned int64
}

// Count adds rec (one of the exported types) to c, and reports the kind
// it counted it as; "" for a type that is not exported.
func (c *ExportCounts) Count(rec any) string {
	if c.Records == nil {
		c.Records = map[string]int64{}
	}
	kind := ""
	switch r := rec.(type) {
	case *ExportedWorkspace:
		kind = "workspace"
		c.Balance += r.Workspace.Credits
		c.Granted += r.Workspace.Granted
		c.Pruned += r.PrunedCredits
	case *Token:
		kind = "token"
	case *ExportedSession:
		kind = "session"
	case *Account:
		kind = "account"
	case *Chat:
		kind = "chat"
	case *Template:
		kind = "template"
	case *AccountTemplates:
		kind = "account templates"
	case *ExportedMessage:
		kind = "message"
		switch r.Message.Status {
		case StatusQueued, StatusSending, StatusSent:
			c.Held += r.Message.Credits
		}
	case *ExportedIdempotency:
		kind = "idempotency record"
	case *ExportedAttempt:
		kind = "attempt"
	case *ExportedSends:
		kind = "send history"
		c.Records["send"] += int64(len(r.Sends))
	case *ExportedWindow:
		kind = "chat window"
	case *Endpoint:
		kind = "endpoint"
	case *ExportedDelivery:
		kind = "delivery"
	default:
		return ""
	}
	c.Records[kind]++
	return kind
}
