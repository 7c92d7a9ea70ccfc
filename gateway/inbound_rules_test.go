package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// The rules of SPEC §1 "Rules" added with issue 11.

const fileurlTypo = `unknown field "fileurl"; did you mean "file_url"?`

// An unknown field does not stop a valid request, but the 200 names it in
// "warnings", and the attempt keeps it: in the list, the JSONL and the CSV.
func TestInboundUnknownFieldWarnings(t *testing.T) {
	e, ws := setup(t, 10)
	body := `{"action":"send","phone":"+14155552671","text":"hi","fileurl":"https://example.com/a.png"}`
	rec := e.send(ws.Inbound, body, "Idempotency-Key", "k-1")
	id := accepted(t, rec)
	want := `{"status":"success","data":{"message_id":"` + id + `"},"warnings":["unknown field \"fileurl\"; did you mean \"file_url\"?"]}` + "\n"
	if rec.Body.String() != want {
		t.Errorf("body = %s\nwant   %s", rec.Body, want)
	}
	// Two unknown fields, one without a suggestion: one warning each.
	rec = e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi","priority":"high","Phone_Number":"x"}`)
	accepted(t, rec)
	var two struct {
		Warnings []string `json:"warnings"`
	}
	mustDecode(t, rec, http.StatusOK, &two)
	if w := two.Warnings; len(w) != 2 || w[0] != `unknown field "Phone_Number"; did you mean "phone"?` || w[1] != `unknown field "priority" (ignored)` {
		t.Errorf("warnings = %q", w)
	}
	// A replay gives the first answer again, warnings included.
	again := e.send(ws.Inbound, body, "Idempotency-Key", "k-1")
	if again.Body.String() != want || again.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay = %s (replayed %q), want %s", again.Body, again.Header().Get("Idempotent-Replayed"), want)
	}
	// Without unknown fields the body has no "warnings".
	plain := e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi"}`)
	if strings.Contains(plain.Body.String(), "warnings") {
		t.Errorf("body without unknown fields = %s", plain.Body)
	}

	// The list, newest first: plain, replay, two, first.
	var list struct {
		Attempts []struct {
			RequestID string    `json:"request_id"`
			Warnings  *[]string `json:"warnings"`
		} `json:"attempts"`
	}
	mustDecode(t, e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts", ws.Owner, ""), http.StatusOK, &list)
	if len(list.Attempts) != 4 {
		t.Fatalf("attempts = %d, want 4", len(list.Attempts))
	}
	for i, n := range []int{0, 1, 2, 1} {
		w := list.Attempts[i].Warnings
		if w == nil || len(*w) != n {
			t.Errorf("attempt %d warnings = %v, want %d (and [] rather than null)", i, w, n)
		}
	}
	for _, i := range []int{3, 1} { // the first call and its replay
		if w := list.Attempts[i].Warnings; w == nil || len(*w) != 1 || (*w)[0] != fileurlTypo {
			t.Errorf("attempt %d warnings = %v, want [%q]", i, w, fileurlTypo)
		}
	}

	// JSONL, oldest first.
	rec = e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts/download?format=jsonl", ws.Owner, "")
	mustStatus(t, rec, http.StatusOK)
	sc := bufio.NewScanner(rec.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 4 || !strings.Contains(lines[0], `"warnings":["unknown field \"fileurl\"; did you mean \"file_url\"?"]`) || !strings.Contains(lines[3], `"warnings":[]`) {
		t.Errorf("JSONL = %q", lines)
	}
	// CSV: the last column, one warning a line.
	rec = e.do(http.MethodGet, "/api/v1/workspaces/"+ws.ID+"/webhook/attempts/download?format=csv", ws.Owner, "")
	mustStatus(t, rec, http.StatusOK)
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil || len(rows) != 5 {
		t.Fatalf("CSV rows = %d, %v", len(rows), err)
	}
	last := len(rows[0]) - 1
	if rows[0][last] != "warnings" || rows[1][last] != fileurlTypo || rows[2][last] != `unknown field "Phone_Number"; did you mean "phone"?`+"\n"+`unknown field "priority" (ignored)` || rows[4][last] != "" {
		t.Errorf("CSV warnings column: header %q, rows %q, %q, %q", rows[0][last], rows[1][last], rows[2][last], rows[4][last])
	}
}

// "Same body" for an Idempotency-Key is the same JSON value: key order,
// spacing and string escapes do not matter; any other change does.
func TestInboundIdempotencySameJSONValue(t *testing.T) {
	e, ws := setup(t, 10)
	id := accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"once","meta":{"a":1,"b":[1,"x"]}}`, "Idempotency-Key", "k"))
	for _, same := range []string{
		"{ \"text\" : \"once\",\n\t\"phone\":\"+14155552671\", \"action\":\"send\", \"meta\":{\"b\":[1, \"x\"], \"a\":1} }",
		`{"action":"send","phone":"+14155552671","text":"\u006fnce","meta":{"a":1,"b":[1,"\u0078"]}}`,
	} {
		rec := e.send(ws.Inbound, same, "Idempotency-Key", "k")
		if got := accepted(t, rec); got != id || rec.Header().Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s: answered %s (replayed %q), want the replay of %s", same, got, rec.Header().Get("Idempotent-Replayed"), id)
		}
	}
	for _, other := range []string{
		`{"action":"send","phone":"+14155552671","text":"once","meta":{"a":1.0,"b":[1,"x"]}}`, // numbers as written
		`{"action":"send","phone":"+14155552671","text":"once","meta":{"a":1,"b":["x",1]}}`,   // array order counts
		`{"action":"send","phone":"+14155552671","text":"once ","meta":{"a":1,"b":[1,"x"]}}`,
	} {
		wantError(t, e.send(ws.Inbound, other, "Idempotency-Key", "k"), http.StatusUnprocessableEntity, wagate.EIDEMPOTENCY, "Idempotency-Key", "different body")
	}
	if got := e.balance(ws); got != 9 {
		t.Errorf("balance = %d, want 9 (charged once)", got)
	}
}

// A key given twice is a 400 naming it, at the top and nested; so is a
// text of only whitespace without a file.
func TestInboundDuplicateKeysAndBlankText(t *testing.T) {
	e, ws := setup(t, 10)
	many := `{"action":"send","text":"hi",`
	for i := range 20 {
		many += fmt.Sprintf(`"extra%d":%d,`, i, i)
	}
	many += `"extra7":"again","phone":"+14155552671"}`
	for _, tc := range []struct {
		name, body string
		parts      []string
	}{
		{"top", `{"action":"send","phone":"+14155552671","phone":"+4915112345678","text":"hi"}`, []string{`field "phone" is given twice`, "send each field once"}},
		{"escaped", `{"action":"send","phone":"+14155552671","ph\u006fne":"+4915112345678","text":"hi"}`, []string{`field "phone" is given twice`}},
		{"unknown", `{"action":"send","phone":"+14155552671","text":"hi","tag":1,"tag":2}`, []string{`field "tag" is given twice`}},
		{"many fields", many, []string{`field "extra7" is given twice`}},
		{"nested", `{"action":"send","phone":"+14155552671","text":"hi","meta":{"a":1,"b":{"c":1,"c":2}}}`, []string{`key "c" is given twice in an object inside field "meta"`, "send each key once"}},
		{"in array", `{"action":"send","phone":"+14155552671","text":"hi","list":[{"a":1},{"a":1,"a":1}]}`, []string{`key "a" is given twice in an object inside field "list"`}},
		{"blank text", `{"action":"send","phone":"+14155552671","text":" \n\t\u3000"}`, []string{`field "text" is only whitespace`, `write the message text, or send a file with "file_url"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.send(ws.Inbound, tc.body), http.StatusBadRequest, wagate.EINVALID, tc.parts...)
		})
	}
	// Blank text with a file is a file alone: no caption, 1 credit.
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"  ","file_url":"https://example.com/a.pdf","file_name":"a.pdf"}`))
	if m := e.messages(ws)[0]; m.Text != "" || m.Credits != 1 {
		t.Errorf("blank text with a file stored as text %q costing %d; want no text, 1 credit", m.Text, m.Credits)
	}
	// The same key in two different objects is fine.
	accepted(t, e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"hi","a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}`))
}

