package client_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wagate/wagate/gateway/api"
	"github.com/wagate/wagate/gateway/client"
)

// TestAdminWalkThrough drives every admin route of the real gateway
// through the client, as an operator, an owner and a support person.
func TestAdminWalkThrough(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	op := client.New(srv.url+"/", srv.operator) // a trailing slash is fine

	created, err := op.CreateWorkspace(ctx, "acme", 100)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.ID, "ws_") || created.Name != "acme" || created.Credits != 100 || created.OwnerToken == "" ||
		!strings.HasPrefix(created.Webhook.URL, srv.url+"/inbound/") || !created.Webhook.Enabled || created.CreatedAt == nil {
		t.Fatalf("CreateWorkspace = %+v", created)
	}
	ws := created.ID
	list, err := op.ListWorkspaces(ctx)
	if err != nil || len(list) != 1 || list[0].ID != ws {
		t.Fatalf("ListWorkspaces = %+v, %v", list, err)
	}
	after, err := op.AddCredits(ctx, ws, -30)
	if err != nil || after.Credits != 70 || after.Granted != 70 {
		t.Fatalf("AddCredits(-30) = %+v, %v; want 70 credits", after, err)
	}

	owner := client.New(srv.url, created.OwnerToken)
	acct, err := owner.CreateAccount(ctx, ws, api.CreateAccount{Phone: "+15105566777"})
	if err != nil || acct.Phone != "+15105566777" || acct.Transport != "dryrun" || !acct.Active || acct.ConnectedAt == nil {
		t.Fatalf("CreateAccount = %+v, %v", acct, err)
	}
	if acct, err = owner.SetAccountActive(ctx, ws, "+15105566777", false); err != nil || acct.Active {
		t.Fatalf("SetAccountActive(false) = %+v, %v", acct, err)
	}
	if acct, err = owner.SetAccountActive(ctx, ws, "+15105566777", true); err != nil || !acct.Active {
		t.Fatalf("SetAccountActive(true) = %+v, %v", acct, err)
	}
	accounts, err := owner.ListAccounts(ctx, ws)
	if err != nil || len(accounts) != 1 || accounts[0].Phone != "+15105566777" {
		t.Fatalf("ListAccounts = %+v, %v", accounts, err)
	}

	chat, err := owner.CreateChat(ctx, ws, api.CreateChat{AccountPhone: "+15105566777", Phone: "+14155552671", Name: "Jane Roe"})
	if err != nil || chat.ID != "1" || chat.JID != "14155552671@s.whatsapp.net" || chat.Group {
		t.Fatalf("CreateChat = %+v, %v", chat, err)
	}
	chats, err := owner.ListChats(ctx, ws, client.ListQuery{Name: "Jane Roe"})
	if err != nil || len(chats.Chats) != 1 || chats.Chats[0].Name != "Jane Roe" || chats.NextCursor != "" {
		t.Fatalf("ListChats(name) = %+v, %v", chats, err)
	}
	if chats, err = owner.ListChats(ctx, ws, client.ListQuery{Name: "nobody"}); err != nil || len(chats.Chats) != 0 {
		t.Fatalf("ListChats(nobody) = %+v, %v", chats, err)
	}

	wh, err := owner.SetWebhookEnabled(ctx, ws, false)
	if err != nil || wh.Enabled || wh.URL != created.Webhook.URL {
		t.Fatalf("SetWebhookEnabled(false) = %+v, %v", wh, err)
	}
	if wh, err = owner.SetWebhookEnabled(ctx, ws, true); err != nil || !wh.Enabled {
		t.Fatalf("SetWebhookEnabled(true) = %+v, %v", wh, err)
	}
	send(t, wh.URL, `{"action":"send","chat_id":"1","text":"hi"}`, http.StatusOK)
	send(t, wh.URL, `{"action":"send","phone":"+14151231234","text":"x"}`, http.StatusBadRequest)

	msgs, err := owner.ListMessages(ctx, ws, client.ListQuery{Status: "queued", Limit: 10})
	if err != nil || len(msgs.Messages) != 1 || msgs.Messages[0].Text != "hi" || msgs.Messages[0].ChatID != "1" || msgs.Messages[0].Status != "queued" {
		t.Fatalf("ListMessages(queued) = %+v, %v", msgs, err)
	}
	m, err := owner.Message(ctx, ws, msgs.Messages[0].ID)
	if err != nil || m.ID != msgs.Messages[0].ID || m.Credits != 1 || m.Tries == nil {
		t.Fatalf("Message = %+v, %v", m, err)
	}

	attempts, err := owner.ListAttempts(ctx, ws, 1)
	if err != nil || len(attempts) != 1 || attempts[0].HTTPStatus != http.StatusBadRequest || !strings.Contains(attempts[0].Message, "phone") {
		t.Fatalf("ListAttempts(1) = %+v, %v; want the newest, the 400", attempts, err)
	}
	if attempts, err = owner.ListAttempts(ctx, ws, 0); err != nil || len(attempts) != 2 || attempts[1].MessageID != m.ID {
		t.Fatalf("ListAttempts(0) = %+v, %v", attempts, err)
	}
	d, err := owner.DownloadAttempts(ctx, ws, "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(d.Body)).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][5] != "200" || rows[2][5] != "400" {
		t.Errorf("DownloadAttempts(csv) rows = %v, %v; want a header, the 200, the 400", rows, err)
	}
	if !strings.HasPrefix(d.Name, "wagate-attempts-"+ws+"-") || !strings.HasSuffix(d.Name, ".csv") || !strings.HasPrefix(d.ContentType, "text/csv") {
		t.Errorf("DownloadAttempts(csv) name %q, type %q", d.Name, d.ContentType)
	}
	if d, err = owner.DownloadAttempts(ctx, ws, ""); err != nil || strings.Count(string(d.Body), "\n") != 2 || !strings.HasSuffix(d.Name, ".jsonl") {
		t.Errorf("DownloadAttempts(\"\") = %q, %v; want 2 JSONL lines", d.Body, err)
	}

	tok, err := owner.CreateToken(ctx, ws, "support", "help desk")
	if err != nil || tok.Role != "support" || tok.WorkspaceID != ws || len(tok.Token) != 43 || tok.Name != "help desk" || tok.ID == "" {
		t.Fatalf("CreateToken = %+v, %v", tok, err)
	}
	support := client.New(srv.url, tok.Token)
	got, err := support.Workspace(ctx, ws)
	if err != nil || got.ID != ws || got.Credits != 69 || len(got.Accounts) != 1 {
		t.Fatalf("support Workspace = %+v, %v; want 69 credits after one message", got, err)
	}
	if strings.Contains(got.Webhook.URL, strings.TrimPrefix(wh.URL, srv.url+"/inbound/")) {
		t.Errorf("support sees the whole inbound URL %q", got.Webhook.URL)
	}
	tokens, err := owner.ListTokens(ctx, ws)
	if err != nil || len(tokens) != 2 || tokens[1].ID != tok.ID || tokens[1].Name != "help desk" || tokens[1].LastUsedAt == nil {
		t.Fatalf("ListTokens = %+v, %v; want the owner's and the used support token", tokens, err)
	}
	_, err = support.CancelMessage(ctx, ws, m.ID)
	wantError(t, err, http.StatusForbidden, "forbidden", "")
	_, err = support.RegenerateWebhook(ctx, ws)
	wantError(t, err, http.StatusForbidden, "forbidden", "")

	nw, err := owner.RegenerateWebhook(ctx, ws)
	if err != nil || nw.URL == wh.URL || !strings.HasPrefix(nw.URL, srv.url+"/inbound/") {
		t.Fatalf("RegenerateWebhook = %+v, %v", nw, err)
	}
	send(t, wh.URL, `{"action":"send","chat_id":"1","text":"hi"}`, http.StatusNotFound)

	// A second message, cancelled while queued: failed, refunded; a second
	// cancel is a 409.
	send(t, nw.URL, `{"action":"send","chat_id":"1","text":"never mind"}`, http.StatusOK)
	queued, err := owner.ListMessages(ctx, ws, client.ListQuery{Status: "queued", Limit: 1})
	if err != nil || len(queued.Messages) != 1 || queued.Messages[0].Text != "never mind" {
		t.Fatalf("ListMessages(queued) = %+v, %v", queued, err)
	}
	cancelled, err := owner.CancelMessage(ctx, ws, queued.Messages[0].ID)
	if err != nil || cancelled.Status != "failed" || cancelled.Error != "cancelled" {
		t.Fatalf("CancelMessage = %+v, %v; want failed, cancelled", cancelled, err)
	}
	_, err = owner.CancelMessage(ctx, ws, cancelled.ID)
	wantError(t, err, http.StatusConflict, "conflict", "")

	if err := owner.RevokeToken(ctx, ws, tok.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	_, err = support.Workspace(ctx, ws)
	wantError(t, err, http.StatusUnauthorized, "unauthorized", "")
	err = owner.RevokeToken(ctx, ws, tokens[0].ID)
	wantError(t, err, http.StatusConflict, "conflict", "owner token")

	if err := owner.DeleteAccount(ctx, ws, "+15105566777"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if m, err = owner.Message(ctx, ws, m.ID); err != nil || m.Status != "failed" {
		t.Errorf("the deleted account's message = %+v, %v; want failed", m, err)
	}
	if got, err = op.Workspace(ctx, ws); err != nil || got.Credits != 70 || len(got.Accounts) != 0 {
		t.Errorf("after DeleteAccount: %+v, %v; want 70 credits (refunded), no account", got, err)
	}
}

// TestErrors checks that a refusal is an *Error with the status, the
// machine code and the server's message, and that no answer is a
// *ConnError; neither carries the token.
func TestErrors(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	op := client.New(srv.url, srv.operator)
	ws, err := op.CreateWorkspace(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	owner := client.New(srv.url, ws.OwnerToken)

	_, err = client.New(srv.url, "not-the-token").ListWorkspaces(ctx)
	wantError(t, err, http.StatusUnauthorized, "unauthorized", "token")
	if strings.Contains(err.Error(), "not-the-token") {
		t.Errorf("the error shows the token: %v", err)
	}
	_, err = op.Workspace(ctx, "ws_0000000000000000")
	wantError(t, err, http.StatusNotFound, "not_found", "workspace")
	_, err = owner.CreateAccount(ctx, ws.ID, api.CreateAccount{Phone: "+14151231234"})
	wantError(t, err, http.StatusBadRequest, "invalid", "phone")
	_, err = owner.SetAccountActive(ctx, ws.ID, "+14155552671", false)
	wantError(t, err, http.StatusNotFound, "not_found", "+14155552671")
	_, err = owner.DownloadAttempts(ctx, ws.ID, "xml")
	wantError(t, err, http.StatusBadRequest, "invalid", "format=csv")
	_, err = owner.ListWorkspaces(ctx)
	wantError(t, err, http.StatusForbidden, "forbidden", "operator")
	var ce *client.Error
	if errors.As(err, &ce) {
		var env api.ErrorEnvelope
		if json.Unmarshal(ce.Body, &env) != nil || env.Status != http.StatusForbidden || env.Error != "forbidden" {
			t.Errorf("Error.Body = %q; want the server's envelope", ce.Body)
		}
		if ce.RequestID == "" {
			t.Error("Error.RequestID is empty")
		}
	}

	// A server that is not wagate: the message says so.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err = client.New(proxy.URL, "x").ListWorkspaces(ctx)
	wantError(t, err, http.StatusBadGateway, "", "not wagate's JSON")
	// A 200 that is not the JSON expected is an error too, not a zero value.
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }))
	defer html.Close()
	if _, err := client.New(html.URL, "x").Workspace(ctx, "ws_1"); err == nil || !strings.Contains(err.Error(), "not the JSON expected") {
		t.Errorf("a non-JSON 200: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = client.New("http://"+addr, "secret-token").ListWorkspaces(ctx)
	var conn *client.ConnError
	if !errors.As(err, &conn) || conn.URL != "http://"+addr || !strings.Contains(err.Error(), "cannot reach wagate at http://"+addr) {
		t.Errorf("no server: %T %v; want a *client.ConnError naming the address", err, err)
	}
	if err != nil && strings.Contains(err.Error(), "secret-token") {
		t.Errorf("the error shows the token: %v", err)
	}
}

// wantError checks that err is a *client.Error with status and code whose
// message contains msgHas.
func wantError(t *testing.T, err error, status int, code, msgHas string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %T %v; want a *client.Error with %d %s", err, err, status, code)
	}
	if ce.Status != status || ce.Code != code || !strings.Contains(ce.Message, msgHas) || ce.Error() != ce.Message {
		t.Errorf("error = %d %q %q; want %d %q and a message with %q", ce.Status, ce.Code, ce.Message, status, code, msgHas)
	}
}

// send calls an inbound URL and checks the status.
func send(t *testing.T, url, body string, want int) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("inbound %s: %d, want %d", body, resp.StatusCode, want)
	}
}
