package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

// maxChatIDsShown caps the ids listed when a chat_name is ambiguous.
const maxChatIDsShown = 10

// resolve turns a decoded request into an Accept: the recipient's JID and
// chat, the account to send from, and the price. Lookups that find nothing
// are EINVALID (400), never ENOTFOUND: on the inbound URL a 404 means the
// webhook itself does not exist.
func (s *Server) resolve(ctx context.Context, ws *wagate.Workspace, r *sendRequest) (*wagate.Accept, error) {
	tmpl, err := s.expandTemplate(ctx, ws, r)
	if err != nil {
		return nil, err
	}
	if err := validateSend(r, s.cfg.AllowPrivateFileURLs); err != nil {
		return nil, err
	}
	sendAt, err := parseSendAt(r.SendAt, s.now())
	if err != nil {
		return nil, err
	}
	to, err := s.resolveRecipient(ctx, ws, r)
	if err != nil {
		return nil, err
	}
	account, err := s.chooseAccount(ctx, ws, r, to.chat)
	if err != nil {
		return nil, err
	}
	if check := s.transports()[account.Transport].CheckRecipient; check != nil {
		if err := check(to.jid.String()); err != nil {
			return nil, err
		}
	}
	if err := checkLinked(ws, account); err != nil {
		return nil, err
	}

	text := r.Text
	if strings.TrimSpace(text) == "" {
		// Only whitespace, with a file (validateSend refused it without):
		// a file alone, which costs 1 credit, not 2 for a blank caption.
		text = ""
	}
	now := s.now()
	id, err := s.ids.Next(now)
	if err != nil {
		return nil, err
	}
	m := &wagate.Message{
		ID:           id,
		WorkspaceID:  ws.ID,
		Status:       wagate.StatusQueued,
		AccountPhone: account.Phone,
		JID:          to.jid.String(),
		Text:         text,
		Credits:      quota.Cost(text, r.FileURL != ""),
		CreatedAt:    now.UTC(),
		SendAt:       sendAt,
	}
	if r.FileURL != "" {
		m.FileURL = strings.TrimSpace(r.FileURL)
		m.FileName = r.FileName
	}
	if tmpl != nil {
		m.TemplateName = tmpl.Name
		if m.Template, err = s.templateSend(ctx, tmpl, account, r.Variables, m.FileURL != ""); err != nil {
			return nil, err
		}
	}
	if m.Template == nil {
		if err := s.checkWindow(ctx, ws, account, m.JID); err != nil {
			return nil, err
		}
	}
	a := &wagate.Accept{WorkspaceID: ws.ID, Message: m}
	if to.chat != nil {
		m.ChatID = to.chat.ID
	} else {
		a.ChatName = defaultChatName(to.jid)
	}
	return a, nil
}

// defaultChatName names a chat created by a send to a new phone or JID: the
// phone number for a person, the JID otherwise.
func defaultChatName(j wagate.JID) string {
	if j.Server == wagate.ServerUser {
		return "+" + j.User
	}
	return j.String()
}

// recipient is a resolved recipient: always a JID, and the chat when the
// request named one (chat_id or chat_name).
type recipient struct {
	jid  wagate.JID
	chat *wagate.Chat
	// by says which field gave it, e.g. `chat_id 77234`, for conflict messages.
	by string
}

