package wagate

import (
	"strings"
	"testing"
)

// TestAcceptRefusals: each refusal of an accept has its code and names the
// field or the fix.
func TestAcceptRefusals(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
		says string
	}{
		{"unknown chat id", ErrChatNotInWorkspace(7), EINVALID, "chat_id 7 is not a chat of this workspace"},
		{"no sending account", ErrNoSendingAccount(), EINVALID, "whatsapp_account_phone"},
		{"the chat's account was deleted", CheckSendingAccount("15550001", 7, false, false), EINVALID, "chat_id 7 belongs to the WhatsApp account 15550001"},
		{"unknown account", CheckSendingAccount("15550001", 0, false, false), EINVALID, "whatsapp_account_phone 15550001 is not a WhatsApp account"},
		{"account switched off", CheckSendingAccount("15550001", 0, true, false), EINVALID, "activate it"},
		{"account switched off, by chat", CheckSendingAccount("15550001", 7, true, false), EINVALID, "activate it"},
		{"no recipient", CheckRecipient(""), EINVALID, "give chat_id, jid, phone or chat_name"},
		{"a NUL byte in the recipient", CheckRecipient("1555\x00@s.whatsapp.net"), EINVALID, "no recipient"},
		{"chat limit", ErrChatLimit(5, 5), ECONFLICT, "--max-chats 5"},
		{"account limit", ErrAccountLimit(3, 3), ECONFLICT, "--max-accounts 3"},
		{"account taken", ErrAccountTaken("15550001"), ECONFLICT, "already has the account 15550001"},
		{"chat taken", ErrChatTaken("15550001", "15550002@s.whatsapp.net", 4), ECONFLICT, "chat_id 4"},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.code {
			t.Errorf("%s: code %q (%v), want %q", tt.name, got, tt.err, tt.code)
		}
		if !strings.Contains(ErrorMessage(tt.err), tt.says) {
			t.Errorf("%s: %q does not say %q", tt.name, ErrorMessage(tt.err), tt.says)
		}
	}
}

// TestAcceptPasses: an active account of the workspace and a recipient
// pass.
func TestAcceptPasses(t *testing.T) {
	if err := CheckSendingAccount("15550001", 7, true, true); err != nil {
		t.Errorf("CheckSendingAccount of an active account: %v", err)
	}
	if err := CheckRecipient("15550002@s.whatsapp.net"); err != nil {
		t.Errorf("CheckRecipient: %v", err)
	}
}
