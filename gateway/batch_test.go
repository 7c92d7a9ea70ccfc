package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

type batchAnswer struct {
	Status string `json:"status"`
	Data   struct {
		Results []struct {
			Index     int    `json:"index"`
			Status    int    `json:"status"`
			MessageID string `json:"message_id"`
			Message   string `json:"message"`
		} `json:"results"`
	} `json:"data"`
}

func (e *env) batch(token, body string, headers ...string) *batchAnswer {
	e.t.Helper()
	var out batchAnswer
	rec := e.do(http.MethodPost, "/inbound/"+token+"/batch", "", body, headers...)
	mustDecode(e.t, rec, http.StatusOK, &out)
	return &out
}

// TestBatchMixed: each item is checked and charged as if alone, in order:
// a bad item is a 400 result naming the field, credits run out item by
// item (402 for the item that no longer fits, while a cheaper one after it
// still goes), each item has its own attempt record.
func TestBatchMixed(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 4)
	e.account(ws, "+14155550100")
	body := `{"messages":[
		{"action":"send","phone":"+14155552671","text":"one"},
		{"action":"send","phone":"+14151231234","text":"bad number"},
		{"action":"send","phone":"+14155552671","text":"two credits","file_url":"https://example.com/a.png","file_name":"a.png"},
		{"action":"send","phone":"+14155552671","text":"no longer fits","file_url":"https://example.com/b.png","file_name":"b.png"},
		{"action":"send","phone":"+14155552672","text":"the last credit"}
	]}`
	got := e.batch(ws.Inbound, body)
	wantStatus := []int{200, 400, 200, 402, 200}
	if got.Status != "success" || len(got.Data.Results) != len(wantStatus) {
		t.Fatalf("answer = %+v", got)
	}
	for i, r := range got.Data.Results {
		if r.Index != i || r.Status != wantStatus[i] {
			t.Errorf("result %d = %+v, want status %d", i, r, wantStatus[i])
		}
		if (r.Status == 200) != (r.MessageID != "") {
			t.Errorf("result %d: status %d with message_id %q", i, r.Status, r.MessageID)
		}
	}
	if msg := got.Data.Results[1].Message; !strings.Contains(msg, "phone") {
		t.Errorf("bad number's message %q does not name the field", msg)
	}
	if msg := got.Data.Results[3].Message; !strings.Contains(msg, "2") || !strings.Contains(msg, "1") {
		t.Errorf("402 message %q should say how many credits are needed and left", msg)
	}
	if b := e.balance(ws); b != 0 {
		t.Errorf("balance %d, want 0", b)
	}
	if n := len(e.messages(ws)); n != 3 {
		t.Errorf("%d messages stored, want 3", n)
	}
	atts, err := e.db.ListAttempts(t.Context(), ws.ID, 100)
	if err != nil || len(atts) != 5 {
		t.Fatalf("attempts = %d, %v; want one per item", len(atts), err)
	}
	// Newest first: item 4 … item 0.
	if atts[0].MessageID != got.Data.Results[4].MessageID || atts[1].Code != wagate.ECREDITS || atts[3].Code != wagate.EINVALID || atts[4].Credits != 1 {
		t.Errorf("attempts = %+v", atts)
	}
	if !strings.Contains(atts[3].Body, "+14151231234") {
		t.Errorf("the refused item's attempt keeps its body: %q", atts[3].Body)
	}
}

