package wagate

import (
	"context"
	"errors"
	"time"
)

// The services below are wagate's durable state, in domain words. store/
// implements them on bbolt; a second backend is an addition beside it. Every
// method takes ctx first. Errors are *Error values where a caller branches
// (ENOTFOUND, ECONFLICT, ECREDITS, EIDEMPOTENCY, EINVALID); storage failures
// are wrapped as EUNAVAILABLE, so a client gets a 503 and nothing is
// half-written.

// WorkspaceService stores workspaces, their credit balance and inbound URL.
type WorkspaceService interface {
	// CreateWorkspace stores ws (ID, Name, Credits, Webhook set by the
	// caller; Granted is set to Credits) together with its first owner token.
	CreateWorkspace(ctx context.Context, ws *Workspace, owner *Token) error
	// FindWorkspace returns the workspace with its Accounts, or ENOTFOUND.
	FindWorkspace(ctx context.Context, id string) (*Workspace, error)
	// ListWorkspaces returns every workspace, oldest first, without Accounts.
	ListWorkspaces(ctx context.Context) ([]*Workspace, error)
	// AddCredits adds amount (may be negative) to the balance and to
	// Granted. The balance never goes below 0: a larger negative amount
	// takes the balance to 0 and Granted down by what was really taken.
	AddCredits(ctx context.Context, id string, amount int64) (*Workspace, error)
	// FindWorkspaceByInboundToken returns the workspace whose current
	// inbound token is token, or ENOTFOUND. The stored token is compared in
	// constant time; a regenerated (old) token is ENOTFOUND at once.
	FindWorkspaceByInboundToken(ctx context.Context, token string) (*Workspace, error)
	// SetWebhookEnabled switches the inbound URL on or off, keeping its token.
	SetWebhookEnabled(ctx context.Context, id string, enabled bool) (*Workspace, error)
	// RegenerateWebhook replaces the inbound token (its CreatedAt = at) and
	// keeps the enabled flag. The old token stops working in the same commit.
	RegenerateWebhook(ctx context.Context, id, token string, at time.Time) (*Workspace, error)
	// SetLowCredits sets the workspace's credits.low threshold (0: off);
	// EINVALID for a negative one.
	SetLowCredits(ctx context.Context, id string, threshold int64) (*Workspace, error)
}

// AccountService stores the WhatsApp accounts of workspaces.
type AccountService interface {
	// CreateAccount stores a; ECONFLICT if the workspace already has the phone.
	CreateAccount(ctx context.Context, a *Account) error
	// FindAccount returns one account or ENOTFOUND.
	FindAccount(ctx context.Context, ref AccountRef) (*Account, error)
	// ListAccounts returns a workspace's accounts, most recently connected first.
	ListAccounts(ctx context.Context, workspaceID string) ([]*Account, error)
	// QueueDepths counts the queued messages of each account of the
	// workspace (waiting for a retry included), by account phone; accounts
	// with none are absent.
	QueueDepths(ctx context.Context, workspaceID string) (map[string]int, error)
	// SetAccountActive switches an account on or off.
	SetAccountActive(ctx context.Context, ref AccountRef, active bool) (*Account, error)
	// UpdateAccount applies edit to the stored account in one write and
	// returns the result: edit may change Active and Rules (other fields
	// are kept); an error from edit is returned with nothing written.
	// When Rules change, the careful-sending holds of the account's queued
	// messages end in the same write, so the new rules apply at once.
	// ENOTFOUND for an unknown account.
	UpdateAccount(ctx context.Context, ref AccountRef, edit func(*Account) error) (*Account, error)
	// DeleteAccount removes the account; in the same commit each of its
	// queued messages becomes failed (error "account deleted") and is
	// refunded. Its chats stay, so their ids keep resolving to a clear error.
	// source (SourceAPI, SourceConsole) is who deleted it: the events of the
	// failed messages carry it, for endpoint filters on the source.
	DeleteAccount(ctx context.Context, ref AccountRef, source string, at time.Time) error
}

// ChatService stores chats.
type ChatService interface {
	// CreateChat assigns c.ID (the next id of the workspace) and stores c;
	// ECONFLICT if the account already has a chat with c.JID.
	CreateChat(ctx context.Context, c *Chat) error
	// FindChat returns one chat or ENOTFOUND.
	FindChat(ctx context.Context, workspaceID string, id int64) (*Chat, error)
	// ListChats returns a workspace's chats by id; name != "" keeps only the
	// chats with exactly that name.
	ListChats(ctx context.Context, workspaceID, name string) ([]*Chat, error)
	// PageChats is ListChats a page at a time: at most limit chats by id,
	// after the position cursor names ("" for the first page). next is the
	// cursor of the following page, "" when there is no more. A cursor is
	// opaque; one this backend did not hand out is EINVALID naming cursor.
	PageChats(ctx context.Context, workspaceID, name string, limit int, cursor string) (chats []*Chat, next string, err error)
}

