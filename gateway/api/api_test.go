package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wagate/wagate/gateway/api"
)

// TestWireBytes pins the JSON of each object: SPEC §4's names in their
// order, every listed field present (null times, "" strings, [] lists as
// the gateway fills them), and the fields of one state only left out when
// empty, so that adding them did not change any answer.
func TestWireBytes(t *testing.T) {
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"workspace created", api.WorkspaceCreated{Workspace: api.Workspace{ID: "ws_1", Accounts: []api.Account{}, CreatedAt: &at}, OwnerToken: "o"},
			`{"id":"ws_1","name":"","credits":0,"granted":0,"low_credits":0,"webhook":{"url":"","enabled":false,"created_at":null},"accounts":[],"created_at":"2026-12-04T09:00:00Z","owner_token":"o"}`},
		{"message", api.Message{ID: "m", Tries: []api.Try{}},
			`{"id":"m","status":"","account_phone":"","chat_id":"","jid":"","text":"","file_url":"","file_name":"","credits":0,"error":"","tries":[],"created_at":null,"sent_at":null,"next_try_at":null,"delivery":"","delivery_at":null,"waiting_for":"","waiting_reason":"","send_at":null}`},
		{"message waiting", api.Message{ID: "m", WaitingFor: "wa_backend:0123456789ABCDEF0123"},
			`{"id":"m","status":"","account_phone":"","chat_id":"","jid":"","text":"","file_url":"","file_name":"","credits":0,"error":"","tries":null,"created_at":null,"sent_at":null,"next_try_at":null,"delivery":"","delivery_at":null,"waiting_for":"wa_backend:0123456789ABCDEF0123","waiting_reason":"","send_at":null}`},
		{"attempt", api.Attempt{HTTPStatus: 200, Warnings: []string{}},
			`{"at":null,"request_id":"","remote_addr":"","content_type":"","body":"","http_status":200,"message":"","message_id":"","credits":0,"send_status":"","send_error":"","warnings":[]}`},
		{"attempt warned", api.Attempt{HTTPStatus: 200, Warnings: []string{"w"}},
			`{"at":null,"request_id":"","remote_addr":"","content_type":"","body":"","http_status":200,"message":"","message_id":"","credits":0,"send_status":"","send_error":"","warnings":["w"]}`},
		{"chat list", api.ChatList{Chats: []api.Chat{}}, `{"chats":[]}`},
		{"message list, more", api.MessageList{Messages: []api.Message{}, NextCursor: "c"}, `{"messages":[],"next_cursor":"c"}`},
		{"token created", api.TokenCreated{ID: "tok_1", Token: "t", Role: "support", Name: "n", Prefix: "tpre", WorkspaceID: "ws_1", CreatedAt: &at},
			`{"id":"tok_1","token":"t","role":"support","name":"n","prefix":"tpre","workspace_id":"ws_1","created_at":"` + at.Format(time.RFC3339Nano) + `"}`},
		{"token", api.Token{ID: "tok_1", Role: "owner", Prefix: "abcd", CreatedAt: &at},
			`{"id":"tok_1","role":"owner","name":"","prefix":"abcd","created_at":"2026-12-04T09:00:00Z","last_used_at":null}`},
		{"error", api.ErrorEnvelope{Status: 404, Message: "Webhook not found", Error: "not_found"},
			`{"status":404,"data":{},"message":"Webhook not found","error":"not_found"}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, b, tc.want)
		}
	}
}
