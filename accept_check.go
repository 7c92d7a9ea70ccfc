package wagate

import "strings"

// The accept's refusals (SPEC §1, §4), one copy for every backend. A
// backend reads the chat, the account and the counts in its transaction,
// in this order, and asks these rules; the order of the checks, and so
// which refusal a request with several faults gets, is the same on every
// backend:
//
//  1. a disabled inbound URL (ErrWebhookDisabled), then idempotency;
//  2. a chat named by id must be the workspace's (ErrChatNotInWorkspace);
//  3. a sending account is needed (ErrNoSendingAccount), and it must be
//     the workspace's and active (CheckSendingAccount);
//  4. a recipient is needed (CheckRecipient);
//  5. a new chat must fit the operator's --max-chats (ErrChatLimit);
//  6. the balance must pay (quota.Charge).

// ErrChatNotInWorkspace refuses a chat_id the workspace does not have. It
// is EINVALID, not ENOTFOUND: on the inbound URL a 404 means "Webhook not
// found", and this is a field of the request.
func ErrChatNotInWorkspace(chatID int64) error {
	return Errorf(EINVALID, "chat_id %d is not a chat of this workspace; look chat ids up with GET /api/v1/workspaces/{ws}/chats", chatID)
}

// ErrNoSendingAccount refuses a message with no account to send from.
func ErrNoSendingAccount() error {
	return Errorf(EINVALID, "whatsapp_account_phone: the workspace has no active WhatsApp account to send from; connect one, or name one")
}

// CheckSendingAccount refuses the sending account phone when the workspace
// does not have it (found false) or it is switched off; chatID is the
// chat the request named, if any, whose account it was.
func CheckSendingAccount(phone string, chatID int64, found, active bool) error {
	switch {
	case !found && chatID != 0:
		return Errorf(EINVALID, "chat_id %d belongs to the WhatsApp account %s, which is no longer connected to this workspace", chatID, phone)
	case !found:
		return Errorf(EINVALID, "whatsapp_account_phone %s is not a WhatsApp account of this workspace", phone)
	case !active:
		return Errorf(EINVALID, "the WhatsApp account %s is not active; activate it or send from another account", phone)
	}
	return nil
}

// CheckRecipient refuses a message with no recipient JID (or one no
// backend can store: a NUL byte).
func CheckRecipient(jid string) error {
	if jid == "" || strings.ContainsRune(jid, 0) {
		return Errorf(EINVALID, "no recipient: give chat_id, jid, phone or chat_name")
	}
	return nil
}

// ErrChatLimit refuses a new chat of a workspace that has n chats, the
// operator's --max-chats max.
func ErrChatLimit(n int64, max int) error {
	return Errorf(ECONFLICT, "the workspace has %d chats, the most this server allows (--max-chats %d); send to an existing chat, or ask the operator to raise --max-chats", n, max)
}

// ErrAccountLimit refuses a new account of a workspace that has n
// accounts, the operator's --max-accounts max.
func ErrAccountLimit(n, max int) error {
	return Errorf(ECONFLICT, "the workspace has %d accounts, the most this server allows (--max-accounts %d); delete an account first, or ask the operator to raise --max-accounts", n, max)
}

// ErrAccountTaken refuses a second account of one phone in a workspace.
func ErrAccountTaken(phone string) error {
	return Errorf(ECONFLICT, "the workspace already has the account %s", phone)
}

// ErrChatTaken refuses a second chat of one account with one JID; id is
// the chat it has.
func ErrChatTaken(phone, jid string, id int64) error {
	return Errorf(ECONFLICT, "the account %s already has a chat with %s: chat_id %d", phone, jid, id)
}