// Accept is one inbound request, validated and resolved by the gateway, to
// be committed by MessageService.Accept.
type Accept struct {
	WorkspaceID string
	// InboundToken is the token the request came in on. Accept refuses the
	// request when the token was regenerated (ENOTFOUND, no attempt) or the
	// URL disabled (EDISABLED) after the gateway looked it up, so both take
	// effect at once. "" skips the check (requests not from the inbound URL).
	InboundToken   string
	IdempotencyKey string   // "" when the request had none
	BodyHash       [32]byte // SHA-256 of the raw body, to tell a replay from a reuse
	// Message is the message to store: ID, AccountPhone, JID, Text, FileURL,
	// FileName, Credits and CreatedAt are set. ChatID is set when the
	// request named a chat; 0 means find the account's chat with JID, or
	// create it (named ChatName, Group from the JID).
	Message  *Message
	ChatName string
	// Attempt is recorded in the same commit whatever the outcome; Accept
	// fills its Code, Message, MessageID and Credits.
	Attempt *Attempt
	// Source is who made the request (Source…: SourceInbound for the
	// inbound URL), for the events it writes and the endpoints' filters.
	Source string
}

// AcceptResult is the outcome of a committed Accept.
type AcceptResult struct {
	Message  *Message // as stored (with ChatID); on a replay, the first one
	Replayed bool     // an Idempotency-Key replay: nothing was charged
	Balance  int64    // the workspace's balance after the commit
}

// MessageService stores messages.
type MessageService interface {
	// Accept commits, all or nothing and durably (fsync) before it returns:
	// the idempotency record, the credit charge, the message, its queue
	// entry, the chat if new, and the attempt record. Outcomes that are the
	// client's fault still commit the attempt and return an *Error:
	//   - EIDEMPOTENCY: the key was used in the last 24 h with another body
	//     or for a batch;
	//   - ECREDITS: the balance is below Message.Credits (the message says
	//     how many are needed and how many are left);
	//   - EDISABLED: the inbound URL was disabled meanwhile;
	//   - EINVALID: the chat id is unknown, the account is unknown or not active;
	//   - ENOTFOUND (no attempt recorded): the workspace is gone or the
	//     token was regenerated meanwhile.
	// A replay (same key, same body, within 24 h) commits only the attempt
	// and returns the first message with Replayed set.
	Accept(ctx context.Context, a *Accept) (*AcceptResult, error)
	// Replay looks up an Idempotency-Key of the workspace before the
	// request is validated: it returns the message first accepted with key
	// in the last 24 h when bodyHash matches, an EIDEMPOTENCY error when it
	// does not or the key was used for a batch, and (nil, nil) when the key
	// is new. For a known key it
	// records att (credits 0, the first message's id, or the error) in a
	// durable commit before it returns; for a new key it writes nothing.
	// Accept checks again in its commit, so two racing first uses still
	// charge once.
	Replay(ctx context.Context, workspaceID, key string, bodyHash [32]byte, att *Attempt) (*Message, error)
	// FindMessage returns a message of the workspace or ENOTFOUND.
	FindMessage(ctx context.Context, workspaceID, id string) (*Message, error)
	// ListMessages returns a workspace's messages newest first, at most
	// limit; status != "" keeps only that status.
	ListMessages(ctx context.Context, workspaceID string, status MessageStatus, limit int) ([]*Message, error)
	// PageMessages is ListMessages a page at a time, newest first: at most
	// limit messages after the position cursor names ("" for the first
	// page). next is the cursor of the following page, "" when there is no
	// more; following it walks every message exactly once. A page may hold
	// fewer than limit messages (a status that few messages have) and still
	// name a next page: one page reads a bounded number of messages. A
	// cursor is opaque; one this backend did not hand out is EINVALID
	// naming cursor.
	PageMessages(ctx context.Context, workspaceID string, status MessageStatus, limit int, cursor string) (msgs []*Message, next string, err error)
	// CancelMessage cancels a queued message (one waiting for a retry
	// too): in one commit it becomes failed with ErrorCancelled and a
	// cancelled try at at, leaves its queue and is refunded. The sender
	// then cannot take it (MarkSending refuses a message that is not
	// queued). ENOTFOUND for a message not of the workspace, ECONFLICT
	// for one sending, sent or failed, with a message saying which.
	// source (SourceAPI, SourceConsole) is who cancelled, for the
	// message.cancelled event.
	CancelMessage(ctx context.Context, workspaceID, id, source string, at time.Time) (*Message, error)
}

// AttemptLimit is how many attempts a workspace keeps: the log of the last 100.
const AttemptLimit = 100

