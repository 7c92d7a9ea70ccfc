package client

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/wagate/wagate/gateway/api"
)

// wsPath is the path of workspace ws plus rest; every variable segment is
// escaped, so an id cannot reach another route.
func wsPath(ws string, rest ...string) string {
	p := "/api/v1/workspaces/" + url.PathEscape(ws)
	for _, r := range rest {
		p += r
	}
	return p
}

// CreateWorkspace creates a workspace (operator token). The answer holds
// its first owner token, shown only here.
func (c *Client) CreateWorkspace(ctx context.Context, name string, credits int64) (*api.WorkspaceCreated, error) {
	var out api.WorkspaceCreated
	err := c.call(ctx, http.MethodPost, "/api/v1/workspaces", &api.CreateWorkspace{Name: name, Credits: credits}, &out)
	return ptr(&out, err)
}

// ListWorkspaces lists every workspace (operator token).
func (c *Client) ListWorkspaces(ctx context.Context) ([]api.Workspace, error) {
	var out api.WorkspaceList
	err := c.call(ctx, http.MethodGet, "/api/v1/workspaces", nil, &out)
	return out.Workspaces, err
}

// Workspace reads workspace ws.
func (c *Client) Workspace(ctx context.Context, ws string) (*api.Workspace, error) {
	var out api.Workspace
	err := c.call(ctx, http.MethodGet, wsPath(ws), nil, &out)
	return ptr(&out, err)
}

// AddCredits adds amount credits to ws (operator token); a negative amount
// takes away, never below 0. It returns the workspace after.
func (c *Client) AddCredits(ctx context.Context, ws string, amount int64) (*api.Workspace, error) {
	var out api.Workspace
	err := c.call(ctx, http.MethodPost, wsPath(ws, "/credits"), &api.AddCredits{Amount: &amount}, &out)
	return ptr(&out, err)
}

// SetWebhookEnabled switches the inbound URL of ws on or off (owner
// token); off keeps the URL.
func (c *Client) SetWebhookEnabled(ctx context.Context, ws string, enabled bool) (*api.Webhook, error) {
	var out api.Webhook
	err := c.call(ctx, http.MethodPatch, wsPath(ws, "/webhook"), &api.SetWebhook{Enabled: &enabled}, &out)
	return ptr(&out, err)
}

// RegenerateWebhook gives ws a new inbound URL (owner token); the old one
// answers 404 at once.
func (c *Client) RegenerateWebhook(ctx context.Context, ws string) (*api.Webhook, error) {
	var out api.Webhook
	err := c.call(ctx, http.MethodPost, wsPath(ws, "/webhook/regenerate"), nil, &out)
	return ptr(&out, err)
}

// ListAttempts lists the last limit calls of the inbound URL of ws, newest
// first; limit 0 is the server's default (all it keeps, 100).
func (c *Client) ListAttempts(ctx context.Context, ws string, limit int) ([]api.Attempt, error) {
	p := wsPath(ws, "/webhook/attempts")
	if limit != 0 {
		p += "?limit=" + strconv.Itoa(limit)
	}
	var out api.AttemptList
	err := c.call(ctx, http.MethodGet, p, nil, &out)
	return out.Attempts, err
}

// Download is a file the server offers for saving.
type Download struct {
	// Name is the file name the server suggests, reduced to a plain name
	// (no folder: a server must not choose where a file goes); "" when it
	// suggests none that is usable.
	Name        string
	ContentType string
	Body        []byte
}

// DownloadAttempts fetches the log of the last 100 calls of the inbound
// URL of ws, oldest first, in format "jsonl" or "csv" ("" is jsonl).
func (c *Client) DownloadAttempts(ctx context.Context, ws, format string) (*Download, error) {
	p := wsPath(ws, "/webhook/attempts/download")
	if format != "" {
		p += "?format=" + url.QueryEscape(format)
	}
	a, err := c.do(ctx, http.MethodGet, p, nil)
	if err != nil {
		return nil, err
	}
	return &Download{
		Name:        fileName(a.header.Get("Content-Disposition")),
		ContentType: a.header.Get("Content-Type"),
		Body:        a.body,
	}, nil
}

