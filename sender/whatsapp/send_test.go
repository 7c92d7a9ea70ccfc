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

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

func textMessage(id, jid, text string) *wagate.Message {
	return &wagate.Message{ID: id, WorkspaceID: testRef.WorkspaceID, AccountPhone: testRef.Phone, JID: jid, Text: text}
}

// A text goes with the derived id to the JID WhatsApp named; the number is
// asked about once a day.
func TestSendTextChecksRecipientOncePerDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		h.cli.onWA["14155552671"] = true
		ctx := context.Background()
		m := textMessage("wa_backend:AAAA", "14155552671@s.whatsapp.net", "hello")
		res, err := h.m.Send(ctx, testAccount(), m, nil)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if res.ProviderID != MessageID(m.ID) {
			t.Errorf("provider id = %q, want MessageID(%q) = %q", res.ProviderID, m.ID, MessageID(m.ID))
		}
		if res.PostedAt.IsZero() {
			t.Error("PostedAt is zero: the sender would count the gap from the call, typing and upload included")
		}
		sent := h.cli.sentMessages()
		if len(sent) != 1 || sent[0].id != res.ProviderID || sent[0].msg.GetConversation() != "hello" || sent[0].to.String() != "14155552671@s.whatsapp.net" {
			t.Fatalf("sent = %+v, want one text \"hello\" with id %s to 14155552671@s.whatsapp.net", sent, res.ProviderID)
		}
		if _, err := h.m.Send(ctx, testAccount(), textMessage("wa_backend:BBBB", m.JID, "again"), nil); err != nil {
			t.Fatal(err)
		}
		if h.cli.stats().isOnCalls != 1 {
			t.Errorf("IsOnWhatsApp calls = %d within a day, want 1", h.cli.stats().isOnCalls)
		}
		time.Sleep(DefaultRecipientTTL)
		if _, err := h.m.Send(ctx, testAccount(), textMessage("wa_backend:CCCC", m.JID, "next day"), nil); err != nil {
			t.Fatal(err)
		}
		if h.cli.stats().isOnCalls != 2 {
			t.Errorf("IsOnWhatsApp calls = %d after 24 h, want 2 (the answer expires)", h.cli.stats().isOnCalls)
		}
	})
}

func TestSendNotOnWhatsAppIsPermanent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		_, err := h.m.Send(context.Background(), testAccount(), textMessage("wa_backend:AAAA", "14155552671@s.whatsapp.net", "hi"), nil)
		if !sender.IsPermanent(err) || !strings.Contains(err.Error(), "+14155552671 is not on WhatsApp") {
			t.Fatalf("err = %v, want permanent naming +14155552671 as not on WhatsApp", err)
		}
		if n := len(h.cli.sentMessages()); n != 0 {
			t.Errorf("%d messages sent", n)
		}
		// The answer is cached too: no second question.
		_, _ = h.m.Send(context.Background(), testAccount(), textMessage("wa_backend:BBBB", "14155552671@s.whatsapp.net", "hi"), nil)
		if h.cli.stats().isOnCalls != 1 {
			t.Errorf("IsOnWhatsApp calls = %d, want 1", h.cli.stats().isOnCalls)
		}
	})
}

// Groups and @lid recipients are sent to as given, without a lookup.
func TestSendGroupAndLID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		for _, jid := range []string{"120363025246125486@g.us", "123456789012345@lid"} {
			if _, err := h.m.Send(context.Background(), testAccount(), textMessage("wa_backend:"+jid[:4], jid, "hi"), nil); err != nil {
				t.Fatalf("%s: %v", jid, err)
			}
		}
		sent := h.cli.sentMessages()
		if len(sent) != 2 || sent[0].to.Server != types.GroupServer || sent[1].to.Server != types.HiddenUserServer {
			t.Fatalf("sent to %v, want a group then a @lid", sent)
		}
		if h.cli.stats().isOnCalls != 0 {
			t.Errorf("IsOnWhatsApp asked %d times for group/lid", h.cli.stats().isOnCalls)
		}
	})
}

