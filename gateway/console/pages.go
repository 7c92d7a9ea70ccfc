package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// Bounds of what one page shows.
const (
	// recentAttempts is how many attempts the overview shows.
	recentAttempts = 5
	// messageListLimit is how many messages the messages page lists.
	messageListLimit = 100
	// chatListLimit is how many chats the accounts page lists.
	chatListLimit = 1000
)

// flashes are the notices a page shows after a form, by the ?done= value of
// the redirect. Only these fixed texts are ever shown: nothing from the URL
// reaches the page.
var flashes = map[string]string{
	"enabled":          "The inbound URL is on: calls are accepted again.",
	"disabled":         "The inbound URL is off: every call now gets 403 “Webhook is disabled”. The URL stays the same; switch it on to accept calls again.",
	"regenerated":      "A new inbound URL was made. The old URL now answers 404 “Webhook not found”: paste the new one into every system that calls it.",
	"signedout":        "You are signed out.",
	"revoked":          "The token is revoked: it no longer works, and the browsers signed in with it are signed out.",
	"cancelled":        "The message was cancelled: it will not be sent, and its credits were given back.",
	"saved":            "The endpoint is saved.",
	"endpoint-on":      "The endpoint is on: its waiting deliveries go out now, in order.",
	"endpoint-off":     "The endpoint is off: new events wait for it, none is dropped; switch it on to deliver them.",
	"endpoint-deleted": "The endpoint and its deliveries are deleted.",
	"delivery-retried": "The delivery is queued again.",
	"rules-saved":      "The rules are saved. They apply from now on: messages held by the old rules are checked again at once.",
}

// current returns the live session of the request and its id; ok is false
// when there is none, it expired, or its token was revoked (which deletes
// its sessions). err is a storage failure.
func (c *Console) current(r *http.Request) (sess session, id string, ok bool, err error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, "", false, nil
	}
	sess, ok, err = c.findSession(r.Context(), ck.Value)
	return sess, ck.Value, ok, err
}

// landing is where a session starts: the operator picks a workspace, a
// workspace token opens its own.
func landing(s session) string {
	if s.role == wagate.RoleOperator {
		return "/ui/workspaces"
	}
	return workspacePath(s.workspace)
}

// safeNext keeps the sign-in's ?next= on console pages of this server, so
// the sign-in page cannot be used to send a browser elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, "/ui/signin") {
		return ""
	}
	return next
}

