package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

type attempt struct {
	At          string `json:"at"`
	RequestID   string `json:"request_id"`
	RemoteAddr  string `json:"remote_addr"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
	HTTPStatus  int    `json:"http_status"`
	Message     string `json:"message"`
	MessageID   string `json:"message_id"`
	Credits     int64  `json:"credits"`
	SendStatus  string `json:"send_status"`
	SendError   string `json:"send_error"`
}

// TestAttemptLog makes 105 calls, every third one a bad request, and reads
// the log back three ways.
func TestAttemptLog(t *testing.T) {
	e, ws := setup(t, 1000)
	const calls = 105
	for i := range calls {
		body := fmt.Sprintf(`{"action":"send","phone":"+14155552671","text":"call %d"}`, i)
		if i%3 == 2 {
			body = fmt.Sprintf(`{"action":"send","text":"call %d"}`, i) // no recipient
		}
		rec := e.send(ws.Inbound, body, "X-Request-ID", fmt.Sprintf("req-%d", i))
		if want := map[bool]int{true: 400, false: 200}[i%3 == 2]; rec.Code != want {
			t.Fatalf("call %d: status %d, want %d: %s", i, rec.Code, want, rec.Body)
		}
	}
	// An unknown token is recorded nowhere.
	mustStatus(t, e.send(strings.Repeat("B", 43), `{}`), http.StatusNotFound)

	checkRow := func(t *testing.T, a attempt, i int) {
		t.Helper()
		if a.RequestID != fmt.Sprintf("req-%d", i) || !strings.Contains(a.Body, fmt.Sprintf(`"call %d"`, i)) {
			t.Fatalf("row for call %d = %+v", i, a)
		}
		if a.At == "" || a.RemoteAddr != "192.0.2.1" || a.ContentType != "application/json" {
			t.Errorf("call %d: at %q, remote_addr %q, content_type %q", i, a.At, a.RemoteAddr, a.ContentType)
		}
		if i%3 == 2 {
			if a.HTTPStatus != 400 || !strings.Contains(a.Message, `missing field "phone"`) || a.MessageID != "" || a.Credits != 0 || a.SendStatus != "" {
				t.Errorf("call %d (bad) = %+v", i, a)
			}
		} else if a.HTTPStatus != 200 || a.Message != "" || !strings.HasPrefix(a.MessageID, "wa_backend:") || a.Credits != 1 || a.SendStatus != "queued" {
			t.Errorf("call %d (accepted) = %+v", i, a)
		}
	}

	// The list: the last 100, newest first.
	var list struct {
		Attempts []attempt `json:"attempts"`
	}
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts", ws.Owner, ""), http.StatusOK, &list)
	if len(list.Attempts) != 100 {
		t.Fatalf("attempts = %d, want 100", len(list.Attempts))
	}
	for j, a := range list.Attempts {
		checkRow(t, a, calls-1-j)
	}
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts?limit=3", ws.Owner, ""), http.StatusOK, &list)
	if len(list.Attempts) != 3 || list.Attempts[0].RequestID != "req-104" {
		t.Errorf("limit=3 gave %d attempts starting with %+v", len(list.Attempts), list.Attempts[0])
	}
	for _, bad := range []string{"0", "101", "ten", "-1"} {
		wantError(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts?limit="+bad, ws.Owner, ""),
			http.StatusBadRequest, wagate.EINVALID, fmt.Sprintf("limit %q is not a number from 1 to 100", bad))
	}

	filename := regexp.MustCompile(`^attachment; filename="wagate-attempts-` + ws.ID + `-20250314T150926Z\.(jsonl|csv)"$`)

	// JSONL: the last 100, oldest first.
	for _, path := range []string{"/webhook/attempts/download", "/webhook/attempts/download?format=jsonl"} {
		rec := e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+path, ws.Owner, "")
		mustStatus(t, rec, http.StatusOK)
		if cd := rec.Header().Get("Content-Disposition"); !filename.MatchString(cd) || !strings.HasSuffix(cd, `.jsonl"`) {
			t.Errorf("Content-Disposition = %q", cd)
		}
		sc := bufio.NewScanner(bytes.NewReader(rec.Body.Bytes()))
		sc.Buffer(nil, 1<<20)
		n := 0
		for ; sc.Scan(); n++ {
			var a attempt
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatalf("line %d: %v", n+1, err)
			}
			checkRow(t, a, calls-100+n)
		}
		if n != 100 {
			t.Errorf("JSONL lines = %d, want 100", n)
		}
	}

	// CSV: a header row, then the last 100, oldest first.
	rec := e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts/download?format=csv", ws.Owner, "")
	mustStatus(t, rec, http.StatusOK)
	if cd := rec.Header().Get("Content-Disposition"); !filename.MatchString(cd) || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition = %q", cd)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type = %q", ct)
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v", err)
	}
	header := "at,request_id,remote_addr,content_type,body,http_status,message,message_id,credits,send_status,send_error,warnings"
	if len(rows) != 101 || strings.Join(rows[0], ",") != header {
		t.Fatalf("CSV has %d rows, header %v", len(rows), rows[0])
	}
	for n, r := range rows[1:] {
		status, _ := strconv.Atoi(r[5])
		credits, _ := strconv.ParseInt(r[8], 10, 64)
		checkRow(t, attempt{At: r[0], RequestID: r[1], RemoteAddr: r[2], ContentType: r[3], Body: r[4], HTTPStatus: status,
			Message: r[6], MessageID: r[7], Credits: credits, SendStatus: r[9], SendError: r[10]}, calls-100+n)
	}

	wantError(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts/download?format=xml", ws.Owner, ""),
		http.StatusBadRequest, wagate.EINVALID, `format "xml" is not supported; use format=jsonl or format=csv`)
}