// A file goes as the message kind of its sniffed type with the text as
// caption; audio takes no caption, so its text follows as a second message.
func TestSendMediaKinds(t *testing.T) {
	cases := []struct {
		ctype, name string
		check       func(sent []sentMessage) string
	}{
		{"image/png", "a.png", func(s []sentMessage) string {
			im := s[0].msg.GetImageMessage()
			if len(s) != 1 || im == nil || im.GetCaption() != "look" || im.GetMimetype() != "image/png" {
				return "want one image with caption \"look\", image/png"
			}
			return ""
		}},
		{"video/mp4", "v.mp4", func(s []sentMessage) string {
			if len(s) != 1 || s[0].msg.GetVideoMessage().GetCaption() != "look" {
				return "want one video with caption"
			}
			return ""
		}},
		{"audio/ogg", "a.ogg", func(s []sentMessage) string {
			if len(s) != 2 || s[0].msg.GetAudioMessage() == nil || s[1].msg.GetConversation() != "look" || s[1].id != textMessageID("wa_backend:M1") {
				return "want an audio then the text as its own message with the derived text id"
			}
			return ""
		}},
		{"application/pdf", "report.pdf", func(s []sentMessage) string {
			d := s[0].msg.GetDocumentMessage()
			if len(s) != 1 || d.GetFileName() != "report.pdf" || d.GetCaption() != "look" || d.GetMimetype() != "application/pdf" {
				return "want a document report.pdf with caption"
			}
			return ""
		}},
		{"image/webp", "s.webp", func(s []sentMessage) string {
			if len(s) != 1 || s[0].msg.GetDocumentMessage() == nil {
				return "want WebP as a document"
			}
			return ""
		}},
	}
	for _, c := range cases {
		t.Run(c.ctype, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, Config{}, true)
				var gotType whatsmeow.MediaType
				h.cli.uploadFn = func(data []byte, mt whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
					gotType = mt
					return whatsmeow.UploadResponse{DirectPath: "/p", MediaKey: []byte{1}, FileLength: uint64(len(data))}, nil
				}
				file := &wagate.Attachment{Name: c.name, ContentType: c.ctype, Data: []byte("data")}
				res, err := h.m.Send(context.Background(), testAccount(), textMessage("wa_backend:M1", "120363025246125486@g.us", "look"), file)
				id := res.ProviderID
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				sent := h.cli.sentMessages()
				if msg := c.check(sent); msg != "" {
					t.Fatalf("%s: sent %v", msg, sent)
				}
				if sent[0].id != id {
					t.Errorf("the file's message id = %s, want the returned %s", sent[0].id, id)
				}
				k, _ := kindOf(c.ctype)
				if gotType != mediaTypes[k] {
					t.Errorf("uploaded as %q, want %q", gotType, mediaTypes[k])
				}
			})
		})
	}
}

// The audio went, its text did not: the next try sends only the text,
// never the audio again.
func TestSendRetryAfterHalfSentAudioSkipsTheFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		text := textMessageID("wa_backend:M1")
		fails := 1
		h.cli.sendErr = func(id string) error {
			if id == text && fails > 0 {
				fails--
				return fmt.Errorf("%w 500", whatsmeow.ErrServerReturnedError)
			}
			return nil
		}
		file := &wagate.Attachment{Name: "a.ogg", ContentType: "audio/ogg", Data: []byte("x")}
		m := textMessage("wa_backend:M1", "120363025246125486@g.us", "caption")
		if _, err := h.m.Send(context.Background(), testAccount(), m, file); err == nil || sender.IsPermanent(err) {
			t.Fatalf("first try err = %v, want a transient error (server 500)", err)
		}
		if _, err := h.m.Send(context.Background(), testAccount(), m, file); err != nil {
			t.Fatalf("second try: %v", err)
		}
		var audios int
		for _, s := range h.cli.sentMessages() {
			if s.msg.GetAudioMessage() != nil {
				audios++
			}
		}
		if audios != 1 {
			t.Errorf("audio sent %d times, want once", audios)
		}
	})
}

