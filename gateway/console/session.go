package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
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

// maxSessions bounds the in-memory store. Only a valid token can make a
// session, so the bound is a safety net, not a defence: past it the session
// closest to expiry is dropped.
const maxSessions = 10_000

// session is one signed-in browser. It keeps the token's hash, never the
// token: the token is checked again on every request (FindToken), so a
// token that stops existing ends its sessions.
type session struct {
	tokenHash [32]byte
	workspace string // "" for the operator
	role      wagate.Role
	csrf      string
	expires   time.Time
}

// sessions is the server-side session store. Its keys are SHA-256 hashes of
// the session ids, so neither a map lookup's timing nor a memory dump gives
// a usable id away.
type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]*session
	ttl time.Duration
	max int // the bound, maxSessions
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{m: map[[32]byte]*session{}, ttl: ttl, max: maxSessions}
}

// create stores s under a new random 256-bit id and returns the id. It fills
// s.csrf and s.expires.
func (st *sessions) create(rand io.Reader, now time.Time, s session) (string, error) {
	id, err := wagate.NewToken(rand)
	if err != nil {
		return "", err
	}
	if s.csrf, err = wagate.NewToken(rand); err != nil {
		return "", err
	}
	s.expires = now.Add(st.ttl)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	if len(st.m) >= st.max {
		var oldest [32]byte
		var first time.Time
		for k, v := range st.m {
			if first.IsZero() || v.expires.Before(first) {
				oldest, first = k, v.expires
			}
		}
		delete(st.m, oldest)
	}
	st.m[sha256.Sum256([]byte(id))] = &s
	return id, nil
}

// get returns a copy of the live session with that id.
func (st *sessions) get(id string, now time.Time) (session, bool) {
	if id == "" {
		return session{}, false
	}
	key := sha256.Sum256([]byte(id))
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[key]
	if !ok {
		return session{}, false
	}
	if !now.Before(s.expires) {
		delete(st.m, key)
		return session{}, false
	}
	return *s, true
}

// remove ends the session with that id, if any.
func (st *sessions) remove(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, sha256.Sum256([]byte(id)))
}

// len is the number of stored sessions, expired ones included.
func (st *sessions) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.m)
}

// sweep drops expired sessions; the caller holds mu. It runs on each
// sign-in, which is often enough to bound the map without a goroutine.
func (st *sessions) sweep(now time.Time) {
	for k, v := range st.m {
		if !now.Before(v.expires) {
			delete(st.m, k)
		}
	}
}

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
