package gateway_test

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

type createdToken struct {
	ID          string `json:"id"`
	Token       string `json:"token"`
	Role        string `json:"role"`
	Name        string `json:"name"`
	Prefix      string `json:"prefix"`
	WorkspaceID string `json:"workspace_id"`
}

type listedToken struct {
	ID         string     `json:"id"`
	Role       string     `json:"role"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  *time.Time `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func (e *env) createToken(ws workspace, role, name string) createdToken {
	e.t.Helper()
	var out createdToken
	mustDecode(e.t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, fmt.Sprintf(`{"role":%q,"name":%q}`, role, name)), http.StatusCreated, &out)
	return out
}

func (e *env) listTokens(ws workspace, as string) map[string]listedToken {
	e.t.Helper()
	var out struct {
		Tokens []listedToken `json:"tokens"`
	}
	mustDecode(e.t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/tokens", as, ""), http.StatusOK, &out)
	m := map[string]listedToken{}
	for _, t := range out.Tokens {
		m[t.ID] = t
	}
	return m
}

func TestTokenListNeverShowsTheToken(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 0)
	support := e.createToken(ws, "support", "help desk")
	if support.ID == "" || support.Token == "" || support.Role != "support" || support.Name != "help desk" || support.WorkspaceID != ws.ID {
		t.Fatalf("create answer = %+v; want id, token, role, name and workspace_id", support)
	}
	if support.Prefix != support.Token[:wagate.TokenPrefixLen] {
		t.Errorf("prefix %q is not the token's first %d characters", support.Prefix, wagate.TokenPrefixLen)
	}

	rec := e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, "")
	mustStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	for _, secret := range []string{support.Token, ws.Owner} {
		h := wagate.HashToken(secret)
		if strings.Contains(body, secret) || strings.Contains(body, hex.EncodeToString(h[:])) || strings.Contains(body, hex.EncodeToString(h[:8])) {
			t.Fatalf("the token list shows a token or its hash: %s", body)
		}
	}
	if !strings.Contains(body, `"last_used_at":null`) {
		t.Errorf("a never-used token's last_used_at is not null: %s", body)
	}
	list := e.listTokens(ws, ws.Owner)
	if len(list) != 2 {
		t.Fatalf("%d tokens listed, want the first owner and the support token", len(list))
	}
	got := list[support.ID]
	if got.Role != "support" || got.Name != "help desk" || got.Prefix != support.Prefix || got.CreatedAt == nil || !got.CreatedAt.Equal(t0) {
		t.Errorf("listed support token = %+v", got)
	}
	for id, tok := range list {
		if id != support.ID && (tok.Role != "owner" || tok.Prefix != ws.Owner[:wagate.TokenPrefixLen] || tok.Name != "first owner") {
			t.Errorf("listed first owner token = %+v; want its prefix and the name \"first owner\"", tok)
		}
	}

	// Support reads the workspace, but not its tokens; nor does another
	// workspace's owner.
	wantError(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/tokens", support.Token, ""), http.StatusForbidden, wagate.EFORBIDDEN, "needs an owner token")
	other := e.workspace("other", 0)
	wantError(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/tokens", other.Owner, ""), http.StatusForbidden, wagate.EFORBIDDEN, "another workspace")
	if len(e.listTokens(ws, e.operator)) != 2 {
		t.Error("the operator does not see the workspace's tokens")
	}

	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"support","name":"`+strings.Repeat("n", wagate.MaxTokenName+1)+`"}`),
		http.StatusBadRequest, wagate.EINVALID, `field "name"`, "longer than 100")
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"support","name":"a\nb"}`),
		http.StatusBadRequest, wagate.EINVALID, `field "name"`, "one line")
}