func gzipped(t testing.TB, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// Content types and encodings of SPEC §1: JSON, text/plain or none; gzip.
func TestInboundContentTypesAndEncodings(t *testing.T) {
	e, ws := setup(t, 100)
	ok := `{"action":"send","phone":"+14155552671","text":"hi"}`
	for _, tc := range []struct {
		name    string
		body    string
		headers []string
		status  int
		code    string
		parts   []string
	}{
		{"text plain", ok, []string{"Content-Type", "text/plain"}, 200, "", nil},
		{"text plain utf-8", ok, []string{"Content-Type", "text/plain;charset=UTF-8"}, 200, "", nil},
		{"json utf8", ok, []string{"Content-Type", `application/json; charset="utf8"`}, 200, "", nil},
		{"gzip", gzipped(t, []byte(ok)), []string{"Content-Encoding", "gzip"}, 200, "", nil},
		{"gzip text plain", gzipped(t, []byte(ok)), []string{"Content-Encoding", "gzip", "Content-Type", "text/plain"}, 200, "", nil},
		{"identity", ok, []string{"Content-Encoding", "identity"}, 200, "", nil},

		{"text plain latin1", ok, []string{"Content-Type", "text/plain; charset=windows-1252"}, 415, wagate.EMEDIATYPE, []string{`charset "windows-1252" is not supported`, "UTF-8"}},
		{"xml", ok, []string{"Content-Type", "application/xml"}, 415, wagate.EMEDIATYPE, []string{`"application/xml" is not supported`, "application/json"}},
		{"octet stream", ok, []string{"Content-Type", "application/octet-stream"}, 415, wagate.EMEDIATYPE, []string{`"application/octet-stream" is not supported`}},
		{"brotli", ok, []string{"Content-Encoding", "br"}, 415, wagate.EMEDIATYPE, []string{`Content-Encoding "br" is not supported`, "Content-Encoding: gzip"}},
		{"two encodings", gzipped(t, []byte(gzipped(t, []byte(ok)))), []string{"Content-Encoding", "gzip, gzip"}, 415, wagate.EMEDIATYPE, []string{`Content-Encoding "gzip, gzip" is not supported`}},
		{"corrupt gzip", ok, []string{"Content-Encoding", "gzip"}, 400, wagate.EINVALID, []string{"request body is not valid gzip data", "leave out Content-Encoding"}},
		{"cut gzip", gzipped(t, []byte(ok))[:30], []string{"Content-Encoding", "gzip"}, 400, wagate.EINVALID, []string{"request body is not valid gzip data"}},
		{"empty gzip", " ", []string{"Content-Encoding", "gzip"}, 400, wagate.EINVALID, []string{"not valid gzip data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.send(ws.Inbound, tc.body, tc.headers...)
			if tc.status == 200 {
				accepted(t, rec)
				return
			}
			wantError(t, rec, tc.status, tc.code, tc.parts...)
		})
	}

	// The limit applies to the decoded body: exactly 64 KiB passes.
	body := ok[:len(ok)-1] + strings.Repeat(" ", gateway.InboundBodyLimit-len(ok)) + "}"
	accepted(t, e.send(ws.Inbound, gzipped(t, []byte(body)), "Content-Encoding", "gzip"))
	wantError(t, e.send(ws.Inbound, gzipped(t, []byte(body+" ")), "Content-Encoding", "gzip"), http.StatusRequestEntityTooLarge, wagate.ETOOLARGE, "larger than 64 KiB once gunzipped")
}

// A gzip bomb (16 MiB of zeros in about 16 KiB) is a 413 after reading
// 64 KiB + 1 decoded bytes: its size never reaches memory.
func TestInboundGzipBomb(t *testing.T) {
	e, ws := setup(t, 10)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 16 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	bomb := buf.Bytes()
	if len(bomb) > gateway.InboundBodyLimit {
		t.Fatalf("the bomb is %d bytes compressed; the test needs it under the limit", len(bomb))
	}
	req := httptest.NewRequest(http.MethodPost, "/inbound/"+ws.Inbound, bytes.NewReader(bomb))
	req.Header.Set("Content-Encoding", "gzip")
	rec := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	e.srv.Handler().ServeHTTP(rec, req)
	runtime.ReadMemStats(&after)
	wantError(t, rec, http.StatusRequestEntityTooLarge, wagate.ETOOLARGE, "once gunzipped")
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("the request allocated %d bytes; a 16 MiB bomb must not be inflated past the 64 KiB limit", n)
	}

	// A compressed body that cannot decode to 64 KiB or less is refused
	// by its length alone.
	wantError(t, e.send(ws.Inbound, strings.Repeat("x", gateway.InboundBodyLimit+2<<10), "Content-Encoding", "gzip"), http.StatusRequestEntityTooLarge, wagate.ETOOLARGE)
}

