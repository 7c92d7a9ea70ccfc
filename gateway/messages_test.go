package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// messageBody is the parts of the message object these tests read.
type messageBody struct {
	ID         string  `json:"id"`
	Status     string  `json:"status"`
	Error      string  `json:"error"`
	NextTryAt  *string `json:"next_try_at"`
	WaitingFor *string `json:"waiting_for"`
}

func sendTo(t *testing.T, e *env, ws workspace, phone, text string) string {
	t.Helper()
	return accepted(t, e.send(ws.Inbound, fmt.Sprintf(`{"action":"send","phone":%q,"text":%q}`, phone, text)))
}

func TestMessageShowsWaitingForAndNextTryAt(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme", 10)
	e.account(ws, "+15105566777")
	first := sendTo(t, e, ws, "+14155552671", "first")
	other := sendTo(t, e, ws, "+4915112345678", "another recipient")
	behind := sendTo(t, e, ws, "+14155552671", "behind first")
	ctx := context.Background()
	if err := e.db.MarkSending(ctx, first, t0); err != nil {
		t.Fatal(err)
	}
	due := t0.Add(40 * time.Minute)
	if err := e.db.Retry(ctx, first, wagate.Try{At: t0, Class: wagate.TryClassTransient, Error: "cloud: 503"}, due); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/workspaces/" + ws.ID + "/messages/"
	get := func(id string) messageBody {
		var m messageBody
		mustDecode(t, e.do(http.MethodGet, base+id, ws.Owner, ""), http.StatusOK, &m)
		return m
	}
	if m := get(behind); m.WaitingFor == nil || *m.WaitingFor != first || m.NextTryAt != nil {
		t.Errorf("message behind the retry: waiting_for %v, next_try_at %v; want %s and null", m.WaitingFor, m.NextTryAt, first)
	}
	if m := get(first); m.NextTryAt == nil || *m.NextTryAt != due.Format(time.RFC3339) || m.WaitingFor == nil || *m.WaitingFor != "" {
		t.Errorf("retrying message: next_try_at %v, waiting_for %v; want %s and \"\"", m.NextTryAt, m.WaitingFor, due.Format(time.RFC3339))
	}
	if m := get(other); m.WaitingFor == nil || *m.WaitingFor != "" {
		t.Errorf("message to another recipient: waiting_for %v, want \"\"", m.WaitingFor)
	}
	var list struct {
		Messages []messageBody `json:"messages"`
	}
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/messages?status=queued", ws.Owner, ""), http.StatusOK, &list)
	if len(list.Messages) != 3 || list.Messages[0].ID != behind || *list.Messages[0].WaitingFor != first {
		t.Errorf("queued list = %+v, want %s first, waiting for %s", list.Messages, behind, first)
	}
}