// TestAttemptsOfEveryAnswer checks that each kind of answer to a known
// token leaves its record, with the status derived from its code.
func TestAttemptsOfEveryAnswer(t *testing.T) {
	e, ws := setup(t, 2, withBurst(9))
	for _, tc := range []struct {
		body    string
		headers []string
		status  int
	}{
		{`{"action":"send","phone":"+14155552671","text":"ok"}`, []string{"Idempotency-Key", "k"}, 200},
		{`{"action":"send","phone":"+14155552671","text":"ok"}`, []string{"Idempotency-Key", "k"}, 200}, // replay
		{`{"action":"send","phone":"+14155552671","text":"other"}`, []string{"Idempotency-Key", "k"}, 422},
		{`{"action":"send","phone":"+14155552671","text":"x","file_url":"https://e.com/a","file_name":"a"}`, nil, 402},
		{`{"action":"send"`, nil, 400},
		{`a=b`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{`{"text":"` + strings.Repeat("y", 70000) + `"}`, nil, 413},
	} {
		rec := e.send(ws.Inbound, tc.body, tc.headers...)
		mustStatus(t, rec, tc.status)
	}
	mustStatus(t, e.do(http.MethodPatch, "/api/v1/workspaces/"+ws.ID+"/webhook", ws.Owner, `{"enabled":false}`), http.StatusOK)
	mustStatus(t, e.send(ws.Inbound, `{}`), http.StatusForbidden)
	mustStatus(t, e.send(ws.Inbound, `{}`), http.StatusForbidden)
	mustStatus(t, e.send(ws.Inbound, `{}`), http.StatusTooManyRequests)

	var list struct {
		Attempts []attempt `json:"attempts"`
	}
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts", ws.Owner, ""), http.StatusOK, &list)
	want := []int{429, 403, 403, 413, 415, 400, 402, 422, 200, 200}
	if len(list.Attempts) != len(want) {
		t.Fatalf("attempts = %+v, want %d", list.Attempts, len(want))
	}
	for i, a := range list.Attempts {
		if a.HTTPStatus != want[i] {
			t.Errorf("attempt %d: http_status %d, want %d (%+v)", i, a.HTTPStatus, want[i], a)
		}
	}
	replay, first := list.Attempts[8], list.Attempts[9]
	if replay.MessageID != first.MessageID || replay.Credits != 0 || first.Credits != 1 {
		t.Errorf("replay %+v, first %+v: want the same message, charged once", replay, first)
	}
	if form := list.Attempts[4]; form.Body != "a=b" || form.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("415 attempt = %+v, want the form body kept", form)
	}
	if big := list.Attempts[3]; len(big.Body) != wagate.AttemptBodyLimit {
		t.Errorf("413 attempt body = %d bytes, want cut at %d", len(big.Body), wagate.AttemptBodyLimit)
	}
}
