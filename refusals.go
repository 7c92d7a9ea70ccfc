package wagate

import (
	"fmt"
	"slices"
	"strings"
)

// The refusals both storage backends give, one copy: a backend reads what
// it needs in its transaction and answers with these, so the two cannot
// drift apart in code or wording. Each names the field or the fix.

// CheckNewWorkspace refuses a workspace without an id or an inbound token,
// or with negative credits.
func CheckNewWorkspace(ws *Workspace) error {
	if ws.ID == "" || ws.Webhook.Token == "" {
		return Errorf(EINVALID, "a workspace needs an id and an inbound token")
	}
	if ws.Credits < 0 {
		return Errorf(EINVALID, "credits must be 0 or more, not %d", ws.Credits)
	}
	return nil
}

// ErrWorkspaceNotFound is the answer for an unknown workspace id.
func ErrWorkspaceNotFound(id string) error {
	return Errorf(ENOTFOUND, "workspace %q not found", id)
}

// ErrWorkspaceTaken refuses a second workspace of one id.
func ErrWorkspaceTaken(id string) error {
	return Errorf(ECONFLICT, "workspace %s already exists", id)
}

// ErrInboundTokenTaken refuses an inbound token another workspace has.
func ErrInboundTokenTaken() error {
	return Errorf(ECONFLICT, "this inbound token is already used by another workspace")
}

// CheckNewInboundToken refuses an empty new inbound token.
func CheckNewInboundToken(token string) error {
	if token == "" {
		return Errorf(EINVALID, "the new inbound token is empty")
	}
	return nil
}

// CheckLowCredits refuses a negative credits.low threshold.
func CheckLowCredits(threshold int64) error {
	if threshold < 0 {
		return Errorf(EINVALID, "low_credits must be 0 (off) or more, not %d", threshold)
	}
	return nil
}

// ErrTokenRole refuses a workspace token whose role is not owner or
// support.
func ErrTokenRole(role Role) error {
	return Errorf(EINVALID, "role %q is not %q or %q", role, RoleOwner, RoleSupport)
}

// ErrOperatorTokenInWorkspace refuses an operator token with a workspace.
func ErrOperatorTokenInWorkspace() error {
	return Errorf(EINVALID, "an operator token belongs to no workspace")
}

// TokenLimitError refuses one more token of a workspace that has n, the
// most; it wraps ErrTokenLimit.
func TokenLimitError(n int) error {
	return fmt.Errorf("%w: %w", Errorf(ECONFLICT, "the workspace already has %d tokens, the most allowed; revoke one first", n), ErrTokenLimit)
}

// LastOwnerTokenError refuses revoking the workspace's last owner token
// id; it wraps ErrLastOwnerToken.
func LastOwnerTokenError(id string) error {
	return fmt.Errorf("%w: %w", Errorf(ECONFLICT, "token %s is the last owner token of this workspace; create another owner token first, then revoke this one", id), ErrLastOwnerToken)
}

// ErrTokenNotFound is the answer for a token that matches none.
func ErrTokenNotFound() error { return Errorf(ENOTFOUND, "token not found") }

// ErrTokenNotInWorkspace is the answer for a token id the workspace does
// not have.
func ErrTokenNotInWorkspace(id string) error {
	return Errorf(ENOTFOUND, "token %q not found in this workspace", id)
}

// CheckSessionExpiry refuses a console session without an expiry.
func CheckSessionExpiry(s *Session) error {
	if s.ExpiresAt.IsZero() {
		return Errorf(EINVALID, "a session needs an expiry time")
	}
	return nil
}

// ErrSessionNotFound is the answer for an unknown or expired session.
func ErrSessionNotFound() error { return Errorf(ENOTFOUND, "session not found") }

// ErrEndpointNotFound is the answer for an endpoint id the workspace does
// not have; the id is cut, as it is the caller's input.
func ErrEndpointNotFound(id string) error {
	return Errorf(ENOTFOUND, "endpoint %q is not an endpoint of this workspace; list them with GET /api/v1/workspaces/{ws}/endpoints", CutUTF8(id, 40))
}

// ErrEndpointTaken refuses a second endpoint of one id.
func ErrEndpointTaken(id string) error {
	return Errorf(ECONFLICT, "endpoint %s already exists", id)
}

// EndpointLimitError refuses one more endpoint of a workspace that has n,
// the most; it wraps ErrEndpointLimit.
func EndpointLimitError(n int) error {
	return fmt.Errorf("%w: %w", Errorf(ECONFLICT, "the workspace already has %d endpoints, the most allowed; delete one first", n), ErrEndpointLimit)
}

