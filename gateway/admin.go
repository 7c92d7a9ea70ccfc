package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// Limits of the admin API.
const (
	maxWorkspaceName   = 200
	maxCreditsAmount   = 1_000_000_000_000 // per call; keeps sums far from int64 overflow
	defaultMessageList = 50
	maxMessageList     = 1000
)

// transports returns the transports accounts may be connected on.
func (s *Server) transports() map[string]TransportRules {
	if s.svc.Transports == nil {
		return map[string]TransportRules{wagate.TransportDryrun: {}}
	}
	return s.svc.Transports
}

// transportNames lists the transports for an error message: "dryrun", "cloudapi".
func (s *Server) transportNames() string {
	names := make([]string, 0, len(s.transports()))
	for n := range s.transports() {
		names = append(names, strconv.Quote(n))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// CreateWorkspace creates a workspace with an enabled inbound URL and its
// first owner token, both 32 random bytes. It is the admin API's POST
// /workspaces and what `serve --demo` calls. The owner token is returned
// once and stored only as its hash.
func (s *Server) CreateWorkspace(ctx context.Context, name string, credits int64) (ws *wagate.Workspace, ownerToken string, err error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return nil, "", wagate.Errorf(wagate.EINVALID, `missing field "name": give the workspace a name`)
	case utf8.RuneCountInString(name) > maxWorkspaceName:
		return nil, "", wagate.Errorf(wagate.EINVALID, `field "name" is longer than %d characters`, maxWorkspaceName)
	case credits < 0:
		return nil, "", wagate.Errorf(wagate.EINVALID, `field "credits" is %d; a new workspace starts with 0 or more credits`, credits)
	case credits > maxCreditsAmount:
		return nil, "", wagate.Errorf(wagate.EINVALID, `field "credits" is over %d`, int64(maxCreditsAmount))
	}
	id, err := wagate.NewWorkspaceID(s.rand)
	if err != nil {
		return nil, "", err
	}
	inbound, err := wagate.NewToken(s.rand)
	if err != nil {
		return nil, "", err
	}
	owner, err := wagate.NewToken(s.rand)
	if err != nil {
		return nil, "", err
	}
	now := s.now().UTC()
	ws = &wagate.Workspace{
		ID:        id,
		Name:      name,
		Credits:   credits,
		Granted:   credits,
		Webhook:   wagate.Webhook{Token: inbound, Enabled: true, CreatedAt: now},
		CreatedAt: now,
	}
	t := &wagate.Token{Hash: wagate.HashToken(owner), WorkspaceID: id, Role: wagate.RoleOwner, Name: firstOwnerName, Prefix: owner[:wagate.TokenPrefixLen], CreatedAt: now}
	if err := s.svc.Workspaces.CreateWorkspace(ctx, ws, t); err != nil {
		return nil, "", err
	}
	return ws, owner, nil
}

// POST /api/v1/workspaces (operator).
func (s *Server) createWorkspace(c echo.Context) error {
	if err := requireOperator(c); err != nil {
		return err
	}
	var in api.CreateWorkspace
	if err := bindJSON(c, &in, "name", "credits"); err != nil {
		return err
	}
	ws, owner, err := s.CreateWorkspace(c.Request().Context(), in.Name, in.Credits)
	if err != nil {
		return err
	}
	c.Set(ctxWorkspace, ws.ID)
	return c.JSON(http.StatusCreated, &api.WorkspaceCreated{Workspace: s.renderWorkspace(ws, token(c).Role), OwnerToken: owner})
}

// GET /api/v1/workspaces (operator).
func (s *Server) listWorkspaces(c echo.Context) error {
	if err := requireOperator(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := s.svc.Workspaces.ListWorkspaces(ctx)
	if err != nil {
		return err
	}
	out := make([]api.Workspace, 0, len(list))
	for _, ws := range list {
		// ListWorkspaces leaves Accounts out; the object lists them.
		if ws.Accounts == nil {
			if ws.Accounts, err = s.svc.Accounts.ListAccounts(ctx, ws.ID); err != nil {
				return err
			}
		}
		out = append(out, s.renderWorkspace(ws, token(c).Role))
	}
	return c.JSON(http.StatusOK, &api.WorkspaceList{Workspaces: out})
}

// GET /api/v1/workspaces/:ws (operator, owner, support).
func (s *Server) getWorkspace(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	ws, err := s.findWorkspace(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.renderWorkspace(ws, token(c).Role))
}

// POST /api/v1/workspaces/:ws/credits (operator).
func (s *Server) addCredits(c echo.Context) error {
	if err := requireOperator(c); err != nil {
		return err
	}
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in api.AddCredits
	if err := bindJSON(c, &in, "amount"); err != nil {
		return err
	}
	switch {
	case in.Amount == nil:
		return wagate.Errorf(wagate.EINVALID, `missing field "amount": the credits to add (negative to take away)`)
	case *in.Amount > maxCreditsAmount || *in.Amount < -maxCreditsAmount:
		return wagate.Errorf(wagate.EINVALID, `field "amount" must be between -%d and %d`, int64(maxCreditsAmount), int64(maxCreditsAmount))
	}
	ws, err := s.svc.Workspaces.AddCredits(c.Request().Context(), id, *in.Amount)
	if err != nil {
		return err
	}
	if ws.Accounts == nil {
		if ws, err = s.findWorkspace(c.Request().Context(), id); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, s.renderWorkspace(ws, token(c).Role))
}

// PATCH /api/v1/workspaces/:ws/webhook (owner).
func (s *Server) setWebhook(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in api.SetWebhook
	if err := bindJSON(c, &in, "enabled"); err != nil {
		return err
	}
	if in.Enabled == nil {
		return wagate.Errorf(wagate.EINVALID, `missing field "enabled": true to switch the inbound URL on, false to switch it off`)
	}
	ws, err := s.SetWebhookEnabled(c.Request().Context(), id, *in.Enabled)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.renderWebhook(ws.Webhook, token(c).Role))
}

// POST /api/v1/workspaces/:ws/webhook/regenerate (owner).
func (s *Server) regenerateWebhook(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	ws, err := s.RegenerateWebhook(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.renderWebhook(ws.Webhook, token(c).Role))
}

// GET /api/v1/workspaces/:ws/webhook/attempts?limit=N (owner, support).
func (s *Server) listAttempts(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, wagate.AttemptLimit, wagate.AttemptLimit)
	if err != nil {
		return err
	}
	list, err := s.svc.Attempts.ListAttempts(c.Request().Context(), id, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &api.AttemptList{Attempts: renderAll(list, renderAttempt)})
}

