package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway/api"
)

// Workspace tokens (SPEC §4): owners create, list and revoke them; the
// token itself is shown once, in the create answer, and never again.
//
// last_used_at is null until the token is first used, then the time of
// its last admin API request or console sign-in, to within
// wagate.TokenUseResolution (a minute): recording every use would cost a
// durable write per admin request.

// DefaultMaxTokens is how many tokens a workspace may have (--max-tokens).
const DefaultMaxTokens = 100

// firstOwnerName names the owner token a workspace is created with.
const firstOwnerName = "first owner"

// renderToken is a token in a list: never the token nor its hash.
func renderToken(t *wagate.Token) api.Token {
	return api.Token{
		ID:         t.ID,
		Role:       string(t.Role),
		Name:       t.Name,
		Prefix:     t.Prefix,
		CreatedAt:  timeJSON(t.CreatedAt),
		LastUsedAt: timeJSON(t.LastUsedAt),
	}
}

// CreateToken makes a new owner or support token of the workspace, stores
// its hash (within the --max-tokens limit, counted in the same commit) and
// returns it with the token, which is shown this once. The admin API and
// the console both create tokens through it.
func (s *Server) CreateToken(ctx context.Context, workspaceID string, role wagate.Role, name string) (*wagate.Token, string, error) {
	if role != wagate.RoleOwner && role != wagate.RoleSupport {
		return nil, "", wagate.Errorf(wagate.EINVALID, `field "role" must be "owner" or "support"`)
	}
	name, err := tokenName(name)
	if err != nil {
		return nil, "", err
	}
	raw, err := wagate.NewToken(s.rand)
	if err != nil {
		return nil, "", err
	}
	t := &wagate.Token{
		Hash:        wagate.HashToken(raw),
		WorkspaceID: workspaceID,
		Role:        role,
		Name:        name,
		Prefix:      raw[:wagate.TokenPrefixLen],
		CreatedAt:   s.now().UTC(),
	}
	if err := s.svc.Tokens.CreateWorkspaceToken(ctx, t, s.cfg.MaxTokens); err != nil {
		if errors.Is(err, wagate.ErrTokenLimit) {
			return nil, "", wagate.Errorf(wagate.ECONFLICT, "this workspace already has %d tokens, the most this server allows (--max-tokens); revoke one it no longer needs first, or ask the operator to raise --max-tokens", s.cfg.MaxTokens)
		}
		return nil, "", err
	}
	return t, raw, nil
}

// RevokeToken deletes a workspace token and its console sessions: both
// stop working at once. The last owner token stays (ECONFLICT).
func (s *Server) RevokeToken(ctx context.Context, workspaceID, id string) error {
	err := s.svc.Tokens.RevokeToken(ctx, workspaceID, id)
	switch {
	case wagate.ErrorCode(err) == wagate.ENOTFOUND:
		return wagate.Errorf(wagate.ENOTFOUND, "token %q not found in this workspace; list the tokens to see their ids", cut(id, 40))
	case errors.Is(err, wagate.ErrLastOwnerToken):
		return wagate.Errorf(wagate.ECONFLICT, "token %s is the last owner token of this workspace and cannot be revoked; create another owner token first, then revoke this one", cut(id, 40))
	}
	return err
}

// tokenName checks a token's name: optional, one line, at most
// wagate.MaxTokenName characters.
func tokenName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name):
		return "", wagate.Errorf(wagate.EINVALID, `field "name" is not valid UTF-8`)
	case utf8.RuneCountInString(name) > wagate.MaxTokenName:
		return "", wagate.Errorf(wagate.EINVALID, `field "name" is longer than %d characters; give the token a short label such as "zapier"`, wagate.MaxTokenName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", wagate.Errorf(wagate.EINVALID, `field "name" contains a control character (a line break or tab); use one line of text`)
	}
	return name, nil
}

// recordUse notes that tok authenticated a request at now, when its
// LastUsedAt is a minute or more behind (so at most one write per token a
// minute). A failure is logged and the request goes on: the time of last
// use is for people, not for access decisions.
func (s *Server) recordUse(ctx context.Context, tok *wagate.Token) {
	now := s.now().UTC()
	if !tok.ShouldRecordUse(now) {
		return
	}
	if err := s.svc.Tokens.RecordTokenUse(ctx, tok.Hash, now); err != nil {
		s.log.Warn("recording a token's last use failed", zap.String("token_id", tok.ID), zap.Error(err))
	}
}

// RecordTokenUse is recordUse for the console's sign-in.
func (s *Server) RecordTokenUse(ctx context.Context, tok *wagate.Token) { s.recordUse(ctx, tok) }

// POST /api/v1/workspaces/:ws/tokens (owner).
func (s *Server) createToken(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	var in struct {
		Role string `json:"role"`
		Name string `json:"name"`
	}
	if err := bindJSON(c, &in, "role", "name"); err != nil {
		return err
	}
	t, raw, err := s.CreateToken(c.Request().Context(), id, wagate.Role(in.Role), in.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, &api.TokenCreated{
		ID:          t.ID,
		Token:       raw,
		Role:        string(t.Role),
		Name:        t.Name,
		Prefix:      t.Prefix,
		WorkspaceID: id,
		CreatedAt:   timeJSON(t.CreatedAt),
	})
}

// GET /api/v1/workspaces/:ws/tokens (owner).
func (s *Server) listTokens(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	list, err := s.svc.Tokens.ListTokens(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &api.TokenList{Tokens: renderAll(list, renderToken)})
}

// DELETE /api/v1/workspaces/:ws/tokens/:id (owner).
func (s *Server) revokeToken(c echo.Context) error {
	id, err := s.workspaceFor(c, write)
	if err != nil {
		return err
	}
	if err := s.RevokeToken(c.Request().Context(), id, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