// resolveRecipient resolves every recipient field given and checks that
// they agree: several kinds are fine as long as they name the same chat.
func (s *Server) resolveRecipient(ctx context.Context, ws *wagate.Workspace, r *sendRequest) (*recipient, error) {
	var found []*recipient
	if r.ChatID != 0 {
		c, err := s.svc.Chats.FindChat(ctx, ws.ID, r.ChatID)
		if err != nil {
			if wagate.ErrorCode(err) == wagate.ENOTFOUND {
				return nil, wagate.Errorf(wagate.EINVALID, "chat_id %d is not a chat of this workspace; list the chats with GET /api/v1/workspaces/{ws}/chats, or send to a phone or jid", r.ChatID)
			}
			return nil, err
		}
		found = append(found, &recipient{jid: chatJID(c), chat: c, by: fmt.Sprintf("chat_id %d", c.ID)})
	}
	if r.ChatName != "" {
		if len(found) == 1 {
			// chat_id already picked the chat; the name only has to agree,
			// which also settles a name that several chats share.
			if c := found[0].chat; c.Name != r.ChatName {
				return nil, wagate.Errorf(wagate.EINVALID, "conflicting recipients: chat_id %d is the chat named %q, but chat_name is %q; send only one of them", c.ID, cut(c.Name, 80), cut(r.ChatName, 80))
			}
		} else {
			c, err := s.chatByName(ctx, ws, r.ChatName)
			if err != nil {
				return nil, err
			}
			found = append(found, &recipient{jid: chatJID(c), chat: c, by: fmt.Sprintf("chat_name %q (chat %d)", cut(c.Name, 80), c.ID)})
		}
	}
	if r.JID != "" {
		if len(r.JID) > maxNameLen {
			return nil, wagate.Errorf(wagate.EINVALID, `field "jid" is %d characters long; a JID looks like 14155552671@s.whatsapp.net`, len(r.JID))
		}
		j, err := wagate.ParseJID(r.JID, s.cfg.PhoneCheck)
		if err != nil {
			return nil, fieldError(fJID, err)
		}
		found = append(found, &recipient{jid: j, by: fmt.Sprintf("jid %q", cut(r.JID, 80))})
	}
	if r.Phone != "" {
		if len(r.Phone) > maxNameLen {
			return nil, wagate.Errorf(wagate.EINVALID, `field "phone" is %d characters long; write an international number, e.g. +14155552671`, len(r.Phone))
		}
		p, err := wagate.NormalizePhone(r.Phone, s.cfg.PhoneCheck)
		if err != nil {
			return nil, s.phoneError(ctx, ws, r, err)
		}
		found = append(found, &recipient{jid: wagate.PhoneJID(p), by: fmt.Sprintf("phone %q", cut(r.Phone, 40))})
	}

	if len(found) == 0 {
		msg := `missing field "phone" (or chat_id, jid, chat_name): say who receives the message, e.g. "phone":"+14155552671"`
		if len(r.empty) > 0 {
			msg += fmt.Sprintf(" (%s was empty)", quoteList(r.empty))
		}
		return nil, wagate.Errorf(wagate.EINVALID, "%s", msg)
	}
	first := found[0]
	for _, o := range found[1:] {
		if o.jid != first.jid {
			return nil, wagate.Errorf(wagate.EINVALID, "conflicting recipients: %s is %s, but %s is %s; send only one recipient field", first.by, first.jid, o.by, o.jid)
		}
		if o.chat != nil && first.chat != nil && o.chat.AccountPhone != first.chat.AccountPhone {
			return nil, wagate.Errorf(wagate.EINVALID, "conflicting recipients: %s belongs to account %s, but %s belongs to account %s; send only one recipient field", first.by, first.chat.AccountPhone, o.by, o.chat.AccountPhone)
		}
	}
	for _, o := range found {
		if o.chat != nil {
			return o, nil
		}
	}
	return first, nil
}

func (s *Server) chatByName(ctx context.Context, ws *wagate.Workspace, name string) (*wagate.Chat, error) {
	chats, err := s.svc.Chats.ListChats(ctx, ws.ID, name)
	if err != nil {
		return nil, err
	}
	switch len(chats) {
	case 0:
		return nil, wagate.Errorf(wagate.EINVALID, "chat_name %q matches no chat of this workspace; names must match exactly (case and spaces too), or use chat_id, phone or jid", cut(name, 80))
	case 1:
		return chats[0], nil
	}
	ids := make([]string, 0, maxChatIDsShown)
	for i, c := range chats {
		if i == maxChatIDsShown {
			ids = append(ids, "…")
			break
		}
		ids = append(ids, fmt.Sprint(c.ID))
	}
	return nil, wagate.Errorf(wagate.EINVALID, "chat_name %q is shared by %d chats of this workspace (ids %s); use chat_id to pick one", cut(name, 80), len(chats), strings.Join(ids, ", "))
}

// phoneError explains an invalid phone. Digits without "+" are read as an
// international number (SPEC §1), so "4155552671" reads as a Swiss +41
// number; when they are a valid national number of the sending account's
// country, the message suggests that number's international form instead
// of only saying it is not valid in a country the client never meant.
// It is still a 400: guessing the country would send to a stranger.
func (s *Server) phoneError(ctx context.Context, ws *wagate.Workspace, r *sendRequest, err error) error {
	err = fieldError(fPhone, err)
	if wagate.ErrorCode(err) != wagate.EINVALID {
		return err
	}
	account, aerr := s.chooseAccount(ctx, ws, r, nil)
	if aerr != nil {
		return err
	}
	e164, region, ok := wagate.NationalSuggestion(r.Phone, account.Phone)
	if !ok {
		return err
	}
	return wagate.Errorf(wagate.EINVALID, `field "phone": %q is not a valid international number (digits without "+" are read as country code and number); it looks like a national number of %s, the country of the sending account %s: write it with its country code, "phone":%q`, cut(r.Phone, 40), region, account.Phone, e164)
}

