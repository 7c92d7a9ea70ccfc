package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCLIWaitingShown: `wagate account show` and `account list` show the
// careful-sending rules; `message list` and `message show` say why a queued
// message waits and until when (here: its send_at).
func TestCLIWaitingShown(t *testing.T) {
	dir := t.TempDir()
	in := start(t, testConfig(dir, time.Hour, 0))
	op := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_DATA": dir}
	var ws struct {
		ID         string `json:"id"`
		OwnerToken string `json:"owner_token"`
		Webhook    struct {
			URL string `json:"url"`
		} `json:"webhook"`
	}
	okJSON(t, op, &ws, "workspace", "create", "acme", "--credits", "10")
	owner := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_TOKEN": ws.OwnerToken, "WAGATE_WORKSPACE": ws.ID}
	ok(t, owner, "account", "add", "+15105566777")
	ok(t, owner, "account", "set", "+15105566777", "--daily-limit", "200", "--quiet-hours", "21:00-08:00", "--warmup-start", "20", "--warmup-growth", "1.3")

	show := ok(t, owner, "account", "show", "15105566777")
	for _, want := range []string{"+15105566777", "200 sends in any 24 h", "from 20 a day, ×1.3 a day", "21:00-08:00 in the recipient's time", "Send interval  off"} {
		if !strings.Contains(show, want) {
			t.Errorf("account show lacks %q:\n%s", want, show)
		}
	}
	if list := ok(t, owner, "account", "list"); !strings.Contains(list, "CAREFUL SENDING") || !strings.Contains(list, "at most 200 sends a day") {
		t.Errorf("account list lacks the rules:\n%s", list)
	}
	mustFail(t, wagateCLI(t, owner, "account", "show", "+14155550000"), exitRefused, "+14155550000", "wagate account list")

	sendAt := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	resp, err := http.Post(ws.Webhook.URL, "application/json", strings.NewReader(`{"action":"send","phone":"+14155552671","text":"later","send_at":"`+sendAt.Format(time.RFC3339)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("inbound send = %d", resp.StatusCode)
	}
	var msgs struct {
		Messages []struct {
			ID            string `json:"id"`
			WaitingReason string `json:"waiting_reason"`
		} `json:"messages"`
	}
	okJSON(t, owner, &msgs, "message", "list", "--status", "queued")
	if len(msgs.Messages) != 1 || msgs.Messages[0].WaitingReason != "scheduled" {
		t.Fatalf("message list --json = %+v", msgs)
	}
	next := sendAt.Format("2006-01-02 15:04:05Z")
	if list := ok(t, owner, "message", "list"); !strings.Contains(list, "WAITING") || !strings.Contains(list, "scheduled") || !strings.Contains(list, next) {
		t.Errorf("message list lacks the reason or %s:\n%s", next, list)
	}
	out := ok(t, owner, "message", "show", msgs.Messages[0].ID)
	for _, want := range []string{"scheduled: its send_at has not come", "Next try  " + next, "Send at   " + next} {
		if !strings.Contains(out, want) {
			t.Errorf("message show lacks %q:\n%s", want, out)
		}
	}
	mustFail(t, wagateCLI(t, owner, "message", "list", "--limit", "0"), exitUsage, "--limit 0", "1 to 1000")
}

// TestEveryNounRouted: main hands every noun of the command table to the
// admin CLI (the endpoint and message commands were once missing there).
func TestEveryNounRouted(t *testing.T) {
	for _, c := range cliCommands() {
		r := wagateCLI(t, nil, c.noun)
		if strings.Contains(r.stderr, "wagate: unknown command") {
			t.Errorf("wagate %s: %s", c.noun, r.stderr)
		}
	}
}
