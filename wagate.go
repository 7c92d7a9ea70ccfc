package wagate

import "time"

// Workspace is a tenant: a credit balance, one inbound URL, its accounts and
// chats.
type Workspace struct {
	ID        string
	Name      string
	Credits   int64 // the balance: what is left to spend
	Granted   int64 // all credits ever granted (net of negative grants), for the audit
	Webhook   Webhook
	Accounts  []*Account // filled by reads of one workspace; nil in lists
	CreatedAt time.Time
	// LowCredits is the credits.low threshold (SPEC §9): a charge that
	// takes the balance from at or above it to below it writes a
	// credits.low event. 0 is off.
	LowCredits int64
}

// Webhook is a workspace's inbound URL. Token is the secret path segment of
// POST /inbound/{token}; it is shown to the workspace's owners and support
// staff as part of the URL and never logged.
type Webhook struct {
	Token     string
	Enabled   bool
	CreatedAt time.Time // when this token was made (regenerating resets it)
}

// Transport names. An account sends through exactly one.
const (
	TransportDryrun   = "dryrun"
	TransportCloudAPI = "cloudapi"
)

// Account is a WhatsApp number connected to a workspace. Phone (E.164) is its
// identity inside the workspace.
type Account struct {
	WorkspaceID string
	Phone       string
	Transport   string
	Settings    map[string]string // transport settings; may hold secrets, never echoed
	Active      bool
	ConnectedAt time.Time
	// Rules are the owner's careful-sending rules (SPEC §2); the zero
	// value sets none.
	Rules SendRules
	// Link is a whatsapp account's link state (SPEC §10); zero for the
	// other transports.
	Link AccountLink
}

// Ref returns the key of the account's send queue.
func (a *Account) Ref() AccountRef { return AccountRef{WorkspaceID: a.WorkspaceID, Phone: a.Phone} }

// AccountRef names one account, and so one send queue.
type AccountRef struct {
	WorkspaceID string
	Phone       string
}

// Chat is a conversation of one account with a person or a group. ID is
// unique inside the workspace; (AccountPhone, JID) is unique too.
type Chat struct {
	ID           int64
	WorkspaceID  string
	AccountPhone string
	JID          string
	Name         string
	Group        bool
	CreatedAt    time.Time
}

// MessageStatus is where a message is in its life: queued → sending → sent | failed.
type MessageStatus string

// The message states.
const (
	StatusQueued  MessageStatus = "queued"
	StatusSending MessageStatus = "sending"
	StatusSent    MessageStatus = "sent"
	StatusFailed  MessageStatus = "failed"
)

// Valid reports whether s is one of the four states.
func (s MessageStatus) Valid() bool {
	switch s {
	case StatusQueued, StatusSending, StatusSent, StatusFailed:
		return true
	}
	return false
}

// Message is one accepted send request.
type Message struct {
	ID           string // "wa_backend:" + 20 upper-case hex characters
	WorkspaceID  string
	Status       MessageStatus
	AccountPhone string
	ChatID       int64
	JID          string
	Text         string
	FileURL      string
	FileName     string
	Credits      int64 // what was charged; given back when the message fails
	Error        string
	Tries        []Try
	// NextTryAt is when the next try of a message waiting for a retry is
	// due; zero when no retry is scheduled.
	NextTryAt time.Time
	// WaitingFor is, for a queued message, the id of an earlier message to
	// the same recipient that waits for its retry: this one goes only after
	// it (one recipient never gets its messages out of order). It is
	// worked out when the message is read, never stored; "" when nothing
	// holds the message back.
	WaitingFor string
	CreatedAt  time.Time
	SentAt     time.Time // zero until sent
	// SendAt is when a scheduled message is due (the request's send_at);
	// zero for a message that goes at once.
	SendAt time.Time
	// WaitingReason says why a queued message is not sent yet
	// (wagate.Waiting…: scheduled, daily_limit, quiet_hours), with
	// NextTryAt when it goes; "" when nothing but its turn holds it.
	WaitingReason string
	// Delivery is the transport's last report after the send ("sent",
	// "delivered", "read", "failed"; "" when it reports nothing), and
	// DeliveryAt when it happened.
	Delivery   string
	DeliveryAt time.Time
	// TemplateName is the workspace template the text was rendered from
	// (SPEC §11); "" for a message sent with its own text.
	TemplateName string
	// Template is set when the message goes out as a provider template
	// message (a Cloud API template, SPEC §8); Text is then the rendered
	// text, for the record. nil for a free-form message.
	Template *TemplateSend
}

// Account returns the ref of the queue the message waits in.
func (m *Message) Account() AccountRef {
	return AccountRef{WorkspaceID: m.WorkspaceID, Phone: m.AccountPhone}
}

// Try results.
const (
	TryResultSent   = "sent"
	TryResultFailed = "failed" // final: the message failed
	TryResultRetry  = "retry"  // transient: another try follows
)

