package wagate

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in gateway/errors.go; the
// code is also sent to clients as the machine-readable "error" field.
const (
	EINVALID      = "invalid"                // a field is missing or wrong
	ENOTFOUND     = "not_found"              // unknown token, workspace, chat, message…
	EDISABLED     = "webhook_disabled"       // the inbound URL is switched off
	EUNAUTHORIZED = "unauthorized"           // no or wrong admin token
	EFORBIDDEN    = "forbidden"              // right token, wrong workspace or role
	ECREDITS      = "insufficient_credits"   // the workspace cannot pay for the message
	ECONFLICT     = "conflict"               // the thing already exists
	EIDEMPOTENCY  = "idempotency_key_reused" // same Idempotency-Key, other body
	ETOOLARGE     = "body_too_large"         // request body over the limit
	EMEDIATYPE    = "unsupported_media_type" // not a JSON request
	ERATELIMIT    = "rate_limited"           // too many requests
	EUNAVAILABLE  = "unavailable"            // shutting down or storage failing
	EINTERNAL     = "internal"               // a bug or an unexpected failure
)

// Error is the one error type of wagate's domain. Message is written for the
// person who sent the request: it names the field and the fix, and never
// contains a secret.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("wagate: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the human message of the first *Error in err's chain.
// Other errors become a generic text, so internal details (paths, SQL, bbolt
// messages) never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}

// ErrWebhookNotFound is SPEC §1's answer to an unknown or regenerated
// inbound token; its text is part of the HTTP contract.
func ErrWebhookNotFound() *Error { return &Error{Code: ENOTFOUND, Message: "Webhook not found"} }

// ErrWebhookDisabled is SPEC §1's answer to a call of a disabled inbound
// URL; its text is part of the HTTP contract.
func ErrWebhookDisabled() *Error { return &Error{Code: EDISABLED, Message: "Webhook is disabled"} }
