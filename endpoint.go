package wagate

import "time"

// Outbound event webhooks (SPEC §9): the mirror of the inbound URL. A
// workspace subscribes endpoints to events; every state change that an
// endpoint may care about is written as an Event in the same store commit
// as the change itself (an outbox), and a Delivery per matching endpoint
// carries it out, signed, with retries.

// EndpointLimit is how many endpoints one workspace may have.
const EndpointLimit = 20

// DeliveryHistoryLimit is how many deliveries of one endpoint are kept
// (the newest), pending ones included.
const DeliveryHistoryLimit = 100

// The event types an endpoint can subscribe to.
const (
	EventMessageQueued     = "message.queued"
	EventMessageSent       = "message.sent"
	EventMessageDelivered  = "message.delivered"
	EventMessageRead       = "message.read"
	EventMessageFailed     = "message.failed" // carries the refunded credits
	EventMessageCancelled  = "message.cancelled"
	EventWebhookAttempt    = "webhook.attempt" // every call of the inbound URL, accepted or not
	EventAccountConnected  = "account.connected"
	EventAccountDisconnect = "account.disconnected"
	EventAccountLoggedOut  = "account.logged_out"
	EventCreditsLow        = "credits.low" // the balance fell below the workspace's low_credits threshold
)

// EventTypes lists every event type, in the order the API documents them.
var EventTypes = []string{
	EventMessageQueued, EventMessageSent, EventMessageDelivered, EventMessageRead,
	EventMessageFailed, EventMessageCancelled, EventWebhookAttempt,
	EventAccountConnected, EventAccountDisconnect, EventAccountLoggedOut,
	EventCreditsLow,
}

// The sources of a change, for an endpoint's filter (seed 002's "only
// changes made by…"). A change made by wagate itself (the sender, a
// delivery report) has SourceSystem and passes only filters without a
// source.
const (
	SourceInbound = "inbound" // a call of the inbound URL
	SourceAPI     = "api"     // the admin API
	SourceConsole = "console" // the web console
	SourceSystem  = ""        // wagate itself
)

// Event is one thing that happened in a workspace, written in the same
// commit as the change it reports. Its ID is the Standard Webhooks
// `webhook-id`: the same on every delivery attempt and after a restart.
type Event struct {
	ID           string // "evt_" + 26 base32 characters
	WorkspaceID  string
	Type         string // one of EventTypes
	At           time.Time
	AccountPhone string // the sending account, for filters; "" when none
	Source       string // Source…

	// What the event is about; which is set depends on Type.
	Message *Message // message.*: the message as the change left it
	Attempt *Attempt // webhook.attempt
	Account *Account // account.*
	// Credits is the balance after the change for credits.low, and the
	// refunded credits for message.failed and message.cancelled.
	Credits int64
}

// The body types of an endpoint's request.
const (
	BodyJSON      = "json" // the default: the Standard Webhooks payload, or a template
	BodyForm      = "form"
	BodyMultipart = "multipart"
	BodyXML       = "xml"
	BodyYAML      = "yaml"
	BodyPlain     = "plain"
	BodyNone      = "none"
)

// The auth types of an endpoint's request.
const (
	AuthNone   = "none"
	AuthBasic  = "basic"
	AuthBearer = "bearer"
	AuthHeader = "header" // a custom header: Name: Value
)

// Endpoint is one of a workspace's subscribers (SPEC §9). URL is the base
// (seed 003's predefined endpoint) and Path is appended to it; placeholders
// may appear in Path, Query and Headers values, body field values and the
// body template, never in URL, so a value can never change the host.
type Endpoint struct {
	ID          string // "ep_" + 12 base32 characters
	WorkspaceID string
	Name        string
	Enabled     bool
	URL         string
	Path        string
	Method      string   // POST (default), PUT, PATCH, DELETE or GET
	Events      []string // subscribed event types, at least one
	Filter      EndpointFilter
	Query       []Field // in the given order
	Headers     []Field // in the given order
	Auth        EndpointAuth
	Body        EndpointBody
	CreatedAt   time.Time
	// DisabledReason says why wagate disabled the endpoint (a 410, five
	// days of failures); "" when an owner disabled it or it is enabled.
	DisabledReason string

	// Secret signs deliveries ("whsec_" + base64 of 24 random bytes);
	// never shown after creation. After a rotation PreviousSecret signs
	// too, until PreviousUntil (24 h), so a receiver can switch over.
	Secret         string
	PreviousSecret string
	PreviousUntil  time.Time
	// FailingSince is when the run of failed deliveries that is still
	// going on began; zero after any success. Five days of it disables
	// the endpoint.
	FailingSince time.Time
}

// EndpointFilter narrows the events an endpoint gets; empty fields match all.
type EndpointFilter struct {
	AccountPhone string
	Source       string // Source…
}

// EndpointAuth is how a request authenticates to the endpoint, sent besides
// the signature. Passwords, tokens and header values are secrets: the API
// and the history show them masked.
type EndpointAuth struct {
	Type     string // Auth…
	Username string // basic
	Password string // basic
	Token    string // bearer
	Name     string // header
	Value    string // header
}

// EndpointBody is what the request carries: Fields (key-value, in order)
// or Template (text with placeholders), as Type says.
type EndpointBody struct {
	Type     string // Body…
	Template string
	Fields   []Field
}

// Field is one key-value pair of a query, header list or body. Value may
// hold placeholders.
type Field struct {
	Key   string
	Value string
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// EndpointDelivery is one event carried to one endpoint, with the last
// attempt's request and response, as the history shows it (bodies capped
// at DeliveryBodyLimit, auth and secrets masked).
type EndpointDelivery struct {
	ID          string // "dlv_" + 20 base32 characters, set by the store
	WorkspaceID string
	EndpointID  string
	EventID     string
	Event       string // the event type
	Attempt     int    // attempts made so far
	Status      string // Delivery…
	Request     DeliveryRequest
	Response    DeliveryResponse
	Duration    time.Duration
	Error       string
	NextTryAt   time.Time // for a pending delivery: when the next attempt is due
	At          time.Time // when the last attempt was made (created, before the first)
}

// DeliveryBodyLimit caps the request and response bodies kept in the
// history; the response is read up to this plus one byte, no more.
const DeliveryBodyLimit = 4 << 10

// DeliveryRequest is what was sent, masked for the history.
type DeliveryRequest struct {
	Method  string
	URL     string
	Headers []Field
	Body    string
}

// DeliveryResponse is what the endpoint answered; Status 0 when it did not.
type DeliveryResponse struct {
	Status  int
	Headers []Field
	Body    string
}