// Try error classes: why a try did not end in a plain send, so a reader
// tells "will be retried" from "the provider refused" without parsing the
// error text.
const (
	TryClassPermanent   = "permanent"    // no other try can succeed (bad recipient, media rejected, file not downloadable)
	TryClassTransient   = "transient"    // another try may succeed (timeout, 5xx)
	TryClassRateLimited = "rate_limited" // the provider asked to wait before the next try
	TryClassInterrupted = "interrupted"  // wagate stopped while the transport had the message
	TryClassDeferred    = "deferred"     // not tried: the provider's turn had not come (no retry used up)
	TryClassCancelled   = "cancelled"    // an owner cancelled the queued message (refunded)
)

// ErrorCancelled is the error of a message an owner cancelled while it was
// queued (SPEC §2): it failed without a send and its credits came back.
const ErrorCancelled = "cancelled"

// Try is one attempt of the sender to hand a message to its transport (or
// to download its file first).
type Try struct {
	At         time.Time
	Result     string // TryResultSent, TryResultFailed or TryResultRetry
	Class      string // TryClass…; "" for a plain successful send
	Error      string
	ProviderID string // the transport's id of the sent message, if any
}

// AttemptBodyLimit caps the request body kept in an attempt record: enough
// to debug a formatting problem, small enough that 100 attempts stay cheap.
const AttemptBodyLimit = 8 << 10

// Attempt is one call of a workspace's inbound URL, accepted or not. Code is
// the error code of the answer ("" for an accepted request); the HTTP status
// is derived from it by the gateway.
type Attempt struct {
	At          time.Time
	RequestID   string
	RemoteAddr  string
	ContentType string
	Body        string // the request body, cut at AttemptBodyLimit
	Code        string
	Message     string // the answer's message for errors
	MessageID   string // the accepted message, if any
	Credits     int64  // credits charged
	// Warnings are what the answer warned about without refusing, e.g.
	// `unknown field "fileurl"; did you mean "file_url"?`: kept so a typo
	// in an optional field shows in the attempt log, not only in the answer.
	Warnings []string
	// SendStatus and SendError are the current state of MessageID's message,
	// filled when attempts are read.
	SendStatus MessageStatus
	SendError  string
}

// Role is what an admin token may do.
type Role string

// The roles.
const (
	RoleOperator Role = "operator" // the whole instance
	RoleOwner    Role = "owner"    // one workspace, read and write
	RoleSupport  Role = "support"  // one workspace, read only
)

// Token is an admin API token as stored: only its SHA-256 hash is kept.
type Token struct {
	Hash [32]byte
	// ID names the token in lists and revocations without revealing it:
	// TokenID(Hash), so tokens stored before ids existed have one too.
	ID          string
	WorkspaceID string // "" for the operator
	Role        Role
	// Name is the owner's label ("zapier", "support desk"); "" for none.
	Name string
	// Prefix is the token's first TokenPrefixLen characters, safe to show,
	// so a person can tell which of their tokens is which; "" for tokens
	// made before prefixes were kept.
	Prefix    string
	CreatedAt time.Time
	// LastUsedAt is when the token last authenticated an admin API request
	// or a console sign-in, to within TokenUseResolution; zero when never.
	LastUsedAt time.Time
}

// TokenPrefixLen is how many leading characters of a token are kept as its
// Prefix: 36 of its 256 bits, enough to tell tokens apart, far too few to
// help a guesser.
const TokenPrefixLen = 6

// TokenUseResolution is how precisely LastUsedAt is kept. Recording every
// use would cost a durable write per admin request; a token's use is
// written at most once per TokenUseResolution instead.
const TokenUseResolution = time.Minute

// ShouldRecordUse reports whether a use of t at now should be recorded: its
// LastUsedAt is TokenUseResolution or more behind.
func (t *Token) ShouldRecordUse(now time.Time) bool {
	return now.Sub(t.LastUsedAt) >= TokenUseResolution
}

// MaxTokenName is the longest token name, in characters.
const MaxTokenName = 100

// SessionsPerToken is how many live console sessions one token may have
// (SPEC §6): the next sign-in ends that token's oldest session, so one
// token holder can never sign out the holders of other tokens.
const SessionsPerToken = 20

// Session is a signed-in console browser. It is stored under the SHA-256
// hash of its id (the cookie's value), never the id itself, and keeps the
// hash of the token it was signed in with, never the token.
type Session struct {
	TokenHash   [32]byte
	WorkspaceID string // "" for the operator
	Role        Role
	CSRF        string // the session's form token
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Attachment is a message's file, downloaded from its file_url before the
// message's turn comes. ContentType is sniffed from the bytes, never taken
// from the file host's header.
type Attachment struct {
	Name        string // the request's file_name
	ContentType string // e.g. "image/png"
	Data        []byte // at most 2 MB
}