// AttemptService stores the attempt log of inbound URLs.
type AttemptService interface {
	// RecordAttempt appends a to the workspace's log, keeping the last
	// AttemptLimit. Used for calls that never reach Accept (bad JSON, 403…).
	RecordAttempt(ctx context.Context, workspaceID string, a *Attempt) error
	// ListAttempts returns up to limit attempts, newest first, with
	// SendStatus and SendError read from their messages.
	ListAttempts(ctx context.Context, workspaceID string, limit int) ([]*Attempt, error)
}

// TokenService stores admin tokens as hashes.
type TokenService interface {
	// CreateToken stores t; storing it again is a no-op. There is one
	// operator token per instance: storing an operator token revokes any
	// other in the same commit (rotation after a leak).
	CreateToken(ctx context.Context, t *Token) error
	// FindToken returns the token with that hash or ENOTFOUND.
	FindToken(ctx context.Context, hash [32]byte) (*Token, error)
	// CreateWorkspaceToken stores a new owner or support token of
	// t.WorkspaceID (t.ID is set to TokenID(t.Hash)) unless the workspace
	// already has max tokens (max <= 0: no limit), which is an ECONFLICT
	// error wrapping ErrTokenLimit; the count and the write are one commit,
	// so racing creates cannot pass the limit. ENOTFOUND for an unknown
	// workspace.
	CreateWorkspaceToken(ctx context.Context, t *Token, max int) error
	// ListTokens returns the workspace's owner and support tokens, oldest
	// first.
	ListTokens(ctx context.Context, workspaceID string) ([]*Token, error)
	// RevokeToken deletes the workspace's token with that id and every
	// console session signed in with it, in one commit: both stop working
	// at once. ENOTFOUND for an unknown id; ECONFLICT wrapping
	// ErrLastOwnerToken when it is the workspace's last owner token.
	RevokeToken(ctx context.Context, workspaceID, id string) error
	// RecordTokenUse sets the token's LastUsedAt to at, unless it is gone
	// or its LastUsedAt is less than TokenUseResolution behind at. Callers
	// call it only when Token.ShouldRecordUse says so, so an admin request
	// costs a write at most once per TokenUseResolution per token; the
	// write may share a group commit with others.
	RecordTokenUse(ctx context.Context, hash [32]byte, at time.Time) error
}

// ErrTokenLimit is wrapped by CreateWorkspaceToken's error when the
// workspace has as many tokens as allowed; the caller names its setting.
var ErrTokenLimit = errors.New("the workspace has as many tokens as allowed")

// ErrLastOwnerToken is wrapped by RevokeToken's error for the last owner
// token of a workspace: without one nobody could administer it.
var ErrLastOwnerToken = errors.New("the last owner token of a workspace cannot be revoked")

// SessionService stores console sessions (SPEC §6): in the store, so they
// survive a restart and work across replicas. Sessions are looked up by
// the SHA-256 hash of their id; the id itself is never stored.
type SessionService interface {
	// CreateSession stores s under key. In the same commit it ends the
	// oldest sessions of s.TokenHash beyond SessionsPerToken - 1 (never
	// another token's) and sweeps sessions expired at s.CreatedAt.
	// ENOTFOUND when the token no longer exists.
	CreateSession(ctx context.Context, key [32]byte, s *Session) error
	// FindSession returns the session stored under key, or ENOTFOUND when
	// there is none, it has expired at now, or its token no longer exists.
	FindSession(ctx context.Context, key [32]byte, now time.Time) (*Session, error)
	// DeleteSession ends the session stored under key; none is no error.
	DeleteSession(ctx context.Context, key [32]byte) error
}

// DeliveryUpdate is a transport's later report on a message it sent, such as
// a Cloud API status webhook.
type DeliveryUpdate struct {
	ProviderID string // the id the transport's Send returned
	Status     string // "sent", "delivered", "read" or "failed"
	At         time.Time
	Error      string // for "failed": what went wrong, for the message's error
	// From ties the report to the account that sent the message. A
	// provider id may be unique only per sending number, and anyone who
	// learns one could report on it from another number of the same app:
	// a Cloud API status is matched by (phone_number_id, wamid), never by
	// the wamid alone (SPEC §8). When From.Setting is set, the message's
	// account must have Settings[From.Setting] == From.Value, or the
	// report matches no message.
	From DeliverySender
}

// DeliverySender names the sending account of a DeliveryUpdate by one of
// its settings, e.g. {"phone_number_id", "106540352242922"}.
type DeliverySender struct {
	Setting string
	Value   string
}

// DeliveryService applies transports' later reports to the messages they sent.
type DeliveryService interface {
	// ApplyDelivery finds the message sent with u.ProviderID and, when
	// advance(its last Delivery, u.Status) is true, records u. A "failed"
	// report on a sent message makes it failed and refunds its credits in
	// the same write; a failed message never moves again, so a refund
	// happens once. applied is false for a duplicate or a late report.
	// ENOTFOUND when no message was sent with that provider id, or from
	// u.From (an account since deleted matches no From either).
	ApplyDelivery(ctx context.Context, u DeliveryUpdate, advance func(current, next string) bool) (m *Message, applied bool, err error)
}