// What can be known about file_url without the network is a 400 at once.
func TestInboundFileURLChecks(t *testing.T) {
	e, ws := setup(t, 100)
	send := func(u string) *httptest.ResponseRecorder {
		b, _ := json.Marshal(u)
		return e.send(ws.Inbound, `{"action":"send","phone":"+14155552671","text":"","file_name":"a.png","file_url":`+string(b)+`}`)
	}
	for _, tc := range []struct {
		url   string
		parts []string
	}{
		{"https://example.com:0/a.png", []string{`field "file_url" has port 0`, "from 1 to 65535"}},
		{"https://example.com:65536/a.png", []string{`field "file_url" has port 65536`}},
		{"https://user:secret@example.com/a.png", []string{`field "file_url" contains a user name or password`, "public link that needs no login"}},
		{"https://user@example.com/a.png", []string{`field "file_url" contains a user name or password`}},
		{"http://127.0.0.1/a.png", []string{`field "file_url" has host 127.0.0.1, a loopback address`, "use a public link"}},
		{"http://10.1.2.3:8080/a.png", []string{"a private address"}},
		{"http://169.254.169.254/latest/meta-data", []string{"a link-local address"}},
		{"http://100.64.0.1/a.png", []string{"a carrier-grade NAT address"}},
		{"http://0.0.0.0/a.png", []string{"an unspecified address"}},
		{"http://224.0.0.1/a.png", []string{"a multicast address"}},
		{"http://[::1]/a.png", []string{"has host ::1, a loopback address"}},
		{"http://[::ffff:192.168.1.1]/a.png", []string{"a private address"}},
		{"http://[fe80::1%25eth0]/a.png", []string{"a link-local address"}},
		{"ftp://example.com/a.png", []string{`field "file_url" has scheme "ftp"`, "https://example.com/logo.png"}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			b := wantError(t, send(tc.url), http.StatusBadRequest, wagate.EINVALID, tc.parts...)
			if strings.Contains(b.Message, "secret") {
				t.Errorf("message %q shows the password", b.Message)
			}
		})
	}
	// Public addresses and names pass; the fetcher checks where names lead.
	for _, u := range []string{"https://93.184.216.34/a.png", "https://[2606:4700:4700::1111]:8443/a.png", "https://localhost/a.png", "http://example.com:80/a.png"} {
		accepted(t, send(u))
	}

	// --allow-private-file-urls lifts the address check, not the others.
	e, ws = setup(t, 100, func(c *gateway.Config) { c.AllowPrivateFileURLs = true })
	accepted(t, send("http://127.0.0.1:8080/a.png"))
	wantError(t, send("https://user:pw@127.0.0.1/a.png"), http.StatusBadRequest, wagate.EINVALID, "user name or password")
}