// fileName returns the file name of a Content-Disposition header as a
// plain name in the current folder, or "".
func fileName(disposition string) string {
	_, params, err := mime.ParseMediaType(disposition)
	if err != nil {
		return ""
	}
	name := path.Base(path.Clean("/" + strings.ReplaceAll(params["filename"], `\`, "/")))
	if name == "/" || name == "." || name == ".." {
		return ""
	}
	return name
}

// CreateAccount connects a WhatsApp account to ws (owner token).
func (c *Client) CreateAccount(ctx context.Context, ws string, in api.CreateAccount) (*api.Account, error) {
	var out api.Account
	err := c.call(ctx, http.MethodPost, wsPath(ws, "/accounts"), &in, &out)
	return ptr(&out, err)
}

// ListAccounts lists the accounts of ws.
func (c *Client) ListAccounts(ctx context.Context, ws string) ([]api.Account, error) {
	var out api.AccountList
	err := c.call(ctx, http.MethodGet, wsPath(ws, "/accounts"), nil, &out)
	return out.Accounts, err
}

// SetAccountActive resumes (true) or pauses (false) the account with
// phone in ws (owner token).
func (c *Client) SetAccountActive(ctx context.Context, ws, phone string, active bool) (*api.Account, error) {
	var out api.Account
	err := c.call(ctx, http.MethodPatch, wsPath(ws, "/accounts/", url.PathEscape(phone)), &api.SetAccount{Active: &active}, &out)
	return ptr(&out, err)
}

// UpdateAccount changes the fields of in that are set on the account
// with phone in ws (owner token): active and the careful-sending rules.
func (c *Client) UpdateAccount(ctx context.Context, ws, phone string, in api.SetAccount) (*api.Account, error) {
	var out api.Account
	err := c.call(ctx, http.MethodPatch, wsPath(ws, "/accounts/", url.PathEscape(phone)), &in, &out)
	return ptr(&out, err)
}

// DeleteAccount removes the account with phone from ws (owner token); its
// queued messages fail and are refunded.
func (c *Client) DeleteAccount(ctx context.Context, ws, phone string) error {
	return c.call(ctx, http.MethodDelete, wsPath(ws, "/accounts/", url.PathEscape(phone)), nil, nil)
}

// CreateChat imports a chat into ws (owner token).
func (c *Client) CreateChat(ctx context.Context, ws string, in api.CreateChat) (*api.Chat, error) {
	var out api.Chat
	err := c.call(ctx, http.MethodPost, wsPath(ws, "/chats"), &in, &out)
	return ptr(&out, err)
}

// ListQuery selects a page of a list answer; zero fields are left out, so
// the server's defaults apply.
type ListQuery struct {
	Name   string // chats: only this exact name
	Status string // messages: queued, sending, sent or failed
	Limit  int
	Cursor string // the NextCursor of the page before
}

func (q ListQuery) encode() string {
	v := url.Values{}
	if q.Name != "" {
		v.Set("name", q.Name)
	}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// ListChats lists the chats of ws; q.Name, q.Limit and q.Cursor apply.
func (c *Client) ListChats(ctx context.Context, ws string, q ListQuery) (*api.ChatList, error) {
	var out api.ChatList
	err := c.call(ctx, http.MethodGet, wsPath(ws, "/chats", q.encode()), nil, &out)
	return ptr(&out, err)
}

// Message reads message id of ws.
func (c *Client) Message(ctx context.Context, ws, id string) (*api.Message, error) {
	var out api.Message
	err := c.call(ctx, http.MethodGet, wsPath(ws, "/messages/", url.PathEscape(id)), nil, &out)
	return ptr(&out, err)
}

// ListMessages lists the messages of ws, newest first; q.Status, q.Limit
// and q.Cursor apply.
func (c *Client) ListMessages(ctx context.Context, ws string, q ListQuery) (*api.MessageList, error) {
	var out api.MessageList
	err := c.call(ctx, http.MethodGet, wsPath(ws, "/messages", q.encode()), nil, &out)
	return ptr(&out, err)
}

// CancelMessage cancels a queued message of ws and refunds it (owner
// token); a message being sent or final is a 409.
func (c *Client) CancelMessage(ctx context.Context, ws, id string) (*api.Message, error) {
	var out api.Message
	err := c.call(ctx, http.MethodDelete, wsPath(ws, "/messages/", url.PathEscape(id)), nil, &out)
	return ptr(&out, err)
}

// CreateToken makes a workspace token with role "owner" or "support"
// (owner token). The answer holds the token, shown only here.
func (c *Client) CreateToken(ctx context.Context, ws, role, name string) (*api.TokenCreated, error) {
	var out api.TokenCreated
	err := c.call(ctx, http.MethodPost, wsPath(ws, "/tokens"), &api.CreateToken{Role: role, Name: name}, &out)
	return ptr(&out, err)
}

// ListTokens lists the tokens of ws (owner token), never their secrets.
func (c *Client) ListTokens(ctx context.Context, ws string) ([]api.Token, error) {
	var out api.TokenList
	err := c.call(ctx, http.MethodGet, wsPath(ws, "/tokens"), nil, &out)
	return out.Tokens, err
}

// RevokeToken revokes token id of ws (owner token): it and its console
// sessions stop working at once. The last owner token is a 409.
func (c *Client) RevokeToken(ctx context.Context, ws, id string) error {
	return c.call(ctx, http.MethodDelete, wsPath(ws, "/tokens/", url.PathEscape(id)), nil, nil)
}

// ptr returns out, or nil with err.
func ptr[T any](out *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}
