package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

// scriptLinker plays a linking: each LinkStatus answers the next state of
// the script (the last one stays), and every change is at once.
type scriptLinker struct {
	mu     sync.Mutex
	script []gateway.LinkStatus
	i      int
	method string
}

func (s *scriptLinker) Link(_ context.Context, _ *wagate.Account, method string) (gateway.LinkStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.method = method
	return s.script[0], nil
}

func (s *scriptLinker) LinkStatus(wagate.AccountRef) gateway.LinkStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.script[s.i]
	if s.i < len(s.script)-1 {
		s.i++
	}
	return l
}

func (s *scriptLinker) Unlink(context.Context, wagate.AccountRef) error { return nil }

func (s *scriptLinker) LinkChanged(wagate.AccountRef) <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// TestCLIAccountLink: `wagate account link` draws each QR code the server
// streams, then says the account is connected; with --code it shows the
// pairing code; a linking that ends otherwise is an error naming the state.
func TestCLIAccountLink(t *testing.T) {
	lk := &scriptLinker{script: []gateway.LinkStatus{
		{State: "linking", QR: "2@first-qr", ExpiresAt: time.Now().Add(time.Minute)},
		{State: "linking", QR: "2@second-qr"},
		{State: "connected"},
	}}
	whatsappTestLinker = lk
	t.Cleanup(func() { whatsappTestLinker = nil })
	dir := t.TempDir()
	in := start(t, testConfig(dir, time.Hour, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	env := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_TOKEN": ws.ownerToken, "WAGATE_WORKSPACE": ws.id}
	ok(t, env, "account", "add", "+14155550123", "--transport", "whatsapp")

	out := ok(t, env, "account", "link", "+14155550123")
	if strings.Count(out, "scan:") != 2 || !strings.Contains(out, "█") || !strings.Contains(out, "Connected as +14155550123") {
		t.Fatalf("account link drew:\n%s", out)
	}
	if lk.method != "qr" {
		t.Errorf("method %q, want qr", lk.method)
	}

	lk.mu.Lock()
	lk.script = []gateway.LinkStatus{{State: "linking", Code: "ABCD-EFGH"}, {State: "error", Error: "the phone refused"}}
	lk.i = 0
	lk.mu.Unlock()
	r := wagateCLI(t, env, "account", "link", "+14155550123", "--code")
	mustFail(t, r, exitRefused, "is error", "the phone refused", "wagate account link +14155550123")
	if !strings.Contains(r.stdout, "ABCD-EFGH") || lk.method != "code" {
		t.Errorf("--code: method %q, stdout:\n%s", lk.method, r.stdout)
	}
}
