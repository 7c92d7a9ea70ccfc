package cloudapi

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/sender"
)

func gerr(code int, transient *bool) *graphError {
	g := &graphError{}
	g.Error = &struct {
		Message      string `json:"message"`
		Type         string `json:"type"`
		Code         int    `json:"code"`
		ErrorSubcode int    `json:"error_subcode"`
		ErrorData    struct {
			Details string `json:"details"`
		} `json:"error_data"`
		FBTraceID   string `json:"fbtrace_id"`
		IsTransient *bool  `json:"is_transient"`
	}{Message: "(#1) some title", Type: "OAuthException", Code: code, FBTraceID: "Atrace", IsTransient: transient}
	return g
}

// TestClassify is the error table as a test: the decision is on Meta's code,
// whatever the HTTP status says.
func TestClassify(t *testing.T) {
	yes, no := true, false
	const (
		perm = "permanent"
		tr   = "transient"
		rate = "rate_limited"
	)
	tests := []struct {
		name      string
		status    int
		g         *graphError
		ra        time.Duration
		hasRA     bool
		class     string
		delay     time.Duration
		adviceHas string
	}{
		{"token", 401, gerr(190, nil), 0, false, perm, 0, "access_token"},
		{"token even as a 500", 500, gerr(190, nil), 0, false, perm, 0, "access_token"},
		{"parameter", 400, gerr(100, nil), 0, false, perm, 0, "parameter"},
		{"undeliverable", 400, gerr(131026, nil), 0, false, perm, 0, "not on WhatsApp"},
		{"media upload", 400, gerr(131053, nil), 0, false, perm, 0, "PDF"},
		{"unsupported type", 400, gerr(131051, nil), 0, false, perm, 0, ""},
		{"missing parameter", 400, gerr(131008, nil), 0, false, perm, 0, ""},
		{"bad parameter value", 400, gerr(131009, nil), 0, false, perm, 0, ""},
		{"24 hours", 400, gerr(131047, nil), 0, false, perm, 0, "template"},
		{"permission range", 403, gerr(250, nil), 0, false, perm, 0, "permission"},
		{"template range", 400, gerr(132001, nil), 0, false, perm, 0, "template"},
		{"throughput", 400, gerr(130429, nil), 0, false, tr, 0, ""},
		{"throughput with Retry-After", 429, gerr(130429, nil), 30 * time.Second, true, rate, 30 * time.Second, ""},
		{"pair limit without header", 400, gerr(131056, nil), 0, false, rate, PairGap, "6 seconds"},
		{"pair limit short header", 400, gerr(131056, nil), time.Second, true, rate, PairGap, ""},
		{"pair limit long header", 400, gerr(131056, nil), time.Minute, true, rate, time.Minute, ""},
		{"waba rate", 400, gerr(80007, nil), 0, false, tr, 0, ""},
		{"spam rate", 400, gerr(131048, nil), 0, false, tr, 0, "quality"},
		{"something went wrong", 500, gerr(131000, nil), 0, false, tr, 0, ""},
		{"service unavailable", 503, gerr(131016, nil), 0, false, tr, 0, ""},
		{"unknown code, transient flag", 400, gerr(999999, &yes), 0, false, tr, 0, ""},
		{"unknown code, not transient, 500", 500, gerr(999999, &no), 0, false, perm, 0, ""},
		{"unknown code, 500", 500, gerr(999999, nil), 0, false, tr, 0, ""},
		{"unknown code, 400", 400, gerr(999999, nil), 0, false, perm, 0, ""},
		{"bare 500", 500, nil, 0, false, tr, 0, ""},
		{"bare 502 with Retry-After", 502, nil, 10 * time.Second, true, rate, 10 * time.Second, ""},
		{"bare 429", 429, nil, 0, false, tr, 0, ""},
		{"bare 404", 404, nil, 0, false, perm, 0, "base_url"},
		{"redirect", 302, nil, 0, false, perm, 0, "redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(tt.status, tt.g, tt.ra, tt.hasRA)
			class := tr
			if sender.IsPermanent(err) {
				class = perm
			} else if _, ok := sender.RetryDelay(err); ok {
				class = rate
			}
			if class != tt.class {
				t.Fatalf("class %s, want %s (%v)", class, tt.class, err)
			}
			if d, _ := sender.RetryDelay(err); d != tt.delay {
				t.Errorf("delay %v, want %v", d, tt.delay)
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("%v is not an *APIError", err)
			}
			if ae.HTTPStatus != tt.status {
				t.Errorf("HTTPStatus %d", ae.HTTPStatus)
			}
			if !strings.Contains(ae.Advice, tt.adviceHas) {
				t.Errorf("advice %q lacks %q", ae.Advice, tt.adviceHas)
			}
			if !strings.HasPrefix(err.Error(), "cloudapi: ") {
				t.Errorf("text %q", err.Error())
			}
		})
	}
}

func TestAPIErrorText(t *testing.T) {
	g := gerr(131047, nil)
	g.Error.Message = "(#131047) Re-engagement message"
	g.Error.ErrorData.Details = "Message failed to send because more than 24 hours have passed since the customer last replied to this number."
	err := classify(400, g, 0, false)
	want := "cloudapi: Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number. (code 131047, fbtrace_id Atrace): more than 24 hours have passed since this person last wrote to the number; outside that customer service window WhatsApp delivers only approved template messages"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("text:\n%s\nwant prefix:\n%s", err, want)
	}
	bare := classify(500, nil, 0, false)
	if got := bare.Error(); got != "cloudapi: HTTP 500 Internal Server Error from the Graph API: "+adviceRetry {
		t.Errorf("bare text %q", got)
	}
}
