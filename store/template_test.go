package store

import (
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// TestTemplates: create, find, list by name, update, delete; a name taken
// and the limit are conflicts checked in the write.
func TestTemplates(t *testing.T) {
	f := newFixture(t, 10)
	at := f.clock.Now()
	mk := func(name string) *wagate.Template {
		return &wagate.Template{WorkspaceID: f.ws.ID, Name: name, Text: "Hi {{name}}", CreatedAt: at, UpdatedAt: at}
	}
	mustNoErr(t, f.db.CreateTemplate(f.ctx, mk("b_second"), 2))
	first := mk("a_first")
	first.CloudAPI = &wagate.TemplateCloudAPI{AccountPhone: testPhone, Name: "hello", Language: "en_US", Parameters: []string{"name"}}
	mustNoErr(t, f.db.CreateTemplate(f.ctx, first, 2))
	wantCode(t, f.db.CreateTemplate(f.ctx, mk("a_first"), 0), wagate.ECONFLICT)
	err := f.db.CreateTemplate(f.ctx, mk("c_third"), 2)
	if wagate.ErrorCode(err) != wagate.ECONFLICT || !errors.Is(err, wagate.ErrTemplateLimit) {
		t.Fatalf("create past the limit: %v; want ECONFLICT wrapping ErrTemplateLimit", err)
	}
	wantCode(t, f.db.CreateTemplate(f.ctx, &wagate.Template{WorkspaceID: "ws_nope", Name: "x"}, 0), wagate.ENOTFOUND)

	list, err := f.db.ListTemplates(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if len(list) != 2 || list[0].Name != "a_first" || list[1].Name != "b_second" {
		t.Fatalf("list = %v", list)
	}
	got, err := f.db.FindTemplate(f.ctx, f.ws.ID, "a_first")
	mustNoErr(t, err)
	if got.CloudAPI == nil || got.CloudAPI.Name != "hello" || got.CloudAPI.Parameters[0] != "name" || !got.CreatedAt.Equal(at) {
		t.Fatalf("found = %+v", got)
	}
	upd, err := f.db.UpdateTemplate(f.ctx, f.ws.ID, "a_first", func(t *wagate.Template) error {
		t.Text, t.CloudAPI, t.Name = "Bye", nil, "renamed"
		return nil
	})
	mustNoErr(t, err)
	if upd.Name != "a_first" || upd.Text != "Bye" || upd.CloudAPI != nil {
		t.Fatalf("updated = %+v; the name must not change", upd)
	}
	_, err = f.db.UpdateTemplate(f.ctx, f.ws.ID, "a_first", func(*wagate.Template) error { return wagate.Errorf(wagate.ECONFLICT, "stop") })
	wantCode(t, err, wagate.ECONFLICT)
	mustNoErr(t, f.db.DeleteTemplate(f.ctx, f.ws.ID, "a_first"))
	wantCode(t, f.db.DeleteTemplate(f.ctx, f.ws.ID, "a_first"), wagate.ENOTFOUND)
	_, err = f.db.FindTemplate(f.ctx, f.ws.ID, "a_first")
	wantCode(t, err, wagate.ENOTFOUND)
	checkBolt(t, f.db)
}

// TestAccountTemplates: synced provider templates are kept per account
// and replaced by the next sync.
func TestAccountTemplates(t *testing.T) {
	f := newFixture(t, 10)
	_, err := f.db.FindAccountTemplates(f.ctx, f.ref())
	wantCode(t, err, wagate.ENOTFOUND)
	at := f.clock.Now()
	set := &wagate.AccountTemplates{Account: f.ref(), SyncedAt: at, Templates: []wagate.ProviderTemplate{
		{Name: "order_shipped", Language: "en_US", Status: "APPROVED", Named: true, BodyParameters: []string{"name"}, HeaderFormat: "IMAGE"},
	}}
	mustNoErr(t, f.db.SetAccountTemplates(f.ctx, set))
	got, err := f.db.FindAccountTemplates(f.ctx, f.ref())
	mustNoErr(t, err)
	if p := got.Find("order_shipped", "en_US"); p == nil || !p.Named || p.HeaderFormat != "IMAGE" || p.BodyParameters[0] != "name" || !got.SyncedAt.Equal(at) {
		t.Fatalf("found = %+v", got)
	}
	set.Templates = nil
	mustNoErr(t, f.db.SetAccountTemplates(f.ctx, set))
	if got, _ = f.db.FindAccountTemplates(f.ctx, f.ref()); len(got.Templates) != 0 {
		t.Errorf("after an empty sync: %v", got.Templates)
	}
	wantCode(t, f.db.SetAccountTemplates(f.ctx, &wagate.AccountTemplates{Account: wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: testPhone2}}), wagate.ENOTFOUND)

	// The account deleted and connected again: the old list is not its.
	f.clock.Advance(time.Minute)
	mustNoErr(t, f.db.DeleteAccount(f.ctx, f.ref(), wagate.SourceSystem, f.clock.Now()))
	f.createAccount(f.ws.ID, testPhone, true)
	_, err = f.db.FindAccountTemplates(f.ctx, f.ref())
	wantCode(t, err, wagate.ENOTFOUND)
	checkBolt(t, f.db)
}

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

// TestCustomerWindow: the latest customer message is kept per chat key;
// an older report does not move it back.
func TestCustomerWindow(t *testing.T) {
	f := newFixture(t, 0)
	k := wagate.ChatKey{Transport: wagate.TransportCloudAPI, Sender: "106540352242922", Customer: "14155552671"}
	if _, ok, err := f.db.LastCustomerMessage(f.ctx, k); ok || err != nil {
		t.Fatalf("before any: ok %v err %v", ok, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	mustNoErr(t, f.db.RecordCustomerMessage(f.ctx, k, at))
	mustNoErr(t, f.db.RecordCustomerMessage(f.ctx, k, at.Add(-time.Hour)))
	got, ok, err := f.db.LastCustomerMessage(f.ctx, k)
	if !ok || err != nil || !got.Equal(at) {
		t.Fatalf("last = %v %v %v; want %v", got, ok, err, at)
	}
	other := k
	other.Sender = "999"
	if _, ok, _ := f.db.LastCustomerMessage(f.ctx, other); ok {
		t.Error("another number shares the window")
	}
	wantCode(t, f.db.RecordCustomerMessage(f.ctx, wagate.ChatKey{}, at), wagate.EINVALID)
	checkBolt(t, f.db)
}
