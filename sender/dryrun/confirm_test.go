package dryrun

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

func TestConfirmReadsTheOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tr := open(t, path)
	sent, quoted, cut, never := message(1), message(2), message(3), message(4)
	quoted.Text = "about " + never.ID // another message's id in a text
	for _, m := range []*wagate.Message{sent, quoted} {
		if _, err := tr.Send(context.Background(), acct, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A crash in the middle of a write leaves half a line.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"at":"2026-01-01T00:00:00Z","account":"+15105566777","to":"x","message_id":"` + cut.ID + `","te`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	tests := []struct {
		m    *wagate.Message
		want sender.Delivery
		id   string
	}{
		{sent, sender.Delivered, ProviderIDPrefix + sent.ID},
		{quoted, sender.Delivered, ProviderIDPrefix + quoted.ID},
		{cut, sender.DeliveryUnknown, ""},
		{never, sender.NotDelivered, ""},
	}
	for _, tt := range tests {
		d, id, err := tr.Confirm(context.Background(), acct, tt.m)
		if err != nil || d != tt.want || id != tt.id {
			t.Errorf("Confirm(%s) = %v, %q, %v; want %v, %q", tt.m.Text, d, id, err, tt.want, tt.id)
		}
	}

	// Opening the outbox again ends the cut line, so the next line is whole.
	tr.Close()
	tr2 := open(t, path)
	if _, err := tr2.Send(context.Background(), acct, never, nil); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := tr2.Confirm(context.Background(), acct, never); d != sender.Delivered {
		t.Errorf("Confirm after the repair = %v, want delivered", d)
	}
}

func TestConfirmWithoutOutbox(t *testing.T) {
	dir := t.TempDir()
	tr := open(t, filepath.Join(dir, FileName))
	tr.path = filepath.Join(dir, "gone.jsonl")
	if d, _, err := tr.Confirm(context.Background(), acct, message(1)); d != sender.DeliveryUnknown || err == nil {
		t.Errorf("Confirm of an unreadable outbox = %v, %v; want unknown and an error", d, err)
	}
}

func TestTestDelay(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tr, err := New(path, WithTestDelay(time.Hour, false))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// Waiting before the write: a send whose context ends writes nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := tr.Send(ctx, acct, message(1), nil); err == nil {
		t.Fatal("a send held by the test delay returned no error when its context ended")
	}
	if d, _, _ := tr.Confirm(context.Background(), acct, message(1)); d != sender.NotDelivered {
		t.Errorf("Confirm = %v, want not delivered: the line was never written", d)
	}

	after, err := New(path, WithTestDelay(time.Hour, true))
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if res, err := after.Send(ctx2, acct, message(2), nil); err != nil || res.ProviderID == "" {
		t.Fatalf("a send held after its write = %q, %v; want its id: the line is written", res.ProviderID, err)
	}
	if lines := readLines(t, path); len(lines) != 1 || lines[0]["message_id"] != message(2).ID {
		t.Errorf("outbox = %v, want the one line of message 2", lines)
	}
}

// TestSharedOutboxConfirmsAcrossReplicas: two replicas' transports append
// to one outbox (Shared); the one that did not send confirms the other's
// send, and says it may be asked at a takeover. An outbox of one process
// is not to be asked about another replica's send.
func TestSharedOutboxConfirmsAcrossReplicas(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	a, err := New(path, Shared())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(path, Shared())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	byA, byB, never := message(1), message(2), message(3)
	if _, err := a.Send(context.Background(), acct, byA, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Send(context.Background(), acct, byB, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		m    *wagate.Message
		want sender.Delivery
	}{{byA, sender.Delivered}, {byB, sender.Delivered}, {never, sender.NotDelivered}} {
		if d, _, err := b.Confirm(context.Background(), acct, tt.m); err != nil || d != tt.want {
			t.Errorf("b.Confirm(%s) = %v, %v; want %v", tt.m.ID, d, err, tt.want)
		}
	}
	if !a.ConfirmsAcrossReplicas() || !b.ConfirmsAcrossReplicas() {
		t.Error("a shared outbox must say it confirms across replicas")
	}
	if open(t, filepath.Join(t.TempDir(), FileName)).ConfirmsAcrossReplicas() {
		t.Error("an outbox of one replica must not say it confirms across replicas")
	}
}
