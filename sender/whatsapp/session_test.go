//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// newLinkHarness returns a manager on fakes where testRef has no device.
func newLinkHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{dev: newFakeDevices(), led: newMemLedger(), rec: newLinkRecorder(), rcp: make(chan Receipt, 64)}
	cfg.Logger = zaptest.NewLogger(t)
	cfg.OnLink = h.rec.on
	h.m = newManager(cfg, h.dev, h.led)
	t.Cleanup(func() { _ = h.m.Close() })
	// The fresh client Link will get: prepared so the test can feed it.
	h.cli = newFakeClient(false)
	h.cli.qr = make(chan whatsmeow.QRChannelItem, 8)
	h.dev.fresh[testRef] = h.cli
	return h
}

func qrCode(code string) whatsmeow.QRChannelItem {
	return whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: code, Timeout: 20 * time.Second}
}

// QR linking: the first code comes back from Link, rotations are reported,
// the account's own phone links, the session connects.
func TestLinkQRRotateSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLinkHarness(t, Config{})
		h.cli.qr <- qrCode("QR-1")
		l, err := h.m.Link(context.Background(), testAccount(), MethodQR)
		if err != nil || l.State != StateLinking || l.QR != "QR-1" || !l.ExpiresAt.Equal(time.Now().Add(20*time.Second)) {
			t.Fatalf("Link = %+v, %v; want linking with QR-1 expiring in 20s", l, err)
		}
		if strings.Contains(l.String(), "QR-1") {
			t.Errorf("Link.String() %q shows the QR code", l)
		}
		h.cli.qr <- qrCode("QR-2")
		synctest.Wait()
		if got := h.m.Status(testRef); got.QR != "QR-2" {
			t.Errorf("after rotation QR = %q, want QR-2", got.QR)
		}
		h.cli.emit(&events.PairSuccess{ID: types.JID{User: "14155550001", Device: 12, Server: types.DefaultUserServer}})
		h.cli.qr <- whatsmeow.QRChannelSuccess
		synctest.Wait()
		if jid, _ := h.dev.pairedJID(testRef); jid.User != "14155550001" || jid.Device != 12 {
			t.Fatalf("paired device = %v, want 14155550001:12", jid)
		}
		h.cli.emit(&events.Connected{})
		h.rec.waitState(t, StateConnected)
		if h.cli.stats().logouts != 0 {
			t.Errorf("logouts = %d", h.cli.stats().logouts)
		}
		// Linking again while connected is a conflict naming the fix.
		_, err = h.m.Link(context.Background(), testAccount(), MethodQR)
		if wagate.ErrorCode(err) != wagate.ECONFLICT || !strings.Contains(err.Error(), "unlink it first") {
			t.Errorf("second Link = %v, want ECONFLICT saying to unlink first", err)
		}
	})
}

// A phone of another number is logged out at once and its keys dropped.
func TestLinkWrongPhoneRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLinkHarness(t, Config{})
		h.cli.qr <- qrCode("QR-1")
		if _, err := h.m.Link(context.Background(), testAccount(), MethodQR); err != nil {
			t.Fatal(err)
		}
		forgets := h.dev.forgetCount()
		h.cli.emit(&events.PairSuccess{ID: types.JID{User: "447700900123", Device: 3, Server: types.DefaultUserServer}})
		h.cli.qr <- whatsmeow.QRChannelSuccess
		l := h.rec.waitState(t, StateError)
		if !strings.Contains(l.Error, "+447700900123, not this account's +14155550001") {
			t.Errorf("error = %q, want it to name both numbers", l.Error)
		}
		synctest.Wait()
		if h.cli.stats().logouts != 1 || h.dev.forgetCount() != forgets+1 {
			t.Errorf("logouts = %d, forgets +%d; want the device logged out and forgotten", h.cli.stats().logouts, h.dev.forgetCount()-forgets)
		}
		if _, ok := h.dev.pairedJID(testRef); ok {
			t.Error("the refused device was recorded as the account's")
		}
	})
}

