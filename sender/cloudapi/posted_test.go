package cloudapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

// edgeClock is an HTTP transport that notes when each call to an edge
// starts and when its answer came back, to place Result.PostedAt among them.
type edgeClock struct {
	mu    sync.Mutex
	calls []edgeCall
}

type edgeCall struct {
	edge       string
	start, end time.Time
}

func (c *edgeClock) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := http.DefaultTransport.RoundTrip(r)
	edge := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	c.mu.Lock()
	c.calls = append(c.calls, edgeCall{edge: edge, start: start, end: time.Now()})
	c.mu.Unlock()
	return resp, err
}

func (c *edgeClock) call(edge string) edgeCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.calls {
		if k.edge == edge {
			return k
		}
	}
	return edgeCall{}
}

// TestSendReportsWhenTheMessageWentOut: with a file, the Result's PostedAt
// is the moment the message request went out, after the upload's answer,
// not the call of Send, since the account's pace runs from there. A send
// that fails after its request went out reports it all the same: it took
// the account's turn.
func TestSendReportsWhenTheMessageWentOut(t *testing.T) {
	for _, failing := range []bool{false, true} {
		clock := &edgeClock{}
		e := newEnv(t, Config{HTTPClient: &http.Client{Transport: clock}})
		if failing {
			e.fake.FailNext(1, graphfake.Failure{Edge: graphfake.EdgeMessages, HTTPStatus: 503})
		}
		file := &wagate.Attachment{Name: "logo.png", ContentType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")}
		called := time.Now()
		res, err := e.tr.Send(context.Background(), e.acct, e.message(bob, "our logo"), file)
		if failing != (err != nil) {
			t.Fatalf("failing %v: Send = %v", failing, err)
		}
		upload, msg := clock.call("media"), clock.call("messages")
		if upload.end.IsZero() || msg.start.IsZero() {
			t.Fatalf("failing %v: calls %+v; want an upload and a message", failing, clock.calls)
		}
		if res.PostedAt.Before(upload.end) || res.PostedAt.After(msg.start) || !res.PostedAt.After(called) {
			t.Errorf("failing %v: PostedAt %v, want between the upload's answer %v and the message request %v",
				failing, res.PostedAt, upload.end, msg.start)
		}
	}
}

// TestSendReportsNoPostingWhenNothingWentOut: a send refused before any
// message request (bad recipient) reports a zero PostedAt, so the sender
// keeps the account's pace from the call.
func TestSendReportsNoPostingWhenNothingWentOut(t *testing.T) {
	e := newEnv(t, Config{})
	res, err := e.tr.Send(context.Background(), e.acct, e.message("120363025246125486@g.us", "hi"), nil)
	if err == nil {
		t.Fatalf("Send to a group = %v, want an error", err)
	}
	if !res.PostedAt.IsZero() {
		t.Errorf("PostedAt = %v, want zero: nothing went out", res.PostedAt)
	}
}