// GET /api/v1/workspaces/:ws/webhook/attempts/download?format=jsonl|csv
// (owner, support): the last 100 attempts, oldest first, as a file.
func (s *Server) downloadAttempts(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	d, err := s.DownloadAttempts(c.Request().Context(), id, c.QueryParam("format"))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", d.Name))
	return c.Blob(http.StatusOK, d.ContentType, d.Body)
}

// POST /api/v1/workspaces/:ws/accounts (owner).
func (s *Server) createAccount(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in api.CreateAccount
	if err := bindJSON(c, &in, "phone", "transport", "settings"); err != nil {
		return err
	}
	if strings.TrimSpace(in.Phone) == "" {
		return wagate.Errorf(wagate.EINVALID, `missing field "phone": the account's WhatsApp number in international format, e.g. +14155552671`)
	}
	phone, err := wagate.NormalizePhone(in.Phone, s.cfg.PhoneCheck)
	if err != nil {
		return fieldError("phone", err)
	}
	if in.Transport == "" {
		in.Transport = wagate.TransportDryrun
	}
	rules, ok := s.transports()[in.Transport]
	if !ok {
		return wagate.Errorf(wagate.EINVALID, `field "transport": %q is not a transport of this server; use one of %s (default "dryrun")`, cut(in.Transport, 40), s.transportNames())
	}
	if err := rules.validateSettings(in.Transport, in.Settings); err != nil {
		return err
	}
	a := &wagate.Account{
		WorkspaceID: id,
		Phone:       phone,
		Transport:   in.Transport,
		Settings:    in.Settings,
		Active:      true,
		ConnectedAt: s.now().UTC(),
	}
	if err := s.svc.Accounts.CreateAccount(c.Request().Context(), a); err != nil {
		return err
	}
	s.accountChanged(a.Ref())
	s.syncQuietly(c.Request().Context(), a) // its templates, when it has some (SPEC §8)
	return c.JSON(http.StatusCreated, renderAccount(a))
}