// The library's own timeout (codes ran out) and wagate's LinkTimeout both
// end linking as unlinked, saying to link again.
func TestLinkTimeouts(t *testing.T) {
	t.Run("codes ran out", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newLinkHarness(t, Config{})
			h.cli.qr <- qrCode("QR-1")
			if _, err := h.m.Link(context.Background(), testAccount(), MethodQR); err != nil {
				t.Fatal(err)
			}
			h.cli.qr <- whatsmeow.QRChannelTimeout
			l := h.rec.waitState(t, StateUnlinked)
			if !strings.Contains(l.Error, "not scanned in time") {
				t.Errorf("error = %q", l.Error)
			}
		})
	})
	t.Run("LinkTimeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newLinkHarness(t, Config{LinkTimeout: time.Minute})
			h.cli.qr <- qrCode("QR-1")
			t0 := time.Now()
			if _, err := h.m.Link(context.Background(), testAccount(), MethodQR); err != nil {
				t.Fatal(err)
			}
			l := h.rec.waitState(t, StateUnlinked)
			if time.Since(t0) != time.Minute || !strings.Contains(l.Error, "within 1m0s") {
				t.Errorf("after %v: %q; want unlinked after 1m saying so", time.Since(t0), l.Error)
			}
			synctest.Wait()
			if h.cli.IsConnected() {
				t.Error("the linking connection is still open")
			}
		})
	})
}

// Pairing code: asked once the connection shows its first QR code, with
// the account's digits; the code is returned, later QR codes ignored.
func TestLinkPairingCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLinkHarness(t, Config{})
		h.cli.pairCode = "ABCD-EFGH"
		h.cli.qr <- qrCode("QR-1")
		l, err := h.m.Link(context.Background(), testAccount(), MethodCode)
		if err != nil || l.Code != "ABCD-EFGH" || l.QR != "" {
			t.Fatalf("Link = %+v, %v; want code ABCD-EFGH and no QR", l, err)
		}
		h.cli.qr <- qrCode("QR-2")
		synctest.Wait()
		if len(h.cli.stats().pairPhones) != 1 || h.cli.stats().pairPhones[0] != "14155550001" {
			t.Errorf("PairPhone calls = %v, want one with 14155550001", h.cli.stats().pairPhones)
		}
		if got := h.m.Status(testRef); got.Code != "ABCD-EFGH" {
			t.Errorf("status code = %q", got.Code)
		}
	})
}

func TestLinkBadMethod(t *testing.T) {
	m := newManager(Config{}, newFakeDevices(), newMemLedger())
	_, err := m.Link(context.Background(), testAccount(), "sms")
	if wagate.ErrorCode(err) != wagate.EINVALID || !strings.Contains(err.Error(), `"qr"`) {
		t.Errorf("err = %v, want EINVALID naming qr and code", err)
	}
}

// A connection that cannot be made is retried with a doubling backoff,
// reported as disconnected with the reason; once connected the backoff
// starts over.
func TestReconnectBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &harness{dev: newFakeDevices(), led: newMemLedger(), rec: newLinkRecorder()}
		h.cli = newFakeClient(true)
		dial := errors.New("dial tcp: lookup web.whatsapp.com: no such host")
		h.cli.connectErr = []error{dial, dial, dial}
		h.dev.linked[testRef] = h.cli
		h.m = newManager(Config{Logger: zaptest.NewLogger(t), OnLink: h.rec.on}, h.dev, h.led)
		defer h.m.Close()
		t0 := time.Now()
		h.m.Start(context.Background(), testAccount())
		l := h.rec.waitState(t, StateDisconnected)
		if !strings.Contains(l.Error, "no such host") || !strings.Contains(l.Error, "next try in 2s") {
			t.Errorf("state error = %q, want the reason and the next try", l.Error)
		}
		synctest.Wait()
		time.Sleep(time.Hour)
		var at []time.Duration
		for _, c := range h.cli.stats().connects {
			at = append(at, c.Sub(t0))
		}
		want := []time.Duration{0, 2 * time.Second, 6 * time.Second, 14 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("connects at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("connects at %v, want %v", at, want)
			}
		}
		h.cli.emit(&events.Connected{})
		h.rec.waitState(t, StateConnected)
		// Dropped: reconnect after the first backoff again.
		t1 := time.Now()
		h.cli.emit(&events.Disconnected{})
		h.rec.waitState(t, StateDisconnected)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(h.cli.stats().connects); n != 5 || h.cli.stats().connects[4].Sub(t1) != 2*time.Second {
			t.Errorf("reconnect after a drop: %d connects, last %v after the drop; want 5, 2s", n, h.cli.stats().connects[len(h.cli.stats().connects)-1].Sub(t1))
		}
	})
}

