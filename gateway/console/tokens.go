package console

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// The tokens page (owners and the operator; support never sees it): the
// workspace's tokens without their secrets, a form that makes one and
// shows it once, and a confirmed revoke. It creates and revokes through
// the gateway, so the --max-tokens limit and the last-owner rule are the
// admin API's.

type tokensPage struct {
	Tokens  []*wagate.Token
	Created *wagate.Token // the token just made, shown once with Secret
	Secret  string
}

// GET /ui/w/{ws}/tokens (owner)
func (c *Console) tokens(w http.ResponseWriter, r *http.Request, q *request) {
	c.renderTokens(w, r, q, tokensPage{})
}

func (c *Console) renderTokens(w http.ResponseWriter, r *http.Request, q *request, p tokensPage) {
	list, err := c.svc.Tokens.ListTokens(r.Context(), q.ws.ID)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	p.Tokens = list
	v := c.view(q, "Tokens", "tokens")
	v.Flash = flashes[r.URL.Query().Get("done")]
	v.Data = p
	status := http.StatusOK
	if p.Created != nil {
		status = http.StatusCreated
	}
	c.render(w, status, "tokens", v)
}

// POST /ui/w/{ws}/tokens (owner). The answer is the page itself, with the
// new token, rather than a redirect: the token must never be in a URL, and
// the page is not cached (Cache-Control: no-store).
func (c *Console) createToken(w http.ResponseWriter, r *http.Request, q *request) {
	t, secret, err := c.gw.CreateToken(r.Context(), q.ws.ID, wagate.Role(r.PostForm.Get("role")), r.PostForm.Get("name"))
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: token created", zap.String("workspace", q.ws.ID), zap.String("token_id", t.ID), zap.String("token_role", string(t.Role)), zap.String("role", string(q.sess.role)))
	c.renderTokens(w, r, q, tokensPage{Created: t, Secret: secret})
}

// GET /ui/w/{ws}/tokens/{id}/revoke (owner): the confirmation.
func (c *Console) revokeForm(w http.ResponseWriter, r *http.Request, q *request) {
	id := r.PathValue("id")
	list, err := c.svc.Tokens.ListTokens(r.Context(), q.ws.ID)
	if err != nil {
		c.fail(w, r, q, err)
		return
	}
	for _, t := range list {
		if t.ID == id {
			v := c.view(q, "Revoke a token", "tokens")
			v.Data = t
			c.render(w, http.StatusOK, "revoke", v)
			return
		}
	}
	c.fail(w, r, q, wagate.Errorf(wagate.ENOTFOUND, "token %q not found in this workspace; it may have been revoked already", cut(id, 40)))
}

// POST /ui/w/{ws}/tokens/{id}/revoke (owner). Revoking the token this
// browser signed in with ends this session too: the next page asks to
// sign in.
func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, q *request) {
	id := r.PathValue("id")
	if err := c.gw.RevokeToken(r.Context(), q.ws.ID, id); err != nil {
		c.fail(w, r, q, err)
		return
	}
	c.log.Info("console: token revoked", zap.String("workspace", q.ws.ID), zap.String("token_id", id), zap.String("role", string(q.sess.role)))
	http.Redirect(w, r, workspacePath(q.ws.ID)+"tokens?done=revoked", http.StatusSeeOther)
}
