// Package console is wagate's web console at /ui/: workspace owners switch
// and regenerate their inbound URL, support staff read and download the
// attempt log, from a browser instead of curl.
//
// Pages are rendered on the server with html/template; the stylesheet and
// the little script (copy to clipboard, expanding a row) are embedded in the
// binary, so there is no CDN and no build step. The console reads and writes
// through the same services as the admin API (gateway.Services) and applies
// the same rules: a workspace token signs in to its own workspace, the
// operator token to any; owners (and the operator) may switch and
// regenerate, support tokens only read, and a write from a support session
// is refused with 403 whatever the form says.
//
// A sign-in keeps only the token's hash in a server-side session, stored
// through wagate.SessionService under the hash of its id (so sessions
// survive a restart and work across replicas); the browser holds a random
// 256-bit session id in an HttpOnly, SameSite=Strict cookie. A token has at
// most wagate.SessionsPerToken sessions (its next sign-in ends its oldest,
// never another token's), and revoking the token ends them all in the same
// commit. Sign-ins are limited per address (gateway.SignInLimit). Every
// form carries the session's CSRF token, and a POST whose Origin or Referer
// names another host is refused.
//
// Owners (and the operator) also get a Tokens page: the workspace's tokens
// by name, role and prefix, a form that makes one and shows it once, and a
// confirmed revoke.
package console