// Digits without "+" that are a national number of the sending account's
// country are still a 400, which suggests the international form.
func TestInboundNationalPhoneSuggestion(t *testing.T) {
	e, ws := setup(t, 10) // a US account (+1 510…)
	const de = "+4915112345670"
	e.clock.Advance(time.Minute)
	e.account(ws, de)
	// The default account is the last connected one: DE here, so name US.
	b := wantError(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"4155552671","text":"hi"}`),
		http.StatusBadRequest, wagate.EINVALID, `field "phone": "4155552671"`, "national number of US", "+15105566777", `"phone":"+14155552671"`)
	if strings.Contains(b.Message, " CH") {
		t.Errorf("message %q still speaks of Switzerland", b.Message)
	}
	// The default account, German: the German mobile number is suggested.
	wantError(t, e.send(ws.Inbound, `{"action":"send","phone":"0151 12345678","text":"hi"}`),
		http.StatusBadRequest, wagate.EINVALID, `field "phone"`, "national number of DE", `"phone":"+4915112345678"`)
	// Digits that are no national number there keep the usual message.
	wantError(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+4155552671","text":"hi"}`),
		http.StatusBadRequest, wagate.EINVALID, `field "phone": "+4155552671" is not a valid phone number in CH`)
	// And digits valid as an international number are sent as such.
	accepted(t, e.send(ws.Inbound, `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"14155552671","text":"hi"}`))
}
