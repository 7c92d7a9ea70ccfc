//go:build !nowhatsapp

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// startWithLogger is start with the given logger.
func startWithLogger(t *testing.T, cfg Config, log *zap.Logger) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	app, err := Start(ctx, cfg, out, log)
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	in := &instance{t: t, app: app, cancel: cancel, out: out, base: "http://" + app.Addr()}
	t.Cleanup(in.stop)
	return in
}

// TestWhatsAppLinkByPairingCode: linking by pairing code through the real
// server and the real Manager on a fake WhatsApp, by the API (POST …/link
// {"method":"code"}) and by `wagate account link --code`: the answer and
// the link page show WhatsApp's code, which was asked for the account's
// own number; the phone typing it links the account, which ends connected.
// The code (and the QR code WhatsApp sends before it) never reaches a log
// line at debug level, an account object or the CLI's error output.
func TestWhatsAppLinkByPairingCode(t *testing.T) {
	const code, qr = "K7QZ-4WMX", "2@qr-behind-the-code"
	wa := whatsapptest.New()
	wa.SetPairCode(code)
	useFakeWhatsApp(t, wa)
	core, logs := observer.New(zap.DebugLevel)
	dir := t.TempDir()
	in := startWithLogger(t, testConfig(dir, 10*time.Millisecond, 0), zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core)))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	linkURL := func(phone string) string {
		return in.base + "/api/v1/workspaces/" + ws.id + "/accounts/" + strings.ReplaceAll(phone, "+", "%2B") + "/link"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only keeps a broken build from hanging
	defer cancel()

	// By the API.
	const phone = "+14155550123"
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
	ref := wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}
	go func() {
		// WhatsApp opens a linking connection with a QR code; wagate asks
		// for the pairing code then.
		if c := wa.Linking(ctx, ref); c != nil {
			c.ShowQR(qr)
		}
	}()
	st, l := call(t, "POST", linkURL(phone), ws.ownerToken, map[string]any{"method": "code"})
	if st != http.StatusAccepted || l["state"] != "linking" || l["code"] != code || l["qr"] != "" {
		t.Fatalf("POST link by code = %d %v, want 202 linking with the code %s and no QR code", st, l, code)
	}
	c := wa.Linking(ctx, ref)
	if got := c.PairPhones(); !slices.Equal(got, []string{"14155550123"}) {
		t.Errorf("the pairing code was asked for %v, want once for the account's digits 14155550123", got)
	}
	if st, l := call(t, "GET", linkURL(phone), ws.ownerToken, nil); st != http.StatusOK || l["code"] != code {
		t.Errorf("GET link while linking = %d %v, want the code", st, l)
	}
	c.Pair(phone) // the phone typed the code
	c.Connected()
	waitFor(t, "the account connected", func() bool { return storedLink(t, in, ws, phone) == "connected" })
	if st, l := call(t, "GET", linkURL(phone), ws.ownerToken, nil); st != http.StatusOK || l["state"] != "connected" || l["code"] != "" {
		t.Errorf("GET link once connected = %d %v, want connected and the code gone", st, l)
	}

	// By the CLI, which shows the code and waits until connected.
	const phone2 = "+14155550124"
	env := map[string]string{"WAGATE_SERVER": in.base, "WAGATE_TOKEN": ws.ownerToken, "WAGATE_WORKSPACE": ws.id}
	ok(t, env, "account", "add", phone2, "--transport", "whatsapp")
	ref2 := wagate.AccountRef{WorkspaceID: ws.id, Phone: phone2}
	// The CLI's output is read while it runs: the phone may enter the code
	// only once the CLI has shown it (it subscribes to the link's events
	// after its POST, so a link completed before that would never show it).
	var cliOut, cliErr lockedBuffer
	done := make(chan cliResult, 1)
	go func() {
		code := run([]string{"account", "link", phone2, "--code"}, &cliOut, &cliErr, func(k string) string { return env[k] })
		done <- cliResult{code: code, stdout: cliOut.String(), stderr: cliErr.String()}
	}()
	c2 := wa.Linking(ctx, ref2)
	if c2 == nil {
		t.Fatal("`wagate account link --code` started no linking")
	}
	c2.ShowQR(qr)
	waitFor(t, "the pairing code shown by the CLI", func() bool { return strings.Contains(cliOut.String(), "    "+code+"\n") })
	c2.Pair(phone2)
	c2.Connected()
	var r cliResult
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("`wagate account link --code` did not return once the account connected")
	}
	if r.code != exitOK || !strings.Contains(r.stdout, "    "+code+"\n") || !strings.Contains(r.stdout, "Connected as "+phone2) {
		t.Fatalf("account link --code: exit %d\nstdout: %s\nstderr: %s\nwant the code shown, then connected", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, code) {
		t.Errorf("the code is in the CLI's error output: %s", r.stderr)
	}
	if got := storedLink(t, in, ws, phone2); got != "connected" {
		t.Errorf("account %s is %q after the CLI returned, want connected", phone2, got)
	}

	// Never in a log line, nor in the account objects.
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		line := fmt.Sprintf("%s %s %s", e.LoggerName, e.Message, b)
		if strings.Contains(line, code) || strings.Contains(line, qr) {
			t.Errorf("a linking secret in the log: %s", line)
		}
	}
	if logs.FilterMessage("link state").Len() == 0 {
		t.Error("no link state was logged: the test would not see a leak")
	}
	_, list := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, nil)
	if b, _ := json.Marshal(list); strings.Contains(string(b), code) {
		t.Errorf("the code is in the account objects: %s", b)
	}
}