// GET /api/v1/workspaces/:ws/accounts (owner, support).
func (s *Server) listAccounts(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	list, err := s.svc.Accounts.ListAccounts(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &api.AccountList{Accounts: renderAll(list, renderAccount)})
}

// accountRef reads the :phone path parameter; "+" may come percent-encoded
// or be left out, as NormalizePhone reads digits as international.
func (s *Server) accountRef(c echo.Context, workspaceID string) (wagate.AccountRef, error) {
	raw, err := url.PathUnescape(c.Param("phone"))
	if err != nil {
		raw = c.Param("phone")
	}
	phone, err := wagate.NormalizePhone(raw, s.cfg.PhoneCheck)
	if err != nil {
		return wagate.AccountRef{}, wagate.Errorf(wagate.EINVALID, "account phone in the path: %s", wagate.ErrorMessage(err))
	}
	return wagate.AccountRef{WorkspaceID: workspaceID, Phone: phone}, nil
}

// accountNotFound gives ENOTFOUND a message that names the account.
func accountNotFound(err error, ref wagate.AccountRef) error {
	if wagate.ErrorCode(err) == wagate.ENOTFOUND {
		return wagate.Errorf(wagate.ENOTFOUND, "account %s not found in this workspace", ref.Phone)
	}
	return err
}

// PATCH /api/v1/workspaces/:ws/accounts/:phone (owner): active and the
// careful-sending rules.
func (s *Server) setAccountActive(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	ref, err := s.accountRef(c, id)
	if err != nil {
		return err
	}
	var in api.SetAccount
	if err := bindJSON(c, &in, setAccountFields...); err != nil {
		return err
	}
	if in == (api.SetAccount{}) {
		return wagate.Errorf(wagate.EINVALID, "nothing to change; send one or more of %s", quoteList(setAccountFields))
	}
	a, err := s.SetAccount(c.Request().Context(), ref, &in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderAccount(a))
}

// DELETE /api/v1/workspaces/:ws/accounts/:phone (owner).
func (s *Server) deleteAccount(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	ref, err := s.accountRef(c, id)
	if err != nil {
		return err
	}
	if err := s.svc.Accounts.DeleteAccount(c.Request().Context(), ref, s.now().UTC()); err != nil {
		return accountNotFound(err, ref)
	}
	s.accountChanged(ref)
	return c.NoContent(http.StatusNoContent)
}