// TestBatchReplay: one Idempotency-Key covers the whole batch: the same
// body gives the first results again and charges nothing; another body
// is a 422.
func TestBatchReplay(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	e.account(ws, "+14155550100")
	body := `{"messages":[{"action":"send","phone":"+14155552671","text":"a"},{"action":"send","phone":"+1415","text":"b"}]}`
	first := e.batch(ws.Inbound, body, "Idempotency-Key", "campaign-1")
	rec := e.do(http.MethodPost, "/inbound/"+ws.Inbound+"/batch", "", body, "Idempotency-Key", "campaign-1")
	var again batchAnswer
	mustDecode(t, rec, http.StatusOK, &again)
	if rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay without Idempotent-Replayed")
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Errorf("replay = %s, want the first answer %s", b, a)
	}
	if got := e.balance(ws); got != 9 {
		t.Errorf("balance %d after a replay, want 9", got)
	}
	// The replay is a call of its own: one attempt, for the whole body,
	// after the first batch's one per item.
	atts, err := e.db.ListAttempts(t.Context(), ws.ID, 100)
	if err != nil || len(atts) != 3 {
		t.Fatalf("attempts = %d, %v; want 2 items and the replay", len(atts), err)
	}
	if r := atts[0]; r.Code != "" || r.MessageID != "" || r.Credits != 0 || !strings.Contains(r.Body, `"messages"`) {
		t.Errorf("the replay's attempt = %+v, want a success of the whole body charging nothing", r)
	}
	wantError(t, e.do(http.MethodPost, "/inbound/"+ws.Inbound+"/batch", "", strings.Replace(body, `"a"`, `"c"`, 1), "Idempotency-Key", "campaign-1"),
		http.StatusUnprocessableEntity, wagate.EIDEMPOTENCY, "campaign-1", "different body")
	// A key of a single request is not a batch's.
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"single"}`, "Idempotency-Key", "single-1"))
	wantError(t, e.do(http.MethodPost, "/inbound/"+ws.Inbound+"/batch", "", body, "Idempotency-Key", "single-1"),
		http.StatusUnprocessableEntity, wagate.EIDEMPOTENCY, "Idempotency-Key", `"single-1"`, "for a single request", "new key")
}

// TestBatchKeyAtSingleURL: a batch's Idempotency-Key sent with the same
// body to the single inbound URL is a 422 naming the key, that it was used
// for a batch, and the fix, never a 404 or 500 from the batch's record;
// the attempt log records the refusal and nothing is charged.
func TestBatchKeyAtSingleURL(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	e.account(ws, "+14155550100")
	body := `{"messages":[{"action":"send","phone":"+14155552671","text":"a"}]}`
	e.batch(ws.Inbound, body, "Idempotency-Key", "campaign-1")
	wantError(t, e.send(ws.Inbound, body, "Idempotency-Key", "campaign-1"),
		http.StatusUnprocessableEntity, wagate.EIDEMPOTENCY, "Idempotency-Key", `"campaign-1"`, "for a batch", "batch URL", "new key")
	// Another body is refused the same way: the key is a batch's.
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"single"}`, "Idempotency-Key", "campaign-1"),
		http.StatusUnprocessableEntity, wagate.EIDEMPOTENCY, `"campaign-1"`, "for a batch")
	if b := e.balance(ws); b != 9 {
		t.Errorf("balance %d, want 9: the batch's item only", b)
	}
	atts, err := e.db.ListAttempts(t.Context(), ws.ID, 100)
	if err != nil || len(atts) != 3 {
		t.Fatalf("attempts = %d, %v; want the batch's item and two refusals", len(atts), err)
	}
	for _, r := range atts[:2] {
		if r.Code != wagate.EIDEMPOTENCY || r.MessageID != "" || r.Credits != 0 || !strings.Contains(r.Message, "for a batch") {
			t.Errorf("a refused single request's attempt = %+v, want the EIDEMPOTENCY refusal charging nothing", r)
		}
	}
}

// TestBatchShape: a body that is not a batch is refused whole, naming
// messages and the fix.
func TestBatchShape(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	e.account(ws, "+14155550100")
	wantError(t, e.do(http.MethodPost, "/inbound/"+ws.Inbound+"/batch", "", `{}`), http.StatusBadRequest, wagate.EINVALID, `"messages"`, `{"messages":[`)
	wantError(t, e.do(http.MethodPost, "/inbound/"+ws.Inbound+"/batch", "", `[1,2]`), http.StatusBadRequest, wagate.EINVALID, `"messages"`)
	many := `{"messages":[` + strings.TrimSuffix(strings.Repeat(`{"action":"send","phone":"+14155552671","text":"x"},`, wagate.MaxBatch+1), ",") + `]}`
	wantError(t, e.do(http.MethodPost, "/inbound/"+ws.Inbound+"/batch", "", many), http.StatusBadRequest, wagate.EINVALID, "1001", "limit is 1000")
	wantError(t, e.do(http.MethodPost, "/inbound/"+strings.Repeat("A", 43)+"/batch", "", `{"messages":[]}`), http.StatusNotFound, wagate.ENOTFOUND)
	if b := e.balance(ws); b != 10 {
		t.Errorf("balance %d after refused batches, want 10", b)
	}
}