// GET /ui/
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	s, _, ok, err := c.current(r)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if ok {
		http.Redirect(w, r, landing(s), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

type signinPage struct {
	FormToken string
	Next      string
	Error     string
}

// GET /ui/signin
func (c *Console) signinForm(w http.ResponseWriter, r *http.Request) {
	s, _, ok, err := c.current(r)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if ok {
		http.Redirect(w, r, landing(s), http.StatusSeeOther)
		return
	}
	v := c.view(nil, "Sign in", "")
	v.Flash = flashes[r.URL.Query().Get("done")]
	c.renderSignin(w, r, http.StatusOK, v, safeNext(r.URL.Query().Get("next")), "")
}

// renderSignin shows the sign-in form with a fresh form token.
func (c *Console) renderSignin(w http.ResponseWriter, r *http.Request, status int, v *view, next, problem string) {
	tok, err := wagate.NewToken(c.rand)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, c.cookie(signinCookie, tok, signinFormTTL))
	v.Data = signinPage{FormToken: tok, Next: next, Error: problem}
	c.render(w, status, "signin", v)
}

// POST /ui/signin
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, formBodyLimit)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, nil, wagate.Errorf(wagate.EINVALID, "the form could not be read; reload the page and try again"))
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	v := c.view(nil, "Sign in", "")
	ck, err := r.Cookie(signinCookie)
	if err != nil || !c.sameOrigin(r) || !equalSecret(r.PostForm.Get(csrfField), ck.Value) {
		c.renderSignin(w, r, http.StatusForbidden, v, next, "This sign-in form is out of date or did not come from this console. Paste your token again.")
		return
	}
	raw := strings.TrimSpace(r.PostForm.Get("token"))
	if raw == "" {
		c.renderSignin(w, r, http.StatusBadRequest, v, next, "Paste your access token into the box, then press Sign in.")
		return
	}
	hash := wagate.HashToken(raw)
	tok, err := c.svc.Tokens.FindToken(r.Context(), hash)
	if err != nil {
		if wagate.ErrorCode(err) != wagate.ENOTFOUND {
			c.fail(w, r, nil, err)
			return
		}
		// Only a wrong token meets the limit: a right one signs in from a
		// limited address too (everyone behind one proxy shares it).
		if retry, blocked := c.gw.SignInBlocked(r); blocked {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			c.renderSignin(w, r, http.StatusTooManyRequests, v, next, fmt.Sprintf("Too many wrong tokens were tried from your address. Wait %d seconds, then paste your token again.", retry))
			return
		}
		c.gw.SignInFailed(r)
		c.log.Info("console sign-in refused: unknown token")
		c.renderSignin(w, r, http.StatusUnauthorized, v, next, "This token is not known here. Check that you copied all of it; workspace tokens are shown only once, when they are made, so ask an owner for a new one if yours is lost.")
		return
	}
	// Right tokens have their own, separate count: each sign-in writes a
	// session, and wrong tokens never use up a right token's sign-ins.
	if retry, limited := c.gw.SignInRateLimited(r); limited {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		c.renderSignin(w, r, http.StatusTooManyRequests, v, next, fmt.Sprintf("Too many sign-ins from your address (at most %d a minute). Wait %d seconds, then sign in again.", gateway.SignInLimit, retry))
		return
	}
	c.gw.SignInAttempted(r)
	switch tok.Role {
	case wagate.RoleOperator, wagate.RoleOwner, wagate.RoleSupport:
	default:
		c.renderSignin(w, r, http.StatusForbidden, v, next, "This token's role cannot use the console.")
		return
	}
	id, err := c.createSession(r.Context(), tok)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.gw.RecordTokenUse(r.Context(), tok)
	// A stale session cookie of this browser is replaced, never reused
	// (no session fixation).
	if old, err := r.Cookie(sessionCookie); err == nil {
		if err := c.endSession(r.Context(), old.Value); err != nil {
			c.log.Warn("console sign-in: the browser's previous session could not be ended", zap.Error(err))
		}
	}
	http.SetCookie(w, c.cookie(sessionCookie, id, c.ttl))
	http.SetCookie(w, c.cookie(signinCookie, "", -1))
	c.log.Info("console sign-in", zap.String("workspace", tok.WorkspaceID), zap.String("role", string(tok.Role)))
	s := session{workspace: tok.WorkspaceID, role: tok.Role}
	if next == "" {
		next = landing(s)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// POST /ui/signout
func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	sess, id, ok, err := c.current(r)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if ok {
		q := &request{sess: sess}
		if !c.checkForm(w, r, q) {
			return
		}
		if err := c.endSession(r.Context(), id); err != nil {
			c.fail(w, r, q, err)
			return
		}
		c.log.Info("console sign-out", zap.String("workspace", sess.workspace), zap.String("role", string(sess.role)))
	}
	http.SetCookie(w, c.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/ui/signin?done=signedout", http.StatusSeeOther)
}

// GET /ui/workspaces (operator)
func (c *Console) picker(w http.ResponseWriter, r *http.Request, q *request) {
	if q.sess.role != wagate.RoleOperator {
		http.Redirect(w, r, landing(q.sess), http.StatusSeeOther)
		return
	}
	list, err := c.svc.Workspaces.ListWorkspaces(r.Context())
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	v := c.view(q, "Workspaces", "")
	v.Data = list
	c.render(w, http.StatusOK, "picker", v)
}

// accountRow is an account with its queue depth and why they wait.
type accountRow struct {
	*wagate.Account
	Queued  string
	Waiting []waitingCount // by reason; empty when all wait for their turn only
}

type overviewPage struct {
	URL        string
	Accounts   []accountRow
	QueueTotal string
	// WaitingCut: the reasons are counted among the oldest queued
	// messages only (wagate.WaitingReporter).
	WaitingCut bool
	Recent     []attemptRow
}

// GET /ui/w/{ws}/
func (c *Console) overview(w http.ResponseWriter, r *http.Request, q *request) {
	ctx := r.Context()
	accounts, total, cut, err := c.queueDepth(r, q.ws)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	list, err := c.svc.Attempts.ListAttempts(ctx, q.ws.ID, recentAttempts)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	v := c.view(q, "Overview", "overview")
	v.Flash = flashes[r.URL.Query().Get("done")]
	v.Data = overviewPage{
		URL:        c.gw.InboundURLFor(q.ws.Webhook.Token, q.sess.role),
		Accounts:   accounts,
		QueueTotal: total,
		WaitingCut: cut,
		Recent:     attemptRows(list),
	}
	c.render(w, http.StatusOK, "overview", v)
}

// queueDepth counts the queued messages of each account of ws from the
// store's queue entries, and, when the store can tell, how many wait for
// which reason (cut: counted among the oldest only).
func (c *Console) queueDepth(r *http.Request, ws *wagate.Workspace) (rows []accountRow, total string, cut bool, err error) {
	depths, err := c.svc.Accounts.QueueDepths(r.Context(), ws.ID)
	if err != nil {
		return nil, "", false, err
	}
	var waiting map[string]map[string]int
	if wr, ok := c.svc.Accounts.(wagate.WaitingReporter); ok {
		var complete bool
		if waiting, complete, err = wr.WaitingByAccount(r.Context(), ws.ID); err != nil {
			return nil, "", false, err
		}
		cut = !complete
	}
	sum := 0
	for _, a := range ws.Accounts {
		rows = append(rows, accountRow{Account: a, Queued: strconv.Itoa(depths[a.Phone]), Waiting: waitingCounts(waiting[a.Phone])})
		sum += depths[a.Phone]
	}
	return rows, strconv.Itoa(sum), cut, nil
}

// POST /ui/w/{ws}/webhook/enabled (owner)
func (c *Console) setEnabled(w http.ResponseWriter, r *http.Request, q *request) {
	var on bool
	switch r.PostForm.Get("enabled") {
	case "true":
		on = true
	case "false":
	default:
		c.fail(w, r, q, wagate.Errorf(wagate.EINVALID, "the switch sent neither on nor off; reload the page and try again"))
		return
	}
	if _, err := c.gw.SetWebhookEnabled(r.Context(), q.ws.ID, on); err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: inbound URL switched", zap.String("workspace", q.ws.ID), zap.Bool("enabled", on), zap.String("role", string(q.sess.role)))
	done := "disabled"
	if on {
		done = "enabled"
	}
	http.Redirect(w, r, workspacePath(q.ws.ID)+"?done="+done, http.StatusSeeOther)
}

// GET /ui/w/{ws}/webhook/regenerate (owner): the confirmation.
func (c *Console) regenerateForm(w http.ResponseWriter, r *http.Request, q *request) {
	v := c.view(q, "Regenerate the inbound URL", "overview")
	v.Data = c.gw.InboundURL(q.ws.Webhook.Token)
	c.render(w, http.StatusOK, "regenerate", v)
}

// POST /ui/w/{ws}/webhook/regenerate (owner). The same steps as the admin
// API's: a new 256-bit token, stored in one commit that retires the old.
func (c *Console) regenerate(w http.ResponseWriter, r *http.Request, q *request) {
	if _, err := c.gw.RegenerateWebhook(r.Context(), q.ws.ID); err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: inbound URL regenerated", zap.String("workspace", q.ws.ID), zap.String("role", string(q.sess.role)))
	http.Redirect(w, r, workspacePath(q.ws.ID)+"?done=regenerated", http.StatusSeeOther)
}

// attemptRow is an attempt as the tables show it.
type attemptRow struct {
	*wagate.Attempt
	N          int
	HTTPStatus int
	Recipient  string
	PrettyBody string
}

func attemptRows(list []*wagate.Attempt) []attemptRow {
	rows := make([]attemptRow, 0, len(list))
	for i, a := range list {
		rows = append(rows, attemptRow{
			Attempt:    a,
			N:          i,
			HTTPStatus: statusFor(a.Code),
			Recipient:  Recipient(a.Body),
			PrettyBody: prettyJSON(a.Body),
		})
	}
	return rows
}

// GET /ui/w/{ws}/attempts
func (c *Console) attempts(w http.ResponseWriter, r *http.Request, q *request) {
	list, err := c.svc.Attempts.ListAttempts(r.Context(), q.ws.ID, wagate.AttemptLimit)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	v := c.view(q, "Attempts", "attempts")
	v.Data = attemptRows(list)
	c.render(w, http.StatusOK, "attempts", v)
}

// GET /ui/w/{ws}/attempts/download?format=csv|jsonl: the admin API's file.
func (c *Console) download(w http.ResponseWriter, r *http.Request, q *request) {
	d, err := c.gw.DownloadAttempts(r.Context(), q.ws.ID, r.URL.Query().Get("format"))
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	w.Header().Set("Content-Type", d.ContentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", d.Name))
	w.Header().Set("Content-Length", strconv.Itoa(len(d.Body)))
	w.WriteHeader(http.StatusOK)
	w.Write(d.Body) //nolint:errcheck // the client went away; nothing to do
}

type accountsPage struct {
	Accounts []accountRow
	Chats    []*wagate.Chat
	ChatsCut bool
}

// GET /ui/w/{ws}/accounts
func (c *Console) accounts(w http.ResponseWriter, r *http.Request, q *request) {
	rows, _, _, err := c.queueDepth(r, q.ws)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	chats, err := c.svc.Chats.ListChats(r.Context(), q.ws.ID, "")
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	p := accountsPage{Accounts: rows, Chats: chats}
	if len(chats) > chatListLimit {
		p.Chats, p.ChatsCut = chats[:chatListLimit], true
	}
	v := c.view(q, "Accounts and chats", "accounts")
	v.Data = p
	c.render(w, http.StatusOK, "accounts", v)
}

type messagesPage struct {
	Status   string
	Statuses []wagate.MessageStatus
	Messages []*wagate.Message
}

// GET /ui/w/{ws}/messages?status=
func (c *Console) messages(w http.ResponseWriter, r *http.Request, q *request) {
	status := wagate.MessageStatus(r.URL.Query().Get("status"))
	if status != "" && !status.Valid() {
		c.fail(w, r, q, wagate.Errorf(wagate.EINVALID, "%q is not a message status; pick queued, sending, sent or failed", cut(string(status), 20)))
		return
	}
	list, err := c.svc.Messages.ListMessages(r.Context(), q.ws.ID, status, messageListLimit)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	v := c.view(q, "Messages", "messages")
	v.Data = messagesPage{
		Status:   string(status),
		Statuses: []wagate.MessageStatus{wagate.StatusQueued, wagate.StatusSending, wagate.StatusSent, wagate.StatusFailed},
		Messages: list,
	}
	c.render(w, http.StatusOK, "messages", v)
}

// GET /ui/w/{ws}/messages/{id}
func (c *Console) message(w http.ResponseWriter, r *http.Request, q *request) {
	id := r.PathValue("id")
	m, err := c.svc.Messages.FindMessage(r.Context(), q.ws.ID, id)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			err = wagate.Errorf(wagate.ENOTFOUND, "message %q not found in this workspace", cut(id, 40))
		}
		c.fail(w, r, q, err)
		return
	}
	v := c.view(q, "Message "+m.ID, "messages")
	v.Flash = flashes[r.URL.Query().Get("done")]
	v.Data = m
	c.render(w, http.StatusOK, "message", v)
}

// messagePath is the console page of a message.
func messagePath(workspaceID, id string) string {
	return workspacePath(workspaceID) + "messages/" + url.PathEscape(id)
}