// EndpointRef names one endpoint of one workspace.
type EndpointRef struct {
	WorkspaceID string
	ID          string
}

// EndpointService stores a workspace's outbound webhook endpoints (SPEC §9)
// and their delivery history.
type EndpointService interface {
	// CreateEndpoint stores e (ID, Secret and CreatedAt set by the caller);
	// ECONFLICT wrapping ErrEndpointLimit beyond EndpointLimit, checked in
	// the same commit; ENOTFOUND for an unknown workspace.
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	// FindEndpoint returns one endpoint, secrets included, or ENOTFOUND.
	FindEndpoint(ctx context.Context, ref EndpointRef) (*Endpoint, error)
	// ListEndpoints returns a workspace's endpoints, oldest first.
	ListEndpoints(ctx context.Context, workspaceID string) ([]*Endpoint, error)
	// UpdateEndpoint applies update to the stored endpoint and stores the
	// result in one commit; an error from update aborts and is returned.
	// Enabling an endpoint resumes its pending deliveries, in order, and
	// clears DisabledReason and FailingSince (a fresh start). The ID,
	// WorkspaceID and CreatedAt cannot change; an empty Secret keeps the
	// stored one.
	UpdateEndpoint(ctx context.Context, ref EndpointRef, update func(*Endpoint) error) (*Endpoint, error)
	// DeleteEndpoint removes the endpoint with its deliveries; ENOTFOUND
	// when there is none.
	DeleteEndpoint(ctx context.Context, ref EndpointRef) error
	// ListDeliveries pages through the endpoint's kept deliveries, newest
	// first (see PageChats for limit, cursor and next).
	ListDeliveries(ctx context.Context, ref EndpointRef, limit int, cursor string) (ds []*EndpointDelivery, next string, err error)
	// RetryDelivery queues a failed delivery again, due at; ECONFLICT for
	// one that is not failed, ENOTFOUND for an unknown one. Its Attempt
	// count goes on (the deliverer decides what one more failure means).
	RetryDelivery(ctx context.Context, ref EndpointRef, deliveryID string, at time.Time) (*EndpointDelivery, error)
	// RecordDelivery adds a delivery made outside the queue (a test send)
	// to the endpoint's history, finished (Status succeeded or failed, else
	// EINVALID); it sets d.ID, and d.At when zero. ENOTFOUND for an unknown
	// endpoint.
	RecordDelivery(ctx context.Context, d *EndpointDelivery) error
}

// ErrEndpointLimit is wrapped by the ECONFLICT of a create beyond
// EndpointLimit.
var ErrEndpointLimit = errors.New("endpoint limit reached")

// PendingDelivery is one delivery due, with what it needs to be made.
type PendingDelivery struct {
	Delivery *EndpointDelivery
	Event    *Event
	Endpoint *Endpoint
}

// DeliveryQueue is the durable outbox the deliverer drains. Events are
// written by the store in the commit of the change they report, with one
// pending delivery per enabled, subscribed endpoint whose filter matches.
type DeliveryQueue interface {
	// PendingEndpoints lists the enabled endpoints that have pending
	// deliveries, so a restart resumes them all.
	PendingEndpoints(ctx context.Context) ([]EndpointRef, error)
	// NextDeliveries returns up to n pending deliveries of an enabled
	// endpoint that are due at at, in due order (oldest event first among
	// those due together), and due: the next try of the first pending
	// delivery not returned (after at when none is due yet, at or before
	// at when more than n are due), zero when none, so the deliverer knows
	// when to look again. A disabled endpoint has none. A delivery stays
	// pending (and is returned again) until FinishAttempt: the deliverer
	// tracks the ones in flight. ENOTFOUND for an unknown endpoint.
	NextDeliveries(ctx context.Context, ref EndpointRef, at time.Time, n int) (ds []*PendingDelivery, due time.Time, err error)
	// FinishAttempt records the outcome of one attempt of d (Status
	// succeeded, failed, or pending again with NextTryAt; Request,
	// Response, Error, Duration, At filled in) and its consequences for
	// the endpoint in the same commit: a success clears FailingSince, a
	// failure starts it; disable != "" disables the endpoint with that
	// reason (a 410, five days of failures). Keeps the newest
	// DeliveryHistoryLimit deliveries of the endpoint, pending ones always.
	// The store counts attempts: it sets d.Attempt. ENOTFOUND when the
	// endpoint or delivery is gone (deleted meanwhile), ECONFLICT when d
	// is not pending any more.
	FinishAttempt(ctx context.Context, d *EndpointDelivery, disable string) error
}
