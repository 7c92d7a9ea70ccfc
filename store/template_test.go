package store

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// The contract (storetest.RunTemplates) covers templates, synced provider
// templates, a message's template send and the customer windows; what is
// left here is bbolt's own: the send reaches the sender by Next, and its
// record in its own bucket goes with the message.

// TestMessageTemplateTravelsWithMessage: a message's template send is
// committed with it and handed to the sender by Next.
func TestMessageTemplateTravelsWithMessage(t *testing.T) {
	f := newFixture(t, 10)
	a := f.request("Hi Jane", 1)
	a.Message.TemplateName = "order_shipped"
	a.Message.Template = &wagate.TemplateSend{Name: "order_shipped", Language: "en_US", Named: true, Parameters: []wagate.TemplateParameter{{Name: "name", Value: "Jane"}}, HeaderMedia: "image"}
	res := f.accept(a)
	if res.Message.Template == nil || res.Message.TemplateName != "order_shipped" {
		t.Fatalf("accept result = %+v", res.Message)
	}
	plain := f.send("plain")
	msgs, _, err := f.db.Next(f.ctx, f.ref(), f.clock.Now(), 10)
	mustNoErr(t, err)
	if len(msgs) != 2 || msgs[0].Template == nil || msgs[0].Template.Parameters[0] != (wagate.TemplateParameter{Name: "name", Value: "Jane"}) || msgs[0].Template.HeaderMedia != "image" || msgs[1].Template != nil {
		t.Fatalf("next = %+v", msgs)
	}
	if m := f.message(res.Message.ID); m.TemplateName != "order_shipped" || !m.Template.Named {
		t.Errorf("found = %+v", m)
	}
	if m := f.message(plain); m.TemplateName != "" || m.Template != nil {
		t.Errorf("a plain message has a template: %+v", m)
	}

	// Retention deletes the template record with its message.
	mustNoErr(t, f.db.MarkSending(f.ctx, res.Message.ID, f.clock.Now()))
	mustNoErr(t, f.db.MarkSent(f.ctx, res.Message.ID, wagate.Try{At: f.clock.Now(), Result: wagate.TryResultSent}))
	f.clock.Advance(time.Hour)
	n, err := f.db.PruneMessages(f.ctx, f.clock.Now())
	mustNoErr(t, err)
	if n != 1 {
		t.Fatalf("pruned %d, want the sent one", n)
	}
	_ = f.db.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMessageTemplates).Get([]byte(res.Message.ID)); v != nil {
			t.Error("the template record outlived its message")
		}
		return nil
	})
}
