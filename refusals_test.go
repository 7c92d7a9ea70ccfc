package wagate

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRefusals: each refusal has its code, names the field or the fix,
// and wraps its sentinel where callers branch on one.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     string
		says     string
		sentinel error
	}{
		{"workspace without an id", CheckNewWorkspace(&Workspace{Webhook: Webhook{Token: "t"}}), EINVALID, "needs an id and an inbound token", nil},
		{"workspace without a token", CheckNewWorkspace(&Workspace{ID: "ws"}), EINVALID, "needs an id and an inbound token", nil},
		{"workspace with negative credits", CheckNewWorkspace(&Workspace{ID: "ws", Webhook: Webhook{Token: "t"}, Credits: -1}), EINVALID, "credits must be 0 or more, not -1", nil},
		{"unknown workspace", ErrWorkspaceNotFound("ws"), ENOTFOUND, `workspace "ws"`, nil},
		{"taken workspace", ErrWorkspaceTaken("ws"), ECONFLICT, "workspace ws already exists", nil},
		{"taken inbound token", ErrInboundTokenTaken(), ECONFLICT, "already used by another workspace", nil},
		{"empty new inbound token", CheckNewInboundToken(""), EINVALID, "new inbound token is empty", nil},
		{"negative low credits", CheckLowCredits(-1), EINVALID, "low_credits must be 0 (off) or more", nil},
		{"bad token role", ErrTokenRole("boss"), EINVALID, `role "boss"`, nil},
		{"operator token of a workspace", ErrOperatorTokenInWorkspace(), EINVALID, "belongs to no workspace", nil},
		{"token limit", TokenLimitError(10), ECONFLICT, "already has 10 tokens", ErrTokenLimit},
		{"last owner token", LastOwnerTokenError("tok_1"), ECONFLICT, "token tok_1 is the last owner token", ErrLastOwnerToken},
		{"unknown token", ErrTokenNotFound(), ENOTFOUND, "token not found", nil},
		{"token of another workspace", ErrTokenNotInWorkspace("tok_1"), ENOTFOUND, `token "tok_1" not found in this workspace`, nil},
		{"session without an expiry", CheckSessionExpiry(&Session{}), EINVALID, "needs an expiry time", nil},
		{"unknown session", ErrSessionNotFound(), ENOTFOUND, "session not found", nil},
		{"unknown endpoint, cut", ErrEndpointNotFound(strings.Repeat("e", 100)), ENOTFOUND, `endpoint "` + strings.Repeat("e", 40) + `" is not`, nil},
		{"taken endpoint", ErrEndpointTaken("ep_1"), ECONFLICT, "endpoint ep_1 already exists", nil},
		{"endpoint limit", EndpointLimitError(20), ECONFLICT, "already has 20 endpoints", ErrEndpointLimit},
		{"pending recorded delivery", CheckRecordedDelivery(DeliveryPending), EINVALID, "a recorded delivery is", nil},
		{"taken template name", ErrTemplateNameTaken("hi"), ECONFLICT, `template named "hi"`, nil},
		{"template limit", TemplateLimitError(50, 50), ECONFLICT, "50 templates, the most allowed (50)", ErrTemplateLimit},
		{"unknown template", ErrTemplateNotFound("hi"), ENOTFOUND, `template "hi" not found`, nil},
		{"never synced", ErrTemplatesNeverSynced("15550001"), ENOTFOUND, "account 15550001 were never synced", nil},
		{"reused key", ErrIdempotencyReused("k1"), EIDEMPOTENCY, `Idempotency-Key "k1"`, nil},
		{"unknown message", ErrMessageNotFound("msg_1"), ENOTFOUND, "message msg_1 not found", nil},
		{"message of another workspace", ErrMessageNotInWorkspace("msg_1"), ENOTFOUND, "msg_1 is not a message of this workspace", nil},
		{"bad status filter", CheckStatusFilter("lost"), EINVALID, `status "lost"`, nil},
		{"unknown chat", ErrChatNotFound(3), ENOTFOUND, "chat_id 3", nil},
		{"chat without a JID", ErrChatNeedsJID(), EINVALID, "jid:", nil},
		{"chat of an unknown account", ErrAccountNotInWorkspace("15550001"), EINVALID, "account_phone 15550001", nil},
		{"empty account phone", CheckAccountPhone(""), EINVALID, "phone: write the account's number", nil},
		{"NUL in an account phone", CheckAccountPhone("1\x00"), EINVALID, "phone:", nil},
		{"bad account event type", CheckAccountEventType("account.exploded"), EINVALID, `"account.exploded": must be one of`, nil},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.code {
			t.Errorf("%s: code %q (%v), want %q", tt.name, got, tt.err, tt.code)
			continue
		}
		if !strings.Contains(ErrorMessage(tt.err), tt.says) {
			t.Errorf("%s: %q does not say %q", tt.name, ErrorMessage(tt.err), tt.says)
		}
		if tt.sentinel != nil && !errors.Is(tt.err, tt.sentinel) {
			t.Errorf("%s: %v does not wrap %v", tt.name, tt.err, tt.sentinel)
		}
	}
}

// TestRefusalsPass: what is valid passes every check.
func TestRefusalsPass(t *testing.T) {
	for name, err := range map[string]error{
		"workspace":           CheckNewWorkspace(&Workspace{ID: "ws", Webhook: Webhook{Token: "t"}}),
		"inbound token":       CheckNewInboundToken("t"),
		"low credits off":     CheckLowCredits(0),
		"session":             CheckSessionExpiry(&Session{ExpiresAt: time.Unix(1, 0)}),
		"succeeded delivery":  CheckRecordedDelivery(DeliverySucceeded),
		"failed delivery":     CheckRecordedDelivery(DeliveryFailed),
		"no status filter":    CheckStatusFilter(""),
		"status filter":       CheckStatusFilter(StatusSent),
		"account phone":       CheckAccountPhone("15550001"),
		"account event types": CheckAccountEventType(AccountEventTypes[0]),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
