package gateway

import (
	"context"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate"
)

// Who may do what with a workspace is wagate.Authorize, the one rule the
// admin API and the web console share; creating workspaces and adding
// credits also need the operator token (requireOperator).

// authenticate reads "Authorization: Bearer <token>" and looks the token up
// by its hash. A missing or unknown token is a 401; which token it was is
// never logged nor echoed. Too many of them from one address make its
// further wrong tokens 429 for a while (abuse.go); a right token is always
// served, since every user behind one reverse proxy shares an address and
// ten wrong tokens must not lock out the operator and the owners.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, ok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="wagate"`)
			return s.wrongToken(c, wagate.Errorf(wagate.EUNAUTHORIZED, "missing admin token; send the header Authorization: Bearer <token>"))
		}
		tok, err := s.svc.Tokens.FindToken(c.Request().Context(), wagate.HashToken(raw))
		if err != nil {
			if wagate.ErrorCode(err) == wagate.ENOTFOUND {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="wagate", error="invalid_token"`)
				return s.wrongToken(c, wagate.Errorf(wagate.EUNAUTHORIZED, "unknown admin token; check the token (workspace tokens are shown once, when created)"))
			}
			return err
		}
		c.Set(ctxToken, tok)
		s.recordUse(c.Request().Context(), tok)
		return next(c)
	}
}

// bearer extracts the token of a Bearer Authorization header; the scheme is
// case-insensitive (RFC 9110).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func token(c echo.Context) *wagate.Token {
	t, _ := c.Get(ctxToken).(*wagate.Token)
	return t
}

// requireOperator allows only the operator token.
func requireOperator(c echo.Context) error {
	if t := token(c); t == nil || t.Role != wagate.RoleOperator {
		return wagate.Errorf(wagate.EFORBIDDEN, "this needs the operator token")
	}
	return nil
}

// The accesses of wagate.Authorize, short for the handlers.
const (
	read  = wagate.AccessRead
	write = wagate.AccessWrite
)

// workspaceFor checks that the request's token may act on the workspace of
// the :ws path parameter, and returns its id. For the operator it also
// checks that the workspace exists (a workspace token's one always does), so
// a typo in the id is a 404 rather than an odd error further on; for other
// tokens a foreign id is a 403 whether or not it exists, so tokens cannot
// probe for workspace ids.
func (s *Server) workspaceFor(c echo.Context, want wagate.Access) (string, error) {
	id := c.Param("ws")
	t := token(c)
	if t == nil {
		return "", wagate.Errorf(wagate.EUNAUTHORIZED, "missing admin token")
	}
	if err := wagate.Authorize(t.Role, t.WorkspaceID, id, want); err != nil {
		return "", err
	}
	if t.Role == wagate.RoleOperator {
		if _, err := s.findWorkspace(c.Request().Context(), id); err != nil {
			return "", err
		}
	}
	c.Set(ctxWorkspace, id)
	return id, nil
}

// findWorkspace reads a workspace with a 404 that names the id.
func (s *Server) findWorkspace(ctx context.Context, id string) (*wagate.Workspace, error) {
	ws, err := s.svc.Workspaces.FindWorkspace(ctx, id)
	if err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return nil, wagate.Errorf(wagate.ENOTFOUND, "workspace %q not found", cut(id, 40))
		}
		return nil, err
	}
	return ws, nil
}
