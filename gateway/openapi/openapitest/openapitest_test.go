package openapitest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wagate/wagate/gateway/openapi/openapitest"
)

const (
	messageID = "wa_backend:3EB09FCC85FE99662E46"
	accepted  = `{"status":"success","data":{"message_id":"` + messageID + `"}}`
	webhook   = `{"url":"http://wagate.test/inbound/x","enabled":true,"created_at":"2025-03-14T15:09:26Z"}`
	workspace = `{"id":"ws_0123456789abcdef","name":"Acme","credits":10,"granted":10,"webhook":` + webhook + `,"accounts":[],"created_at":"2025-03-14T15:09:26Z"}`
	message   = `{"id":"` + messageID + `","status":"queued","account_phone":"+15105566777","chat_id":"1","jid":"14155552671@s.whatsapp.net","text":"hi","file_url":"","file_name":"","credits":1,"error":"","tries":[],"created_at":"2025-03-14T15:09:26Z","sent_at":null,"next_try_at":null,"delivery":"","delivery_at":null}`
	attempt   = `{"at":"2025-03-14T15:09:26Z","request_id":"r1","remote_addr":"192.0.2.1","content_type":"application/json","body":"{}","http_status":200,"message":"","message_id":"` + messageID + `","credits":1,"send_status":"queued","send_error":""}`
	envelope  = `{"status":404,"data":{},"message":"Webhook not found","error":"not_found"}`
)

func load(t *testing.T) *openapitest.Validator {
	t.Helper()
	v, err := openapitest.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return v
}

// TestCheckAccepts: answers as the gateway gives them pass, path
// parameters and queries included.
func TestCheckAccepts(t *testing.T) {
	v := load(t)
	for _, tc := range []struct {
		method, path string
		status       int
		ct, body     string
	}{
		{"POST", "/inbound/AbC_-123", 200, "application/json", accepted},
		{"POST", "/inbound/AbC_-123?pretty", 200, "application/json; charset=UTF-8", `{"status":"success","data":{"message_id":"` + messageID + `"},"warnings":["unknown field \"fileurl\"; did you mean \"file_url\"?"]}`},
		{"POST", "/inbound/AbC_-123", 404, "application/json", envelope},
		{"GET", "/api/v1/workspaces/ws_1", 200, "application/json", workspace},
		{"POST", "/api/v1/workspaces", 201, "application/json", strings.TrimSuffix(workspace, "}") + `,"owner_token":"t"}`},
		{"GET", "/api/v1/workspaces/ws_1/messages/" + messageID, 200, "application/json", message},
		{"GET", "/api/v1/workspaces/ws_1/messages?limit=1", 200, "application/json", `{"messages":[` + message + `],"next_cursor":"c"}`},
		{"DELETE", "/api/v1/workspaces/ws_1/accounts/%2B15105566777", 204, "", ""},
		{"GET", "/api/v1/workspaces/ws_1/webhook/attempts/download", 200, "application/x-ndjson", attempt + "\n" + attempt + "\n"},
		{"GET", "/api/v1/workspaces/ws_1/webhook/attempts/download?format=csv", 200, "text/csv; charset=utf-8", "at,request_id\n"},
		{"GET", "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8", "# HELP x\n"},
	} {
		if err := v.CheckResponse(tc.method, tc.path, tc.status, tc.ct, []byte(tc.body)); err != nil {
			t.Errorf("%s %s %d: %v", tc.method, tc.path, tc.status, err)
		}
	}
}

