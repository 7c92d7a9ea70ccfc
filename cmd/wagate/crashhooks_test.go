package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
)

// The crash harness's outbound webhook half (SPEC §9, durability): the
// first workspace has an endpoint subscribed to message.queued, sent and
// failed, pointing at hookReceiver. Deliveries in flight when wagate is
// killed are made again after the restart, so the receiver sees some
// webhook-ids more than once; it keeps each id's first body and checks
// every later one is the same event. At the end verifyCrashHooks checks,
// against the stopped store, that each message of the workspace has
// exactly one message.queued id and exactly one id of its final state,
// and that no id reports a message or a change that does not exist.

// crashHookEvents are the event types the harness's endpoint subscribes to.
var crashHookEvents = []string{wagate.EventMessageQueued, wagate.EventMessageSent, wagate.EventMessageFailed}

// hookReceiver is the integrator's endpoint: it verifies each delivery's
// Standard Webhooks signature with its own code and keeps the events by
// webhook-id.
type hookReceiver struct {
	mu         sync.Mutex
	secret     []byte // the decoded signing key; set before any event exists
	events     map[string]*hookEvent
	deliveries int
	problems   []string
}

// hookEvent is one webhook-id as the receiver saw it.
type hookEvent struct {
	typ, messageID, status string
	body                   string
	times                  int
}

func newHookReceiver() *hookReceiver {
	return &hookReceiver{events: map[string]*hookEvent{}}
}

// setSecret takes the endpoint's secret as the API showed it once.
func (h *hookReceiver) setSecret(t *testing.T, secret string) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("endpoint secret %q is not whsec_ and base64 (%v)", secret, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secret = key
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest) // a cut request: wagate retries it
		return
	}
	body := string(raw)
	id := r.Header.Get("Webhook-Id")
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deliveries++
	mac := hmac.New(sha256.New, h.secret)
	fmt.Fprintf(mac, "%s.%s.%s", id, r.Header.Get("Webhook-Timestamp"), body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !strings.Contains(" "+r.Header.Get("Webhook-Signature")+" ", " "+want+" ") {
		h.problems = append(h.problems, fmt.Sprintf("delivery of %s: signature %q does not verify", id, r.Header.Get("Webhook-Signature")))
	}
	if prev := h.events[id]; prev != nil {
		if prev.body != body {
			h.problems = append(h.problems, fmt.Sprintf("webhook-id %s came with two bodies:\n%s\n%s", id, prev.body, body))
		}
		prev.times++
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var p struct {
		Type string `json:"type"`
		Data struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || id == "" {
		h.problems = append(h.problems, fmt.Sprintf("delivery with webhook-id %q and body %q: not an event (%v)", id, body, err))
	}
	h.events[id] = &hookEvent{typ: p.Type, messageID: p.Data.ID, status: p.Data.Status, body: body, times: 1}
	w.WriteHeader(http.StatusNoContent)
}

// distinct is how many webhook-ids arrived so far.
func (h *hookReceiver) distinct() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

// createCrashEndpoint subscribes the receiver at url to the harness's
// events in ws.
func createCrashEndpoint(t *testing.T, in *instance, ws workspaceSetup, url string, h *hookReceiver) {
	t.Helper()
	st, ep := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/endpoints", ws.ownerToken, map[string]any{
		"name": "crash receiver", "url": url, "path": "/events", "events": crashHookEvents,
	})
	mustStatus(t, "create endpoint", st, http.StatusCreated, ep)
	h.setSecret(t, str(ep["secret"]))
}

// waitForHooks waits, while the last process runs, until the receiver has
// want distinct events (two per accepted message of the workspace: queued,
// then sent or failed), or fails after 3 minutes with what it has.
func waitForHooks(t *testing.T, h *hookReceiver, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // only keeps a broken build from hanging
	for h.distinct() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the receiver has %d distinct events after 3 minutes, want %d", h.distinct(), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hookCounts is what the harness prints of the webhook half.
type hookCounts struct {
	events, deliveries, redelivered int
}

func (c hookCounts) String() string {
	return fmt.Sprintf("webhook events=%d deliveries=%d ids-delivered-more-than-once=%d", c.events, c.deliveries, c.redelivered)
}

// verifyCrashHooks checks the receiver's events against the stopped store.
func verifyCrashHooks(t *testing.T, dir string, ws workspaceSetup, h *hookReceiver) hookCounts {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.problems {
		t.Error(p)
	}
	db, err := store.Open(filepath.Join(dir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	msgs, err := db.ListMessages(context.Background(), ws.id, "", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	final := map[string]string{} // message id → its status in the store
	for _, m := range msgs {
		final[m.ID] = string(m.Status)
	}
	c := hookCounts{events: len(h.events), deliveries: h.deliveries}
	ids := map[string]map[string][]string{} // message id → event type → webhook-ids
	for id, ev := range h.events {
		if ev.times > 1 {
			c.redelivered++
		}
		st, ok := final[ev.messageID]
		switch {
		case !ok:
			t.Errorf("event %s (%s) reports message %q, which the store does not hold: an invented event", id, ev.typ, ev.messageID)
			continue
		case ev.typ == wagate.EventMessageQueued && ev.status != string(wagate.StatusQueued),
			ev.typ == wagate.EventMessageSent && (ev.status != string(wagate.StatusSent) || st != string(wagate.StatusSent)),
			ev.typ == wagate.EventMessageFailed && (ev.status != string(wagate.StatusFailed) || st != string(wagate.StatusFailed)):
			t.Errorf("event %s is %s with status %q for message %s, which ended %s: a change that did not happen", id, ev.typ, ev.status, ev.messageID, st)
		}
		if ids[ev.messageID] == nil {
			ids[ev.messageID] = map[string][]string{}
		}
		ids[ev.messageID][ev.typ] = append(ids[ev.messageID][ev.typ], id)
	}
	for mid, st := range final {
		want := map[string]int{wagate.EventMessageQueued: 1, wagate.EventMessageSent: 0, wagate.EventMessageFailed: 0}
		want["message."+st]++
		for typ, n := range want {
			if got := ids[mid][typ]; len(got) != n {
				t.Errorf("message %s (%s) has %d %s event ids %v, want %d", mid, st, len(got), typ, got, n)
			}
		}
	}
	return c
}