// chatJID splits a stored chat's JID. Stored JIDs were parsed and
// normalized on the way in, so a split is enough to compare them.
func chatJID(c *wagate.Chat) wagate.JID {
	user, server, _ := strings.Cut(c.JID, "@")
	return wagate.JID{User: user, Server: server}
}

// chooseAccount picks the account to send from (SPEC §1): the chat's own
// account when a chat was named, else whatsapp_account_phone, else the most
// recently connected active account.
func (s *Server) chooseAccount(ctx context.Context, ws *wagate.Workspace, r *sendRequest, chat *wagate.Chat) (*wagate.Account, error) {
	// A workspace read by token may come with its accounts already (the
	// bbolt store reads them in the same transaction); else ask.
	accounts := ws.Accounts
	if accounts == nil {
		var err error
		if accounts, err = s.svc.Accounts.ListAccounts(ctx, ws.ID); err != nil {
			return nil, err
		}
	}
	if chat != nil {
		// A chat belongs to one account: whatsapp_account_phone is ignored.
		for _, a := range accounts {
			if a.Phone == chat.AccountPhone {
				if !a.Active {
					return nil, wagate.Errorf(wagate.EINVALID, "chat %d belongs to account %s, which is not active; activate it (PATCH …/accounts/%s {\"active\":true}) or send by phone or jid from another account", chat.ID, a.Phone, a.Phone)
				}
				return a, nil
			}
		}
		return nil, wagate.Errorf(wagate.EINVALID, "chat %d belongs to account %s, which was deleted; send by phone or jid from another account", chat.ID, chat.AccountPhone)
	}
	if r.Account != "" {
		if len(r.Account) > maxNameLen {
			return nil, wagate.Errorf(wagate.EINVALID, `field "whatsapp_account_phone" is %d characters long; write an international number, e.g. +14155552671`, len(r.Account))
		}
		p, err := wagate.NormalizePhone(r.Account, s.cfg.PhoneCheck)
		if err != nil {
			return nil, fieldError(fAccountPhone, err)
		}
		for _, a := range accounts {
			if a.Phone == p {
				if !a.Active {
					return nil, wagate.Errorf(wagate.EINVALID, "whatsapp_account_phone %s is not active; %s", p, describeAccounts(accounts))
				}
				return a, nil
			}
		}
		return nil, wagate.Errorf(wagate.EINVALID, "whatsapp_account_phone %s is not an account of this workspace; %s", p, describeAccounts(accounts))
	}
	var best *wagate.Account
	for _, a := range accounts {
		if a.Active && (best == nil || a.ConnectedAt.After(best.ConnectedAt)) {
			best = a
		}
	}
	if best == nil {
		return nil, wagate.Errorf(wagate.EINVALID, "this workspace has no active WhatsApp account; connect one (POST /api/v1/workspaces/{ws}/accounts) or activate one")
	}
	return best, nil
}

// describeAccounts lists a workspace's accounts for an error message.
func describeAccounts(accounts []*wagate.Account) string {
	if len(accounts) == 0 {
		return "this workspace has no WhatsApp account; connect one"
	}
	var active, inactive []string
	for _, a := range accounts {
		if a.Active {
			active = append(active, a.Phone)
		} else {
			inactive = append(inactive, a.Phone)
		}
	}
	var parts []string
	if len(active) > 0 {
		parts = append(parts, "active accounts: "+strings.Join(active, ", "))
	} else {
		parts = append(parts, "no account is active")
	}
	if len(inactive) > 0 {
		parts = append(parts, "inactive: "+strings.Join(inactive, ", "))
	}
	return strings.Join(parts, "; ") + "; leave the field out to use the most recently connected active account"
}

// fieldError names the field in a NormalizePhone or ParseJID error, whose
// message does not.
func fieldError(field string, err error) error {
	if wagate.ErrorCode(err) != wagate.EINVALID {
		return err
	}
	return wagate.Errorf(wagate.EINVALID, "field %q: %s", field, wagate.ErrorMessage(err))
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