func TestRevokedTokenStopsAtOnce(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 0)
	support := e.createToken(ws, "support", "desk")
	base := "/api/v1/workspaces/" + ws.ID
	mustStatus(t, e.do(http.MethodGet, base, support.Token, ""), http.StatusOK)

	wantError(t, e.do(http.MethodDelete, base+"/tokens/"+support.ID, support.Token, ""), http.StatusForbidden, wagate.EFORBIDDEN, "needs an owner token")
	rec := e.do(http.MethodDelete, base+"/tokens/"+support.ID, ws.Owner, "")
	mustStatus(t, rec, http.StatusNoContent)
	wantError(t, e.do(http.MethodGet, base, support.Token, ""), http.StatusUnauthorized, wagate.EUNAUTHORIZED, "unknown admin token")
	if _, ok := e.listTokens(ws, ws.Owner)[support.ID]; ok {
		t.Error("a revoked token is still listed")
	}
	wantError(t, e.do(http.MethodDelete, base+"/tokens/"+support.ID, ws.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND, support.ID, "list the tokens")

	// Another workspace's token id is unknown here, and its owner cannot
	// revoke here.
	other := e.workspace("other", 0)
	var otherOwner string
	for id := range e.listTokens(other, other.Owner) {
		otherOwner = id
	}
	wantError(t, e.do(http.MethodDelete, base+"/tokens/"+otherOwner, ws.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND, "not found in this workspace")
	wantError(t, e.do(http.MethodDelete, "/api/v1/workspaces/"+other.ID+"/tokens/"+otherOwner, ws.Owner, ""), http.StatusForbidden, wagate.EFORBIDDEN)
}

func TestLastOwnerTokenCannotBeRevoked(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 0)
	base := "/api/v1/workspaces/" + ws.ID
	var first string
	for id := range e.listTokens(ws, ws.Owner) {
		first = id
	}
	wantError(t, e.do(http.MethodDelete, base+"/tokens/"+first, ws.Owner, ""), http.StatusConflict, wagate.ECONFLICT, "last owner token", "create another owner token first")
	wantError(t, e.do(http.MethodDelete, base+"/tokens/"+first, e.operator, ""), http.StatusConflict, wagate.ECONFLICT, "create another owner token first")

	second := e.createToken(ws, "owner", "backup")
	mustStatus(t, e.do(http.MethodDelete, base+"/tokens/"+first, second.Token, ""), http.StatusNoContent)
	wantError(t, e.do(http.MethodGet, base, ws.Owner, ""), http.StatusUnauthorized, wagate.EUNAUTHORIZED)
	wantError(t, e.do(http.MethodDelete, base+"/tokens/"+second.ID, second.Token, ""), http.StatusConflict, wagate.ECONFLICT, "create another owner token first")
}

func TestTokenLimitNamesTheFlag(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 0) // its first owner token is one of the 100
	for i := 1; i < gateway.DefaultMaxTokens; i++ {
		mustStatus(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"support"}`), http.StatusCreated)
	}
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"support","name":"one too many"}`),
		http.StatusConflict, wagate.ECONFLICT, "100 tokens", "--max-tokens", "revoke one")
	if n := len(e.listTokens(ws, ws.Owner)); n != gateway.DefaultMaxTokens {
		t.Errorf("%d tokens after the refused create, want %d", n, gateway.DefaultMaxTokens)
	}
}

func TestTokenLimitFromConfig(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxTokens = 2 })
	ws := e.workspace("acme", 0)
	e.createToken(ws, "support", "")
	wantError(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"owner"}`), http.StatusConflict, wagate.ECONFLICT, "2 tokens", "--max-tokens")
}

func TestLastUsedAtMovesAfterUse(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 0)
	support := e.createToken(ws, "support", "")
	base := "/api/v1/workspaces/" + ws.ID
	lastUsed := func() *time.Time {
		t.Helper()
		return e.listTokens(ws, ws.Owner)[support.ID].LastUsedAt
	}
	if lu := lastUsed(); lu != nil {
		t.Fatalf("last_used_at = %v before any use, want null", lu)
	}
	e.clock.Advance(10 * time.Second)
	used := e.clock.Now()
	mustStatus(t, e.do(http.MethodGet, base, support.Token, ""), http.StatusOK)
	if lu := lastUsed(); lu == nil || !lu.Equal(used) {
		t.Fatalf("last_used_at = %v after a use at %v", lu, used)
	}
	// Within a minute of the recorded use, nothing is written.
	e.clock.Advance(wagate.TokenUseResolution - time.Second)
	mustStatus(t, e.do(http.MethodGet, base, support.Token, ""), http.StatusOK)
	if lu := lastUsed(); lu == nil || !lu.Equal(used) {
		t.Fatalf("last_used_at = %v after a use within a minute; want the recorded %v kept", lu, used)
	}
	e.clock.Advance(time.Second)
	mustStatus(t, e.do(http.MethodGet, base, support.Token, ""), http.StatusOK)
	if lu := lastUsed(); lu == nil || !lu.Equal(e.clock.Now()) {
		t.Fatalf("last_used_at = %v a minute later, want %v", lu, e.clock.Now())
	}
	// A wrong request with a right token is still a use; a wrong token is not.
	e.clock.Advance(time.Hour)
	wantError(t, e.do(http.MethodPost, base+"/webhook/regenerate", support.Token, ""), http.StatusForbidden, wagate.EFORBIDDEN)
	if lu := lastUsed(); lu == nil || !lu.Equal(e.clock.Now()) {
		t.Errorf("last_used_at = %v after a refused request, want %v", lu, e.clock.Now())
	}
}