// POST /api/v1/workspaces/:ws/chats (owner).
func (s *Server) createChat(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in api.CreateChat
	if err := bindJSON(c, &in, "account_phone", "jid", "phone", "name"); err != nil {
		return err
	}
	if strings.TrimSpace(in.AccountPhone) == "" {
		return wagate.Errorf(wagate.EINVALID, `missing field "account_phone": the account the chat belongs to`)
	}
	accountPhone, err := wagate.NormalizePhone(in.AccountPhone, s.cfg.PhoneCheck)
	if err != nil {
		return fieldError("account_phone", err)
	}
	ctx := c.Request().Context()
	if _, err := s.svc.Accounts.FindAccount(ctx, wagate.AccountRef{WorkspaceID: id, Phone: accountPhone}); err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return wagate.Errorf(wagate.EINVALID, "account_phone %s is not an account of this workspace; connect it first (POST …/accounts)", accountPhone)
		}
		return err
	}
	hasJID, hasPhone := strings.TrimSpace(in.JID) != "", strings.TrimSpace(in.Phone) != ""
	var j wagate.JID
	switch {
	case hasJID && hasPhone:
		return wagate.Errorf(wagate.EINVALID, `give "jid" or "phone", not both`)
	case hasJID:
		if j, err = wagate.ParseJID(in.JID, s.cfg.PhoneCheck); err != nil {
			return fieldError("jid", err)
		}
	case hasPhone:
		p, err := wagate.NormalizePhone(in.Phone, s.cfg.PhoneCheck)
		if err != nil {
			return fieldError("phone", err)
		}
		j = wagate.PhoneJID(p)
	default:
		return wagate.Errorf(wagate.EINVALID, `missing field "jid" or "phone": who the chat is with`)
	}
	name := strings.TrimSpace(in.Name)
	if utf8.RuneCountInString(name) > maxNameLen {
		return wagate.Errorf(wagate.EINVALID, `field "name" is longer than %d characters`, maxNameLen)
	}
	chat := &wagate.Chat{
		WorkspaceID:  id,
		AccountPhone: accountPhone,
		JID:          j.String(),
		Name:         name,
		Group:        j.IsGroup(),
		CreatedAt:    s.now().UTC(),
	}
	if err := s.svc.Chats.CreateChat(ctx, chat); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, renderChat(chat))
}

// GET /api/v1/workspaces/:ws/chats?name=&limit=&cursor= (owner, support):
// by id, a page at a time (see page).
func (s *Server) listChats(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, defaultChatList, maxChatList)
	if err != nil {
		return err
	}
	list, next, err := s.svc.Chats.PageChats(c.Request().Context(), id, c.QueryParam("name"), limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &api.ChatList{Chats: renderAll(list, renderChat), NextCursor: next})
}

// GET /api/v1/workspaces/:ws/messages/:id (owner, support).
func (s *Server) getMessage(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	mid, err := url.PathUnescape(c.Param("id"))
	if err != nil {
		mid = c.Param("id")
	}
	m, err := s.svc.Messages.FindMessage(c.Request().Context(), id, mid)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return wagate.Errorf(wagate.ENOTFOUND, "message %q not found in this workspace", cut(mid, 40))
		}
		return err
	}
	return c.JSON(http.StatusOK, renderMessage(m))
}

// GET /api/v1/workspaces/:ws/messages?status=&limit=&cursor= (owner,
// support): newest first, a page at a time (see page).
func (s *Server) listMessages(c echo.Context) error {
	id, err := s.workspaceFor(c, read)
	if err != nil {
		return err
	}
	status := wagate.MessageStatus(c.QueryParam("status"))
	if status != "" && !status.Valid() {
		return wagate.Errorf(wagate.EINVALID, "status %q is not a message status; use queued, sending, sent or failed (or leave it out)", cut(string(status), 20))
	}
	limit, err := queryLimit(c, defaultMessageList, maxMessageList)
	if err != nil {
		return err
	}
	list, next, err := s.svc.Messages.PageMessages(c.Request().Context(), id, status, limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &api.MessageList{Messages: renderAll(list, renderMessage), NextCursor: next})
}

// queryLimit reads ?limit=, between 1 and max, def when absent.
func queryLimit(c echo.Context, def, max int) (int, error) {
	raw := c.QueryParam("limit")
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		return 0, wagate.Errorf(wagate.EINVALID, "limit %q is not a number from 1 to %d", cut(raw, 20), max)
	}
	return n, nil
}

// renderAll renders each item of a list answer; an empty list is [] in
// JSON, never null.
func renderAll[T, J any](items []T, render func(T) J) []J {
	out := make([]J, 0, len(items))
	for _, it := range items {
		out = append(out, render(it))
	}
	return out
}