// TestCheckRefuses: each way an answer can disagree with the document
// fails, and the error names the operation, the status and the cause.
func TestCheckRefuses(t *testing.T) {
	v := load(t)
	for _, tc := range []struct {
		name, method, path string
		status             int
		ct, body           string
		want               []string
	}{
		{"wrong type", "GET", "/api/v1/workspaces/ws_1", 200, "application/json",
			strings.Replace(workspace, `"credits":10`, `"credits":"10"`, 1),
			[]string{"GET /api/v1/workspaces/{ws} answered 200", "/credits", "want integer"}},
		{"missing required field", "GET", "/api/v1/workspaces/ws_1/messages/" + messageID, 200, "application/json",
			strings.Replace(message, `"status":"queued",`, "", 1),
			[]string{"GET /api/v1/workspaces/{ws}/messages/{id} answered 200", "missing property 'status'"}},
		{"undocumented status", "POST", "/inbound/AbC_-123", 418, "application/json", envelope,
			[]string{"POST /inbound/{token} answered 418", "not described", "200, 400, 402"}},
		{"bad time", "GET", "/api/v1/workspaces/ws_1/webhook/attempts", 200, "application/json",
			`{"attempts":[` + strings.Replace(attempt, "2025-03-14T15:09:26Z", "yesterday", 1) + `]}`,
			[]string{"/attempts/0/at", "date-time"}},
		{"bad message id", "POST", "/inbound/AbC_-123", 200, "application/json", strings.Replace(accepted, "wa_backend:", "wa:", 1),
			[]string{"/data/message_id"}},
		{"error envelope with data", "GET", "/api/v1/workspaces/ws_1", 403, "application/json",
			`{"status":403,"data":{"x":1},"message":"no"}`, []string{"answered 403", "/data"}},
		{"body where none is described", "DELETE", "/api/v1/workspaces/ws_1/accounts/1", 204, "application/json", `{}`,
			[]string{"describes no body"}},
		{"no body where one is described", "GET", "/healthz", 200, "", "", []string{`Content-Type "" is not described`}},
		{"undocumented content type", "GET", "/healthz", 200, "text/html", "<p>ok</p>", []string{`"text/html" is not described`, "application/json"}},
		{"not JSON", "GET", "/healthz", 200, "application/json", "ok", []string{"not JSON"}},
		{"bad line of a JSON-lines file", "GET", "/api/v1/workspaces/ws_1/webhook/attempts/download", 200, "application/x-ndjson",
			attempt + "\n" + `{"at":null}` + "\n", []string{"line 2", "missing propert"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.CheckResponse(tc.method, tc.path, tc.status, tc.ct, []byte(tc.body))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestCheckUnknownOperation: a path or method the document does not have
// is ErrNoOperation, and an inbound token never reaches the message.
func TestCheckUnknownOperation(t *testing.T) {
	v := load(t)
	for _, tc := range []struct{ method, path string }{
		{"PUT", "/api/v1/workspaces"},
		{"GET", "/api/v1/workspaces/ws_1/nothing"},
		{"POST", "/inbound/"},
		{"POST", "/inbound/SECRET/extra"},
	} {
		err := v.Check(tc.method, tc.path, 404, []byte(envelope))
		if !errors.Is(err, openapitest.ErrNoOperation) {
			t.Errorf("%s %s: %v; want ErrNoOperation", tc.method, tc.path, err)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error %q shows the token", tc.path, err)
		}
	}
	if err := v.CheckError(404, []byte(envelope)); err != nil {
		t.Errorf("CheckError: %v", err)
	}
	if err := v.CheckError(404, []byte(`{"message":"x"}`)); err == nil {
		t.Error("CheckError of a body without status and data passed")
	}
}

// TestCheckPrefersLiteralSegments: /webhook/attempts/download is its own
// operation, not a parameter of another.
func TestCheckPrefersLiteralSegments(t *testing.T) {
	v := load(t)
	err := v.CheckResponse("GET", "/api/v1/workspaces/ws_1/webhook/attempts/download", 418, "", nil)
	if err == nil || !strings.Contains(err.Error(), "GET /api/v1/workspaces/{ws}/webhook/attempts/download answered 418") {
		t.Errorf("error %v; want it to name the download operation", err)
	}
}

// TestNewRefusesBrokenDocuments: a reference to nothing, or a document
// that is not OpenAPI 3.1, fails at load rather than in some later check.
func TestNewRefusesBrokenDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":         `{`,
		"OpenAPI 3.0":      `{"openapi":"3.0.3","paths":{}}`,
		"no responses":     `{"openapi":"3.1.0","paths":{"/x":{"get":{}}}}`,
		"bad schema ref":   `{"openapi":"3.1.0","paths":{"/x":{"get":{"responses":{"200":{"description":"","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Nope"}}}}}}}},"components":{"schemas":{"Error":{}}}}`,
		"bad response ref": `{"openapi":"3.1.0","paths":{"/x":{"get":{"responses":{"200":{"$ref":"#/components/responses/Nope"}}}}},"components":{"schemas":{"Error":{}}}}`,
		"no Error schema":  `{"openapi":"3.1.0","paths":{}}`,
	} {
		if _, err := openapitest.New([]byte(doc)); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// TestOperationsListsTheDocument: Operations is what the route test
// compares with the gateway's routes.
func TestOperationsListsTheDocument(t *testing.T) {
	ops := load(t).Operations()
	found := false
	for _, op := range ops {
		if op.Method == "POST" && op.Path == "/inbound/{token}" {
			found = true
		}
	}
	if len(ops) < 20 || !found {
		t.Errorf("Operations() = %v; want every operation, POST /inbound/{token} among them", ops)
	}
}

// TestSendRequestSchema: SPEC §1's reference requests match the request
// schema the document gives integrators, and its exact error bodies match
// the envelope.
func TestSendRequestSchema(t *testing.T) {
	v := load(t)
	for _, body := range []string{
		`{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14155552671","text":"lorem ipsum"}`,
		`{"action":"send","chat_id":"77234","text":"lorem ipsum","file_url":"https://example.com/logo.png","file_name":"logo.png"}`,
		`{"action":"send","chat_id":77234,"text":""}`,
	} {
		if err := v.CheckSchema("SendRequest", []byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	for _, body := range []string{
		`{"text":"no action"}`,
		`{"action":"receive","phone":"+14155552671","text":"x"}`,
		`{"action":"send","chat_id":true,"text":"x"}`,
	} {
		if err := v.CheckSchema("SendRequest", []byte(body)); err == nil {
			t.Errorf("%s passed the request schema", body)
		}
	}
	for _, body := range []string{
		`{"status":404,"data":{},"message":"Webhook not found"}`,
		`{"status":403,"data":{},"message":"Webhook is disabled"}`,
	} {
		if err := v.CheckSchema("Error", []byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}