// Logged out on the phone: logged_out, keys dropped, no reconnect, sends wait.
func TestLoggedOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		connects := len(h.cli.stats().connects)
		h.cli.emit(&events.LoggedOut{OnConnect: false})
		l := h.rec.waitState(t, StateLoggedOut)
		if !strings.Contains(l.Error, "link the account again") {
			t.Errorf("error = %q", l.Error)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if len(h.cli.stats().connects) != connects || h.dev.forgetCount() != 1 {
			t.Errorf("connects +%d, forgets %d; want no reconnect and the keys dropped", len(h.cli.stats().connects)-connects, h.dev.forgetCount())
		}
		if got := h.m.Status(testRef).State; got != StateLoggedOut {
			t.Errorf("status after the session ended = %s", got)
		}
		_, err := h.m.Send(context.Background(), testAccount(), textMessage("wa_backend:A", "1203630@g.us", "x"), nil)
		if !sender.IsUnavailable(err) || !strings.Contains(err.Error(), "logged_out") {
			t.Errorf("send = %v, want unavailable naming logged_out", err)
		}
	})
}

// A temporary ban: banned until the end, sends wait that long, then the
// session says the ban ended and reconnects. WhatsApp bans at connect time
// and closes the connection, as the fake does here.
func TestTemporaryBan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		connects := len(h.cli.stats().connects)
		h.cli.Disconnect()
		h.cli.emit(&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: 2 * time.Hour})
		l := h.rec.waitState(t, StateBanned)
		if !l.Until.Equal(time.Now().Add(2 * time.Hour)) {
			t.Errorf("until = %v, want now+2h", l.Until)
		}
		_, err := h.m.Send(context.Background(), testAccount(), textMessage("wa_backend:A", "1203630@g.us", "x"), nil)
		if !sender.IsUnavailable(err) || !strings.Contains(err.Error(), "banned by WhatsApp until") {
			t.Errorf("send = %v, want unavailable naming the end of the ban", err)
		}
		time.Sleep(2*time.Hour - time.Second)
		synctest.Wait()
		if len(h.cli.stats().connects) != connects {
			t.Errorf("reconnected during the ban")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if len(h.cli.stats().connects) != connects+1 {
			t.Errorf("connects = %d after the ban, want %d", len(h.cli.stats().connects), connects+1)
		}
		if l := h.m.Status(testRef); l.State != StateDisconnected || !strings.Contains(l.Error, "ban ended") {
			t.Errorf("state after the ban = %s, want disconnected saying the ban ended", l)
		}
	})
}

// Outdated and a replaced stream end the session with a state that says
// what to do; unlink logs out and forgets.
func TestOutdatedAndUnlink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		h.cli.emit(&events.ClientOutdated{})
		l := h.rec.waitState(t, StateOutdated)
		if !strings.Contains(l.Error, "update wagate") {
			t.Errorf("error = %q", l.Error)
		}
		synctest.Wait()
		h.cli.setLoggedIn(true)
		if err := h.m.Unlink(context.Background(), testRef); err != nil {
			t.Fatal(err)
		}
		if h.cli.stats().logouts != 1 || h.m.Status(testRef).State != StateUnlinked {
			t.Errorf("logouts %d, state %s; want logged out and unlinked", h.cli.stats().logouts, h.m.Status(testRef).State)
		}
	})
}

// Stop ends the session (paused account): the client is disconnected and
// its handler removed; Start brings it back.
func TestStopStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		h.m.Stop(testRef)
		if h.cli.IsConnected() || h.cli.stats().handlers != 0 {
			t.Errorf("after Stop: connected %v, %d handlers", h.cli.IsConnected(), h.cli.stats().handlers)
		}
		h.m.Start(context.Background(), testAccount())
		h.connect(t)
		if h.m.Status(testRef).State != StateConnected {
			t.Error("not connected after Start")
		}
	})
}

