package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wagate/wagate"
)

// Cookie names. Both are HttpOnly, SameSite=Strict and scoped to /ui/.
const (
	sessionCookie = "wagate_session"
	// signinCookie holds the CSRF token of the sign-in form (a double
	// submit): there is no session yet to keep it in, and a forged sign-in
	// would put the victim in the attacker's workspace.
	signinCookie = "wagate_signin"
	cookiePath   = "/ui/"
	csrfField    = "csrf"
)

// signinFormTTL is how long a sign-in form stays valid.
const signinFormTTL = time.Hour

// session is one signed-in browser, as the handlers see it. It is stored
// through wagate.SessionService under the SHA-256 hash of its id, with the
// hash of its token, never the token: revoking the token deletes its
// sessions in the same commit, and a session whose token is gone is not
// found.
type session struct {
	tokenHash [32]byte
	workspace string // "" for the operator
	role      wagate.Role
	csrf      string
	expires   time.Time
}

// createSession signs tok in: a new random 256-bit session id and CSRF
// token, stored with the token's hash until the session TTL has passed.
// The store ends the token's oldest session beyond
// wagate.SessionsPerToken, never another token's.
func (c *Console) createSession(ctx context.Context, tok *wagate.Token) (string, error) {
	id, err := wagate.NewToken(c.rand)
	if err != nil {
		return "", err
	}
	csrf, err := wagate.NewToken(c.rand)
	if err != nil {
		return "", err
	}
	now := c.now()
	s := &wagate.Session{TokenHash: tok.Hash, WorkspaceID: tok.WorkspaceID, Role: tok.Role, CSRF: csrf, CreatedAt: now, ExpiresAt: now.Add(c.ttl)}
	if err := c.svc.Sessions.CreateSession(ctx, sessionKey(id), s); err != nil {
		return "", err
	}
	return id, nil
}

// findSession returns the live session with that id; ok is false when
// there is none (expired, signed out, or its token revoked).
func (c *Console) findSession(ctx context.Context, id string) (sess session, ok bool, err error) {
	if id == "" {
		return session{}, false, nil
	}
	s, err := c.svc.Sessions.FindSession(ctx, sessionKey(id), c.now())
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return session{}, false, nil
		}
		return session{}, false, err
	}
	return session{tokenHash: s.TokenHash, workspace: s.WorkspaceID, role: s.Role, csrf: s.CSRF, expires: s.ExpiresAt}, true, nil
}

// endSession deletes the session with that id, if any.
func (c *Console) endSession(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return c.svc.Sessions.DeleteSession(ctx, sessionKey(id))
}

// sessionKey is what a session is stored under: the SHA-256 hash of its
// id, so neither a lookup's timing nor a copy of the store gives a usable
// id away.
func sessionKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// equalSecret compares two secrets in constant time.
func equalSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// cookie builds one of the console's cookies; maxAge < 0 deletes it.
func (c *Console) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	ck := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     cookiePath,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   c.secure,
	}
	if maxAge < 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(maxAge / time.Second)
	}
	return ck
}

// sameOrigin reports whether a state-changing request comes from a page of
// this server: the Origin header, or when it is absent the Referer, must
// name this host (as the client reached it, or the public URL's). Browsers
// send Origin with every POST; a request with neither header is not from a
// browser page and is left to the CSRF token alone.
func (c *Console) sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
		if src == "" {
			return true
		}
	}
	if src == "null" {
		return false // a sandboxed or privacy-redirected page: never ours
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) || (c.publicHost != "" && strings.EqualFold(u.Host, c.publicHost))
}