func TestClassifySend(t *testing.T) {
	serverErr := func(code int) error { return fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, code) }
	cases := []struct {
		name      string
		err       error
		permanent bool
		unavail   bool
		retry     time.Duration // RetryAfter delay, 0 = none
		text      string
	}{
		{"reach-out 463", serverErr(463), true, false, 0, "error 463"},
		{"rate limit 429", serverErr(429), false, false, rateLimitWait, "rate limit"},
		{"server 500", serverErr(500), false, false, 0, "error 500"},
		{"refused 400", serverErr(400), true, false, 0, "error 400"},
		{"not connected", whatsmeow.ErrNotConnected, false, true, 0, "not connected"},
		{"not logged in", whatsmeow.ErrNotLoggedIn, false, true, 0, "waits"},
		{"iq rate", fmt.Errorf("failed to get group members: %w", whatsmeow.ErrIQRateOverLimit), false, false, rateLimitWait, "rate"},
		{"iq error", fmt.Errorf("failed to get user info: %w", whatsmeow.ErrIQInternalServerError), false, false, 0, "preparing"},
		{"ack timeout", whatsmeow.ErrMessageTimedOut, true, false, 0, "interrupted"},
		{"cancelled", context.Canceled, true, false, 0, "interrupted"},
		{"unknown", errors.New("something odd"), true, false, 0, "does not send it again"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := classifySend(c.err)
			if sender.IsPermanent(err) != c.permanent {
				t.Errorf("permanent = %v, want %v (%v)", sender.IsPermanent(err), c.permanent, err)
			}
			if sender.IsUnavailable(err) != c.unavail || sender.IsDeferred(err) {
				t.Errorf("unavailable = %v deferred = %v, want unavailable %v and never deferred (%v)", sender.IsUnavailable(err), sender.IsDeferred(err), c.unavail, err)
			}
			d, ok := sender.RetryDelay(err)
			if (c.retry != 0) != ok || d != c.retry {
				t.Errorf("retry delay = %v %v, want %v", d, ok, c.retry)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not say %q", err, c.text)
			}
		})
	}
	if err := classifySend(serverErr(463)); !strings.Contains(err.Error(), "Ask the person to message this number first") {
		t.Errorf("463 text = %q, want advice a person can follow", err)
	}
}

// While the account is not connected, its messages wait: Unavailable,
// nothing tried, no retry spent.
func TestSendWhileDisconnectedDefers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		h.cli.emit(&events.Disconnected{})
		_, err := h.m.Send(context.Background(), testAccount(), textMessage("wa_backend:AAAA", "120363025246125486@g.us", "hi"), nil)
		if !sender.IsUnavailable(err) || !strings.Contains(err.Error(), "disconnected") {
			t.Fatalf("err = %v, want unavailable naming the state", err)
		}
		if n := len(h.cli.sentMessages()); n != 0 {
			t.Errorf("%d sent", n)
		}
		// An account without a session defers too.
		other := &wagate.Account{WorkspaceID: "ws1", Phone: "+14155550009", Transport: TransportName}
		if _, err := h.m.Send(context.Background(), other, textMessage("wa_backend:B", "120363025246125486@g.us", "hi"), nil); !sender.IsUnavailable(err) {
			t.Errorf("no session: err = %v, want unavailable", err)
		}
	})
}

// A connection that drops between the state check and SendMessage (the
// session still says connected, the client answers ErrNotConnected) makes
// the message wait for the wake like a known disconnect: Unavailable, not
// a timed Defer, and nothing recorded as sent.
func TestSendMidSendDisconnectUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		h.cli.mu.Lock()
		h.cli.connected = false // the websocket dropped; no event yet
		h.cli.mu.Unlock()
		m := textMessage("wa_backend:AAAA", "120363025246125486@g.us", "hi")
		_, err := h.m.Send(context.Background(), testAccount(), m, nil)
		if !sender.IsUnavailable(err) || sender.IsDeferred(err) || sender.IsPermanent(err) || !strings.Contains(err.Error(), "not connected") {
			t.Fatalf("err = %v, want unavailable (not deferred, not permanent) saying not connected", err)
		}
		if n := len(h.cli.sentMessages()); n != 0 {
			t.Errorf("%d sent", n)
		}
		// The message never left: Confirm after a crash would not call it sent.
		if k, _ := h.led.lookup(context.Background(), testRef, MessageID(m.ID)); ledgerRank[k] >= ledgerRank[ledgerAcked] {
			t.Errorf("ledger says %q for a message that never left", k)
		}
	})
}