func TestCancelMessage(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme", 10)
	e.account(ws, "+15105566777")
	queued := sendTo(t, e, ws, "+14155552671", "queued")
	sending := sendTo(t, e, ws, "+14155552671", "sending")
	ctx := context.Background()
	if err := e.db.MarkSending(ctx, sending, t0); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/workspaces/" + ws.ID + "/messages/"

	// Support reads, it does not act.
	var support struct {
		Token string `json:"token"`
	}
	mustDecode(t, e.do(http.MethodPost, "/api/v1/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"role":"support"}`), http.StatusCreated, &support)
	wantError(t, e.do(http.MethodDelete, base+queued, support.Token, ""), http.StatusForbidden, wagate.EFORBIDDEN)

	var m messageBody
	mustDecode(t, e.do(http.MethodDelete, base+queued, ws.Owner, ""), http.StatusOK, &m)
	if m.ID != queued || m.Status != "failed" || m.Error != "cancelled" {
		t.Fatalf("cancelled message = %+v, want failed with error cancelled", m)
	}
	if got := e.balance(ws); got != 9 {
		t.Errorf("balance after the cancel = %d, want 9 (the cancelled credit came back)", got)
	}
	wantError(t, e.do(http.MethodDelete, base+queued, ws.Owner, ""), http.StatusConflict, wagate.ECONFLICT, "already failed", "refunded")
	wantError(t, e.do(http.MethodDelete, base+sending, ws.Owner, ""), http.StatusConflict, wagate.ECONFLICT, "being sent right now")
	wantError(t, e.do(http.MethodDelete, base+"wa_backend:00000000000000000000", ws.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND, "not found in this workspace")
	other := e.workspace("Other", 1)
	wantError(t, e.do(http.MethodDelete, "/api/v1/workspaces/"+other.ID+"/messages/"+sending, other.Owner, ""), http.StatusNotFound, wagate.ENOTFOUND)
	if err := e.db.MarkSent(ctx, sending, wagate.Try{At: t0}); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.do(http.MethodDelete, base+sending, ws.Owner, ""), http.StatusConflict, wagate.ECONFLICT, "already sent")
	if got := e.balance(ws); got != 9 {
		t.Errorf("balance = %d, want 9: nothing else refunded", got)
	}
	// Credits add up (wagate check).
	problems, err := e.db.Audit(ctx)
	if err != nil || len(problems) != 0 {
		t.Fatalf("audit after a cancel: %v %v", problems, err)
	}
}

// walk follows next_cursor from the first page and returns every id seen.
func walk(t *testing.T, e *env, token, path, field string) (ids []string, pages int) {
	t.Helper()
	cursor := ""
	for {
		p := path
		if cursor != "" {
			p += "&cursor=" + cursor
		}
		var body map[string]json.RawMessage
		mustDecode(t, e.do(http.MethodGet, p, token, ""), http.StatusOK, &body)
		var items []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body[field], &items); err != nil {
			t.Fatalf("%s: %v", field, err)
		}
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		pages++
		raw, ok := body["next_cursor"]
		if !ok {
			return ids, pages
		}
		if err := json.Unmarshal(raw, &cursor); err != nil || cursor == "" {
			t.Fatalf("next_cursor = %s", raw)
		}
		if pages > 100 {
			t.Fatal("the cursors do not end")
		}
	}
}

func TestListCursors(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme", 100)
	e.account(ws, "+15105566777")
	var msgs []string
	for i := range 7 {
		msgs = append(msgs, sendTo(t, e, ws, "+14155552671", fmt.Sprint("m", i)))
	}
	slices.Reverse(msgs) // newest first
	base := "/api/v1/workspaces/" + ws.ID
	if got, pages := walk(t, e, ws.Owner, base+"/messages?limit=3", "messages"); !slices.Equal(got, msgs) || pages != 3 {
		t.Errorf("messages walked %v in %d pages, want %v in 3", got, pages, msgs)
	}
	if got, pages := walk(t, e, ws.Owner, base+"/messages?status=queued&limit=7", "messages"); !slices.Equal(got, msgs) || pages != 1 {
		t.Errorf("one full page: %v in %d pages, want no next_cursor", got, pages)
	}

	// The sends above made one chat; four more named Team.
	for i := range 4 {
		e.chat(ws, "+15105566777", fmt.Sprintf("+1415555%04d", 2672+i), "Team")
	}
	var all []string
	var list struct {
		Chats []struct {
			ID string `json:"id"`
		} `json:"chats"`
	}
	mustDecode(t, e.do(http.MethodGet, base+"/chats?limit=1000", ws.Owner, ""), http.StatusOK, &list)
	for _, c := range list.Chats {
		all = append(all, c.ID)
	}
	if got, _ := walk(t, e, ws.Owner, base+"/chats?limit=2", "chats"); !slices.Equal(got, all) || len(got) != 5 {
		t.Errorf("chats walked %v, want %v", got, all)
	}
	if got, pages := walk(t, e, ws.Owner, base+"/chats?name=Team&limit=3", "chats"); !slices.Equal(got, all[1:]) || pages != 2 {
		t.Errorf("chats named Team walked %v in %d pages, want %v in 2", got, pages, all[1:])
	}

	for _, path := range []string{base + "/messages?cursor=%21%21", base + "/chats?cursor=AAAA"} {
		wantError(t, e.do(http.MethodGet, path, ws.Owner, ""), http.StatusBadRequest, wagate.EINVALID, "cursor", "next_cursor")
	}
}