// A Start that finds the account's session ended but not yet forgotten
// (its goroutine closes done, then removes it from the Manager a moment
// later: a Stop returns in between) starts a new session. It used to take
// the ended one for running and start nothing: TestStopStart deadlocked
// now and then, waiting for a Connect that never came.
func TestStartAfterAnEndedSessionNotYetForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		old := h.m.session(testRef)
		h.m.Stop(testRef)
		synctest.Wait()
		// The moment between the session's end and its goroutine's cleanup.
		h.m.mu.Lock()
		h.m.sessions[testRef] = old
		h.m.mu.Unlock()
		connects := len(h.cli.stats().connects)
		h.m.Start(context.Background(), testAccount())
		synctest.Wait()
		if got := len(h.cli.stats().connects); got != connects+1 {
			t.Fatalf("Start after an ended session: %d connects, want 1", got-connects)
		}
		h.connect(t)
		if s := h.m.session(testRef); s == nil || s == old {
			t.Errorf("session after Start = %p, want a new one (old %p)", s, old)
		}
	})
}

// A relink is one step to a Start (the sender's, when it claims the
// account): a Start that comes after the relink stopped the old session and
// before it started the linking one waits, then finds the linking session.
// Without that wait it found no session and a device whose keys were being
// dropped: it started a session of the old device (and Link answered a
// conflict) or reported the account unlinked, which ended a link handed
// over from another replica (TestWhatsAppReplicasLinkPageOnAnyReplica).
func TestStartWaitsForARelink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, false) // started, not connected: a relink may replace it
		fresh := newFakeClient(false)
		fresh.qr = make(chan whatsmeow.QRChannelItem, 8)
		fresh.qr <- qrCode("QR-1")
		h.dev.mu.Lock()
		h.dev.fresh[testRef] = fresh
		held, release := make(chan struct{}), make(chan struct{})
		h.dev.beforeForget = func() {
			close(held)
			<-release
		}
		h.dev.mu.Unlock()
		linked := make(chan error, 1)
		go func() {
			_, err := h.m.Link(context.Background(), testAccount(), MethodQR)
			linked <- err
		}()
		<-held // the old session is stopped, the keys not yet dropped
		synctest.Wait()
		h.dev.mu.Lock()
		h.dev.beforeForget = nil
		h.dev.mu.Unlock()
		started := make(chan struct{})
		go func() {
			h.m.Start(context.Background(), testAccount())
			close(started)
		}()
		synctest.Wait()
		select {
		case <-started:
			t.Error("Start returned in the middle of a relink")
		default:
		}
		close(release)
		if err := <-linked; err != nil {
			t.Fatalf("Link = %v, want linking", err)
		}
		<-started
		synctest.Wait()
		if l := h.m.Status(testRef); l.State != StateLinking || l.QR != "QR-1" {
			t.Errorf("after the relink and the Start = %+v, want linking with QR-1", l)
		}
		if n := len(h.cli.stats().connects); n != 1 {
			t.Errorf("the old device connected %d times, want once (before the relink)", n)
		}
		h.rec.mu.Lock()
		defer h.rec.mu.Unlock()
		for _, l := range h.rec.links {
			if l.State == StateUnlinked {
				t.Errorf("reported %+v during the relink", l)
			}
		}
	})
}

// QR codes and pairing codes are secrets of the moment: in the states
// (for the owner's page), never in a log line.
func TestLinkNeverLogsSecrets(t *testing.T) {
	for _, method := range []string{MethodQR, MethodCode} {
		t.Run(method, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				core, logs := observer.New(zap.DebugLevel)
				h := &harness{dev: newFakeDevices(), led: newMemLedger(), rec: newLinkRecorder()}
				h.m = newManager(Config{Logger: zap.New(core), OnLink: h.rec.on}, h.dev, h.led)
				defer h.m.Close()
				h.cli = newFakeClient(false)
				h.cli.qr = make(chan whatsmeow.QRChannelItem, 8)
				h.cli.pairCode = "SECR-CODE"
				h.dev.fresh[testRef] = h.cli
				h.cli.qr <- qrCode("2@SECRET-QR")
				l, err := h.m.Link(context.Background(), testAccount(), method)
				if err != nil || (l.QR == "" && l.Code == "") {
					t.Fatalf("Link = %+v, %v", l, err)
				}
				h.cli.qr <- whatsmeow.QRChannelTimeout
				h.rec.waitState(t, StateUnlinked)
				for _, e := range logs.All() {
					line := e.Message
					for k, v := range e.ContextMap() {
						line += " " + k + "=" + fmt.Sprint(v)
					}
					if strings.Contains(line, "SECRET-QR") || strings.Contains(line, "SECR-CODE") {
						t.Errorf("a secret in the log: %s", line)
					}
				}
				if logs.Len() == 0 {
					t.Error("nothing logged: the test would not see a leak")
				}
			})
		})
	}
}