// A send interrupted after the message left fails as interrupted; the
// receipt that comes later marks it delivered, and Confirm (after a crash)
// says Delivered.
func TestInterruptedSendConfirmedByReceipt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		h.cli.sendErr = func(string) error { return whatsmeow.ErrMessageTimedOut }
		m := textMessage("wa_backend:AAAA", "120363025246125486@g.us", "hi")
		_, err := h.m.Send(context.Background(), testAccount(), m, nil)
		if !sender.IsPermanent(err) || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("err = %v, want permanent interrupted", err)
		}
		waID := MessageID(m.ID)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		d, _, _ := h.m.Confirm(ctx, testAccount(), m)
		cancel()
		if d != sender.DeliveryUnknown {
			t.Errorf("Confirm before any receipt = %v, want unknown", d)
		}
		h.cli.emit(&events.Receipt{MessageIDs: []types.MessageID{waID}, Type: types.ReceiptTypeDelivered, Timestamp: time.Now()})
		r := <-h.rcp
		if r.ProviderID != waID || r.Status != StatusDelivered || r.Account != testRef {
			t.Errorf("receipt = %+v, want delivered of %s", r, waID)
		}
		d, pid, err := h.m.Confirm(context.Background(), testAccount(), m)
		if d != sender.Delivered || pid != waID || err != nil {
			t.Errorf("Confirm = %v %q %v, want delivered %s", d, pid, err, waID)
		}
		// A message never handed to the client is certainly not delivered.
		d, _, _ = h.m.Confirm(context.Background(), testAccount(), textMessage("wa_backend:NEVER", "1@g.us", ""))
		if d != sender.NotDelivered {
			t.Errorf("Confirm of an unsent message = %v, want not_delivered", d)
		}
	})
}

// Receipts: delivered then read, each once; others' messages and the
// account's own reading are ignored.
func TestReceipts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, true)
		m := textMessage("wa_backend:AAAA", "120363025246125486@g.us", "hi")
		res, err := h.m.Send(context.Background(), testAccount(), m, nil)
		waID := res.ProviderID
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		for _, e := range []*events.Receipt{
			{MessageIDs: []types.MessageID{waID}, Type: types.ReceiptTypeDelivered, Timestamp: at},
			{MessageIDs: []types.MessageID{waID}, Type: types.ReceiptTypeDelivered, Timestamp: at}, // a second group member
			{MessageIDs: []types.MessageID{"3EB0NOTOURS"}, Type: types.ReceiptTypeRead, Timestamp: at},
			{MessageSource: types.MessageSource{IsFromMe: true}, MessageIDs: []types.MessageID{waID}, Type: types.ReceiptTypeReadSelf, Timestamp: at},
			{MessageIDs: []types.MessageID{waID}, Type: types.ReceiptTypeRead, Timestamp: at},
		} {
			h.cli.emit(e)
		}
		synctest.Wait()
		var got []string
		for len(h.rcp) > 0 {
			got = append(got, (<-h.rcp).Status)
		}
		if strings.Join(got, ",") != "delivered,read" {
			t.Errorf("receipts = %v, want delivered,read", got)
		}
		u := Receipt{Account: testRef, ProviderID: waID, Status: StatusRead}.DeliveryUpdate()
		if u.From.Setting != DeliveryFromAccountPhone || u.From.Value != testRef.Phone {
			t.Errorf("DeliveryUpdate.From = %+v, want the account's phone", u.From)
		}
	})
}

// With the account's typing setting, "composing" shows before the send for
// TypingDuration of the text, capped by the gap.
func TestTypingBeforeSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{TypingLimit: 2 * time.Second}, true)
		acct := testAccount()
		acct.Settings[SettingTyping] = "true"
		t0 := time.Now()
		if _, err := h.m.Send(context.Background(), acct, textMessage("wa_backend:A", "1203630@g.us", "hi"), nil); err != nil {
			t.Fatal(err)
		}
		if got, want := time.Since(t0), TypingDuration("hi", 2*time.Second); got != want {
			t.Errorf("typing took %v, want %v", got, want)
		}
		if len(h.cli.stats().presence) != 1 || h.cli.stats().presence[0] != types.ChatPresenceComposing {
			t.Errorf("presence = %v, want composing", h.cli.stats().presence)
		}
		t0 = time.Now()
		if _, err := h.m.Send(context.Background(), acct, textMessage("wa_backend:B", "1203630@g.us", strings.Repeat("x", 500)), nil); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(t0); got != 2*time.Second {
			t.Errorf("typing a long text took %v, want the cap 2s", got)
		}
		// Without the setting: no typing.
		t0 = time.Now()
		if _, err := h.m.Send(context.Background(), testAccount(), textMessage("wa_backend:C", "1203630@g.us", "hi"), nil); err != nil {
			t.Fatal(err)
		}
		if time.Since(t0) != 0 || len(h.cli.stats().presence) != 2 {
			t.Errorf("an account without typing waited %v (presence %v)", time.Since(t0), h.cli.stats().presence)
		}
	})
}
