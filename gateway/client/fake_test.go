package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/wagate/wagate/gateway/client"
)

// The token list and revoke routes and message cancel are built on
// another branch; until they meet, these tests hold the client to SPEC
// §4's shapes with a fake server.

// fake answers one route: it checks the method, path and token, and
// answers status with body.
func fake(t *testing.T, method, path string, status int, body string) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method || r.URL.EscapedPath() != path || r.Header.Get("Authorization") != "Bearer owner-token" {
			t.Errorf("request %s %s (Authorization %q); want %s %s with the owner token", r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), method, path)
		}
		if b, _ := io.ReadAll(r.Body); len(b) != 0 {
			t.Errorf("request body %q; want none", b)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestListTokens(t *testing.T) {
	ts := fake(t, http.MethodGet, "/api/v1/workspaces/ws_1/tokens", http.StatusOK,
		`{"tokens":[{"id":"tok_1","role":"owner","name":"","prefix":"hkUc","created_at":"2026-12-01T10:00:00Z","last_used_at":"2026-12-04T09:00:00Z"},`+
			`{"id":"tok_2","role":"support","name":"help desk","prefix":"Xy12","created_at":"2026-12-02T10:00:00Z","last_used_at":null}]}`)
	list, err := client.New(ts.URL, "owner-token").ListTokens(context.Background(), "ws_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("ListTokens: %d tokens, want 2", len(list))
	}
	a, b := list[0], list[1]
	if a.ID != "tok_1" || a.Role != "owner" || a.Prefix != "hkUc" || a.CreatedAt == nil || a.LastUsedAt == nil || a.LastUsedAt.Hour() != 9 {
		t.Errorf("first token = %+v", a)
	}
	if b.ID != "tok_2" || b.Role != "support" || b.Name != "help desk" || b.LastUsedAt != nil {
		t.Errorf("second token = %+v; want last_used_at null read as nil", b)
	}
}

func TestRevokeToken(t *testing.T) {
	ts := fake(t, http.MethodDelete, "/api/v1/workspaces/ws_1/tokens/tok%2F2", http.StatusNoContent, "")
	// The id is one path segment even with a slash in it.
	if err := client.New(ts.URL, "owner-token").RevokeToken(context.Background(), "ws_1", "tok/2"); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	last := fake(t, http.MethodDelete, "/api/v1/workspaces/ws_1/tokens/tok_1", http.StatusConflict,
		`{"status":409,"data":{},"message":"tok_1 is the last owner token of this workspace; create another owner token first","error":"conflict"}`)
	err := client.New(last.URL, "owner-token").RevokeToken(context.Background(), "ws_1", "tok_1")
	wantError(t, err, http.StatusConflict, "conflict", "last owner token")
}

func TestCancelMessage(t *testing.T) {
	ts := fake(t, http.MethodDelete, "/api/v1/workspaces/ws_1/messages/wa_backend:0A0B", http.StatusOK,
		`{"id":"wa_backend:0A0B","status":"failed","error":"cancelled","credits":1,"tries":[],"created_at":"2026-12-04T09:00:00Z","sent_at":null,"next_try_at":null}`)
	m, err := client.New(ts.URL, "owner-token").CancelMessage(context.Background(), "ws_1", "wa_backend:0A0B")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "wa_backend:0A0B" || m.Status != "failed" || m.Error != "cancelled" || m.SentAt != nil {
		t.Errorf("CancelMessage = %+v", m)
	}
}

func TestListQuery(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got, want := r.URL.RawQuery, "cursor=c%2B1&limit=5&status=sent"; got != want {
			t.Errorf("query %q, want %q", got, want)
		}
		io.WriteString(w, `{"messages":[],"next_cursor":"c2"}`)
	}))
	defer ts.Close()
	l, err := client.New(ts.URL, "t").ListMessages(context.Background(), "ws_1", client.ListQuery{Status: "sent", Limit: 5, Cursor: "c+1"})
	if err != nil || l.NextCursor != "c2" || l.Messages == nil {
		t.Errorf("ListMessages = %+v, %v; want an empty page and next_cursor c2", l, err)
	}
}

// TestDownloadName: a server must not choose where a download is saved;
// the name it suggests is cut to a plain name.
func TestDownloadName(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{`attachment; filename="wagate-attempts-ws_1-20250314T150926Z.csv"`, "wagate-attempts-ws_1-20250314T150926Z.csv"},
		{`attachment; filename="../../etc/passwd"`, "passwd"},
		{`attachment; filename="/tmp/x.csv"`, "x.csv"},
		{`attachment; filename="..\\..\\x.csv"`, "x.csv"},
		{`attachment; filename=".."`, ""},
		{`attachment`, ""},
		{``, ""},
	} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.header != "" {
				w.Header().Set("Content-Disposition", tc.header)
			}
			io.WriteString(w, "x")
		}))
		d, err := client.New(ts.URL, "t").DownloadAttempts(context.Background(), "ws_1", "csv")
		ts.Close()
		if err != nil {
			t.Errorf("Content-Disposition %q: %v", tc.header, err)
		} else if d.Name != tc.want {
			t.Errorf("Content-Disposition %q: name %q, want %q", tc.header, d.Name, tc.want)
		}
	}
}

// TestDependencies keeps the client light: a program that manages
// workspaces needs neither the HTTP framework nor the store nor the
// gateway itself.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "github.com/wagate/wagate/store", dep == "github.com/wagate/wagate/gateway",
			strings.HasPrefix(dep, "go.etcd.io/bbolt"), strings.HasPrefix(dep, "github.com/labstack/echo"):
			t.Errorf("the client depends on %s", dep)
		}
	}
}
