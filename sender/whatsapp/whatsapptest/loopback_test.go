//go:build !nowhatsapp

package whatsapptest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate"
)

// The loopback fake carries every event the Manager handles, in order and
// unchanged, and every call with its answer and the errors wagate tells
// apart: a process on it sees what a process on the in-process fake sees.
func TestLoopbackCarriesEventsAndCalls(t *testing.T) {
	wa := New()
	srv, err := wa.Serve()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only keeps a broken build from hanging
	defer cancel()
	ref := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550123"}
	rc := Dial(srv.Addr())(ref, true)
	got := make(chan any, 16)
	rc.AddEventHandler(func(e any) { got <- e })
	if err := rc.Connect(); err != nil {
		t.Fatal(err)
	}
	c := wa.Connecting(ctx, ref, nil)
	if c == nil || !rc.IsConnected() || !rc.IsLoggedIn() {
		t.Fatalf("after Connect: served client %v, connected %v, logged in %v", c, rc.IsConnected(), rc.IsLoggedIn())
	}

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	receipt := &events.Receipt{MessageIDs: []types.MessageID{"3EB0A", "3EB0B"}, Type: types.ReceiptTypeRead, Timestamp: at}
	receipt.IsFromMe = true
	for _, e := range []any{
		&events.Connected{}, &events.Disconnected{},
		&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut},
		&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: 2 * time.Hour},
		&events.ClientOutdated{}, &events.ConnectFailure{Reason: events.ConnectFailureInternalServerError, Message: "busy"},
		&events.StreamReplaced{}, &events.PairSuccess{ID: types.NewADJID("14155550123", 0, 1)},
		receipt,
	} {
		c.Emit(e)
		if g := <-got; !reflect.DeepEqual(g, e) {
			t.Errorf("emitted %#v, the process got %#v", e, g)
		}
	}

	ch, err := rc.GetQRChannel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.ShowQR("2@qr")
	if item := <-ch; item.Event != whatsmeow.QRChannelEventCode || item.Code != "2@qr" || item.Timeout != time.Minute {
		t.Errorf("QR item %+v, want the code 2@qr for a minute", item)
	}
	wa.SetPairCode("ABCD-EFGH")
	if code, err := rc.PairPhone(ctx, "14155550123", true, whatsmeow.PairClientChrome, "x"); err != nil || code != "ABCD-EFGH" || !reflect.DeepEqual(c.PairPhones(), []string{"14155550123"}) {
		t.Errorf("PairPhone = %q, %v; asked for %v", code, err, c.PairPhones())
	}

	on, err := rc.IsOnWhatsApp(ctx, []string{"+14155552671"})
	if err != nil || len(on) != 1 || !on[0].IsIn || on[0].JID.String() != "14155552671@s.whatsapp.net" {
		t.Errorf("IsOnWhatsApp = %+v, %v", on, err)
	}
	to := types.NewJID("14155552671", types.DefaultUserServer)
	res, err := rc.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String("hi")}, whatsmeow.SendRequestExtra{ID: "3EB0C"})
	if err != nil || res.ID != "3EB0C" {
		t.Fatalf("SendMessage = %+v, %v", res, err)
	}
	if sent := wa.SentBy(ref); len(sent) != 1 || sent[0].ID != "3EB0C" || sent[0].To != to || sent[0].Message.GetConversation() != "hi" {
		t.Errorf("WhatsApp took %+v, want the text hi to %s as 3EB0C", sent, to)
	}

	// A held ack ends with the caller; not connected is the library's error.
	took, _ := c.HoldAcks()
	sctx, scancel := context.WithCancel(ctx)
	go func() { <-took; scancel() }()
	if _, err := rc.SendMessage(sctx, to, &waE2E.Message{Conversation: proto.String("held")}, whatsmeow.SendRequestExtra{ID: "3EB0D"}); err == nil || errors.Is(err, whatsmeow.ErrNotConnected) {
		t.Errorf("held send ended with %v, want the caller's cancel", err)
	}
	rc.Disconnect()
	if _, err := rc.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String("x")}, whatsmeow.SendRequestExtra{ID: "3EB0E"}); !errors.Is(err, whatsmeow.ErrNotConnected) {
		t.Errorf("send while disconnected = %v, want whatsmeow.ErrNotConnected", err)
	}
	if ids := len(wa.SentBy(ref)); ids != 2 {
		t.Errorf("WhatsApp took %d messages, want 2 (the held one counts: it was handed over)", ids)
	}
}
