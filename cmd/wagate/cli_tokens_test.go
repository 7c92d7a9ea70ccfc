package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The token list and revoke routes are built on another branch; until the
// branches meet, these tests run the commands against a fake server that
// answers with SPEC §4's shapes and records what it was asked.

// tokenServer is a fake admin API of workspace ws_1 with two tokens, tok_1
// its only owner token.
type tokenServer struct {
	mu    sync.Mutex
	calls []string // "METHOD path"
}

func (f *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.EscapedPath())
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	answer := func(status int, body string) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	if r.Header.Get("Authorization") != "Bearer owner-token" {
		answer(http.StatusUnauthorized, `{"status":401,"data":{},"message":"unknown admin token","error":"unauthorized"}`)
		return
	}
	switch r.Method + " " + r.URL.EscapedPath() {
	case "GET /api/v1/workspaces/ws_1/tokens":
		answer(http.StatusOK, `{"tokens":[`+
			`{"id":"tok_1","role":"owner","name":"","prefix":"hkUc","created_at":"2026-12-01T10:00:00Z","last_used_at":"2026-12-04T09:00:00Z"},`+
			`{"id":"tok_2","role":"support","name":"help\tdesk","prefix":"Xy12","created_at":"2026-12-02T10:00:00Z","last_used_at":null}]}`)
	case "DELETE /api/v1/workspaces/ws_1/tokens/tok_2":
		w.WriteHeader(http.StatusNoContent)
	case "DELETE /api/v1/workspaces/ws_1/tokens/tok_1":
		answer(http.StatusConflict, `{"status":409,"data":{},"message":"tok_1 is the last owner token of this workspace; create another owner token before revoking it","error":"conflict"}`)
	case "DELETE /api/v1/workspaces/ws_1/tokens/tok_9":
		answer(http.StatusNotFound, `{"status":404,"data":{},"message":"token tok_9 not found in this workspace","error":"not_found"}`)
	default:
		answer(http.StatusNotFound, `{"status":404,"data":{},"message":"no such endpoint","error":"not_found"}`)
	}
}

func (f *tokenServer) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func newTokenServer(t *testing.T) (*tokenServer, map[string]string) {
	f := &tokenServer{}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, map[string]string{"WAGATE_SERVER": ts.URL, "WAGATE_TOKEN": "owner-token", "WAGATE_WORKSPACE": "ws_1"}
}

func TestCLITokenList(t *testing.T) {
	_, env := newTokenServer(t)
	out := ok(t, env, "token", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("token list: %d lines, want a header and 2 tokens:\n%s", len(lines), out)
	}
	for i, want := range [][]string{
		{"ID", "ROLE", "NAME", "PREFIX", "CREATED", "LAST USED"},
		{"tok_1", "owner", "-", "hkUc…", "2026-12-01 10:00:00Z", "2026-12-04 09:00:00Z"},
		{"tok_2", "support", "help desk", "Xy12…", "2026-12-02 10:00:00Z", "never"},
	} {
		for _, cell := range want {
			if !strings.Contains(lines[i], cell) {
				t.Errorf("token list line %d lacks %q: %q", i, cell, lines[i])
			}
		}
	}

	var list struct {
		Tokens []struct {
			ID         string  `json:"id"`
			Prefix     string  `json:"prefix"`
			LastUsedAt *string `json:"last_used_at"`
		} `json:"tokens"`
	}
	okJSON(t, env, &list, "token", "list")
	if len(list.Tokens) != 2 || list.Tokens[0].ID != "tok_1" || list.Tokens[1].Prefix != "Xy12" || list.Tokens[1].LastUsedAt != nil {
		t.Errorf("token list --json = %+v", list)
	}

	env["WAGATE_TOKEN"] = "wrong"
	mustFail(t, wagateCLI(t, env, "token", "list"), exitRefused, "HTTP 401", "hint: check --token")
}

func TestCLITokenRevoke(t *testing.T) {
	f, env := newTokenServer(t)

	// Like webhook regenerate, revoking cuts someone off at once: it asks
	// for --yes, and without it sends nothing.
	mustFail(t, wagateCLI(t, env, "token", "revoke", "tok_2"), exitUsage, "--yes", "tok_2")
	mustFail(t, wagateCLI(t, env, "token", "revoke", "--yes"), exitUsage, "missing ID")
	if calls := f.called(); len(calls) != 0 {
		t.Fatalf("a wrong command line sent %v", calls)
	}

	if out := ok(t, env, "token", "revoke", "tok_2", "--yes"); !strings.Contains(out, "Revoked token tok_2") {
		t.Errorf("token revoke: %q", out)
	}
	if calls := f.called(); len(calls) != 1 || calls[0] != "DELETE /api/v1/workspaces/ws_1/tokens/tok_2" {
		t.Errorf("token revoke sent %v", calls)
	}
	stdout := ok(t, env, "token", "revoke", "tok_2", "--yes", "--json")
	var done struct {
		ID      string `json:"id"`
		Revoked bool   `json:"revoked"`
	}
	if err := json.Unmarshal([]byte(stdout), &done); err != nil || done.ID != "tok_2" || !done.Revoked {
		t.Errorf("token revoke --json = %q (%v)", stdout, err)
	}

	mustFail(t, wagateCLI(t, env, "token", "revoke", "tok_1", "--yes"), exitRefused, "HTTP 409", "last owner token")
	mustFail(t, wagateCLI(t, env, "token", "revoke", "tok_9", "--yes"), exitRefused, "HTTP 404", "tok_9 not found")
}

// TestCLITokenCreateName: --name goes to the server; without it the body
// is what servers without token names accept.
func TestCLITokenCreateName(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"tok_3","token":"secret-token-value","role":"support","name":"help desk","workspace_id":"ws_1"}`)
	}))
	defer ts.Close()
	env := map[string]string{"WAGATE_SERVER": ts.URL, "WAGATE_TOKEN": "owner-token", "WAGATE_WORKSPACE": "ws_1"}
	out := ok(t, env, "token", "create", "--role", "support", "--name", "help desk")
	for _, want := range []string{"secret-token-value", "shown only now", "wagate token revoke tok_3 --yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("token create output lacks %q:\n%s", want, out)
		}
	}
	ok(t, env, "token", "create", "--role", "owner")
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || bodies[0] != `{"role":"support","name":"help desk"}` || bodies[1] != `{"role":"owner"}` {
		t.Errorf("token create sent %q", bodies)
	}
}