// CheckRecordedDelivery refuses a recorded (test) delivery that is neither
// succeeded nor failed.
func CheckRecordedDelivery(status string) error {
	if status != DeliverySucceeded && status != DeliveryFailed {
		return Errorf(EINVALID, "a recorded delivery is %s or %s, not %q", DeliverySucceeded, DeliveryFailed, status)
	}
	return nil
}

// ErrTemplateNameTaken refuses a second template of one name.
func ErrTemplateNameTaken(name string) error {
	return Errorf(ECONFLICT, "the workspace already has a template named %q; change it with PATCH …/templates/%s, or pick another name", name, name)
}

// TemplateLimitError refuses one more template of a workspace that has n
// of max; it wraps ErrTemplateLimit.
func TemplateLimitError(n, max int) error {
	return fmt.Errorf("%w: %w", Errorf(ECONFLICT, "the workspace has %d templates, the most allowed (%d); delete one first", n, max), ErrTemplateLimit)
}

// ErrTemplateNotFound is the answer for a template name the workspace does
// not have.
func ErrTemplateNotFound(name string) error {
	return Errorf(ENOTFOUND, "template %q not found in this workspace", name)
}

// ErrTemplatesNeverSynced is the answer for the provider templates of an
// account that were never synced.
func ErrTemplatesNeverSynced(phone string) error {
	return Errorf(ENOTFOUND, "the templates of account %s were never synced", phone)
}

// ErrIdempotencyReused refuses an Idempotency-Key used within the window
// with another body.
func ErrIdempotencyReused(key string) error {
	return Errorf(EIDEMPOTENCY, "Idempotency-Key %q was used in the last 24 h with a different body; use a new key for a new request", key)
}

// ErrIdempotencyKeyOfBatch refuses a single request whose Idempotency-Key
// was used within the window for a batch: its answer is a batch's, which a
// single request cannot be given.
func ErrIdempotencyKeyOfBatch(key string) error {
	return Errorf(EIDEMPOTENCY, "Idempotency-Key %q was used in the last 24 h for a batch; send a batch's retry to the batch URL (the inbound URL + /batch), or use a new key for this request", key)
}

// ErrIdempotencyKeyOfSingle refuses a batch whose Idempotency-Key was used
// within the window for a single request: the mirror of
// ErrIdempotencyKeyOfBatch.
func ErrIdempotencyKeyOfSingle(key string) error {
	return Errorf(EIDEMPOTENCY, "Idempotency-Key %q was used in the last 24 h for a single request, not a batch; use a new key for this batch", key)
}

// ErrMessageNotFound is the answer for an unknown message id.
func ErrMessageNotFound(id string) error {
	return Errorf(ENOTFOUND, "message %s not found", id)
}

// ErrMessageNotInWorkspace is the answer for a message id the workspace
// does not have.
func ErrMessageNotInWorkspace(id string) error {
	return Errorf(ENOTFOUND, "message %s is not a message of this workspace", id)
}

// CheckStatusFilter refuses a list filter that is not a message status
// ("" is none).
func CheckStatusFilter(status MessageStatus) error {
	if status != "" && !status.Valid() {
		return Errorf(EINVALID, "status %q is not queued, sending, sent or failed", status)
	}
	return nil
}

// ErrChatNotFound is the answer for a chat id the workspace does not have.
func ErrChatNotFound(id int64) error {
	return Errorf(ENOTFOUND, "chat_id %d is not a chat of this workspace", id)
}

// ErrChatNeedsJID refuses a chat without a recipient.
func ErrChatNeedsJID() error { return Errorf(EINVALID, "jid: a chat needs a JID or a phone") }

// ErrAccountNotInWorkspace refuses a chat of an account the workspace does
// not have.
func ErrAccountNotInWorkspace(phone string) error {
	return Errorf(EINVALID, "account_phone %s is not an account of this workspace", phone)
}

// CheckAccountPhone refuses an empty account number, or one no backend
// can store (a NUL byte).
func CheckAccountPhone(phone string) error {
	if phone == "" || strings.ContainsRune(phone, 0) {
		return Errorf(EINVALID, "phone: write the account's number in international format, e.g. +14155552671")
	}
	return nil
}

// CheckAccountEventType refuses an account event type that is not one of
// AccountEventTypes.
func CheckAccountEventType(typ string) error {
	if !slices.Contains(AccountEventTypes, typ) {
		return Errorf(EINVALID, "account event type %q: must be one of %s", CutUTF8(typ, 40), strings.Join(AccountEventTypes, ", "))
	}
	return nil
}
