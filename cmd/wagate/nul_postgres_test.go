package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// On PostgreSQL, whose text columns cannot hold a NUL character: a NUL in
// an inbound text or an admin field is the gateway's 400 naming the field
// (not a storage fault), and a request body with a raw NUL and bytes that
// are not UTF-8 still leaves its attempt record, with U+FFFD in their
// place.
func TestPostgresNULIsA400AndTheAttemptIsKept(t *testing.T) {
	url := newPGDatabase(t)
	cfg := testConfig(t.TempDir(), 10*time.Millisecond, 0)
	cfg.DatabaseURL, cfg.Replica = url, "r1"
	in, logs := startPG(t, cfg)
	op := operatorToken(t, cfg.DataDir)
	ws := createWorkspace(t, in, op, 5)

	st, ans := call(t, "POST", in.base+path(ws.inboundURL), "", map[string]any{"action": "send", "phone": "+14155552671", "text": "a\x00b"})
	if st != http.StatusBadRequest || ans["error"] != "invalid" || !strings.Contains(str(ans["message"]), `field "text" contains a NUL character`) {
		t.Errorf("inbound text with a NUL = %d %v, want 400 invalid naming text", st, ans)
	}
	st, ans = call(t, "POST", in.base+"/api/v1/workspaces", op, map[string]any{"name": "a\x00", "credits": 1})
	if st != http.StatusBadRequest || ans["error"] != "invalid" || !strings.Contains(str(ans["message"]), `field "name" contains a NUL character`) {
		t.Errorf("workspace name with a NUL = %d %v, want 400 invalid naming name", st, ans)
	}
	resp, err := http.Post(in.base+path(ws.inboundURL), "application/json", strings.NewReader("\x00\xffnot json"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a raw NUL body = %d, want 400", resp.StatusCode)
	}
	st, ans = call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/webhook/attempts", ws.ownerToken, nil)
	list, _ := ans["attempts"].([]any)
	if st != http.StatusOK || len(list) != 2 {
		t.Fatalf("attempts = %d %v, want both calls recorded", st, ans)
	}
	if a, _ := list[0].(map[string]any); str(a["body"]) != "\uFFFD\uFFFDnot json" {
		t.Errorf("the raw call's attempt body = %q, want U+FFFD for the NUL and the bad byte", str(a["body"]))
	}
	if strings.Contains(logs.String(), `"level":"error"`) {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}
