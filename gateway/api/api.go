package api

import "time"

// Workspace is a tenant: its balance, its inbound URL and its accounts.
type Workspace struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Credits int64  `json:"credits"`
	// Granted is every credit ever given to the workspace; with the
	// credits of its queued, sending and sent messages it adds up to it.
	Granted int64 `json:"granted"`
	// LowCredits is the credits.low threshold (SPEC §9); 0 is off.
	LowCredits int64      `json:"low_credits"`
	Webhook    Webhook    `json:"webhook"`
	Accounts   []Account  `json:"accounts"`
	CreatedAt  *time.Time `json:"created_at"`
}

// WorkspaceCreated is the 201 of POST /api/v1/workspaces: the workspace and
// its first owner token, which is shown only in this answer.
type WorkspaceCreated struct {
	Workspace
	OwnerToken string `json:"owner_token"`
}

// WorkspaceList is the answer of GET /api/v1/workspaces.
type WorkspaceList struct {
	Workspaces []Workspace `json:"workspaces"`
}

// Webhook is a workspace's inbound URL. Support staff see it masked.
type Webhook struct {
	URL       string     `json:"url"`
	Enabled   bool       `json:"enabled"`
	CreatedAt *time.Time `json:"created_at"`
}

// Account is a connected WhatsApp number. It never carries the transport's
// settings: they may hold access tokens.
type Account struct {
	Phone       string     `json:"phone"`
	Transport   string     `json:"transport"`
	Active      bool       `json:"active"`
	ConnectedAt *time.Time `json:"connected_at"`
	// The careful-sending rules (SPEC §2), shown when set.
	DailyLimit   int         `json:"daily_limit,omitempty"`
	Warmup       *WarmupRule `json:"warmup,omitempty"`
	QuietHours   string      `json:"quiet_hours,omitempty"`
	TimeZone     string      `json:"time_zone,omitempty"`
	SendInterval string      `json:"send_interval,omitempty"`
	SendJitter   string      `json:"send_jitter,omitempty"`
	// Link is a whatsapp account's link state (SPEC §10).
	Link *AccountLink `json:"link,omitempty"`
}

// AccountLink is where a whatsapp account's link to WhatsApp stands. It
// never carries the QR code or the pairing code (see Link).
type AccountLink struct {
	State string     `json:"state"`
	Since *time.Time `json:"since"`
	Error string     `json:"error,omitempty"`
	Until *time.Time `json:"until,omitempty"`
}

// AccountList is the answer of GET …/accounts.
type AccountList struct {
	Accounts []Account `json:"accounts"`
}

// Chat is a conversation of one account with a person or a group.
type Chat struct {
	ID           string     `json:"id"`
	AccountPhone string     `json:"account_phone"`
	JID          string     `json:"jid"`
	Name         string     `json:"name"`
	Group        bool       `json:"group"`
	CreatedAt    *time.Time `json:"created_at"`
}

// ChatList is the answer of GET …/chats; NextCursor is set when there is
// more to read (SPEC §4: lists that can grow).
type ChatList struct {
	Chats      []Chat `json:"chats"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Message is one accepted send request and what became of it.
type Message struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"` // queued, sending, sent, failed
	AccountPhone string     `json:"account_phone"`
	ChatID       string     `json:"chat_id"`
	JID          string     `json:"jid"`
	Text         string     `json:"text"`
	FileURL      string     `json:"file_url"`
	FileName     string     `json:"file_name"`
	Credits      int64      `json:"credits"`
	Error        string     `json:"error"`
	Tries        []Try      `json:"tries"`
	CreatedAt    *time.Time `json:"created_at"`
	SentAt       *time.Time `json:"sent_at"`
	// NextTryAt is when a queued message's retry is due (null: none).
	NextTryAt *time.Time `json:"next_try_at"`
	// Delivery is the transport's last report after sending ("delivered",
	// "read", …; "" when it reports nothing).
	Delivery   string     `json:"delivery"`
	DeliveryAt *time.Time `json:"delivery_at"`
	// WaitingFor is the id of an earlier message to the same recipient
	// whose retry this queued message waits behind; "" when none.
	WaitingFor string `json:"waiting_for"`
	// WaitingReason is why a queued message waits until NextTryAt:
	// "scheduled", "daily_limit" or "quiet_hours"; "" when none.
	WaitingReason string `json:"waiting_reason"`
	// SendAt is a scheduled message's due time (null: sent at once).
	SendAt *time.Time `json:"send_at"`
}

// Try is one send of a message through its transport.
type Try struct {
	At         *time.Time `json:"at"`
	Result     string     `json:"result"`
	Class      string     `json:"class"` // permanent, transient, rate_limited, interrupted, deferred; "" for a success
	Error      string     `json:"error"`
	ProviderID string     `json:"provider_id"`
}

// MessageList is the answer of GET …/messages, newest first; NextCursor is
// set when there is more to read.
type MessageList struct {
	Messages   []Message `json:"messages"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// Attempt is one call of the inbound URL, accepted or not. Its field order
// is SPEC's; the CSV download uses the same names and order.
type Attempt struct {
	At          *time.Time `json:"at"`
	RequestID   string     `json:"request_id"`
	RemoteAddr  string     `json:"remote_addr"`
	ContentType string     `json:"content_type"`
	Body        string     `json:"body"`
	HTTPStatus  int        `json:"http_status"`
	Message     string     `json:"message"`
	MessageID   string     `json:"message_id"`
	Credits     int64      `json:"credits"`
	SendStatus  string     `json:"send_status"`
	SendError   string     `json:"send_error"`
	// Warnings are what an accepted call did that its sender may not have
	// meant (an ignored field, …); [] when there are none.
	Warnings []string `json:"warnings"`
}

// AttemptList is the answer of GET …/webhook/attempts, newest first.
type AttemptList struct {
	Attempts []Attempt `json:"attempts"`
}

// TokenCreated is the 201 of POST …/tokens. Token is the secret itself,
// shown only in this answer; the server keeps its hash.
type TokenCreated struct {
	ID          string     `json:"id"`
	Token       string     `json:"token"`
	Role        string     `json:"role"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	WorkspaceID string     `json:"workspace_id"`
	CreatedAt   *time.Time `json:"created_at"`
}

// Token is a workspace token as GET …/tokens lists it: never the secret,
// only its first characters (Prefix), so a person can tell tokens apart.
type Token struct {
	ID         string     `json:"id"`
	Role       string     `json:"role"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  *time.Time `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"` // null: never used
}

// TokenList is the answer of GET …/tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// ErrorEnvelope is the body of every error answer, on the inbound URL and
// the admin API alike. SPEC §1 fixes status, data and message; Error is the
// machine code (e.g. "not_found").
type ErrorEnvelope struct {
	Status  int      `json:"status"`
	Data    struct{} `json:"data"`
	Message string   `json:"message"`
	Error   string   `json:"error"`
}

// StartLink is the body of POST …/accounts/{phone}/link.
type StartLink struct {
	Method string `json:"method"`
}

// Link is a whatsapp account's link as its owner's link page shows it
// (SPEC §10). QR and Code are secrets of the moment.
type Link struct {
	State     string     `json:"state"`
	QR        string     `json:"qr"`
	Code      string     `json:"code"`
	ExpiresAt *time.Time `json:"expires_at"`
	Error     string     `json:"error"`
}
