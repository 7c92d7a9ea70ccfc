package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// TemplateStore is what RunTemplates needs: templates belong to
// workspaces, synced provider templates to accounts, and a message keeps
// the template send it was accepted with.
type TemplateStore interface {
	MessageStore
	wagate.TemplateService
	wagate.WindowService
}

// RunTemplates runs the behaviours of wagate.TemplateService and
// WindowService: a workspace's templates (the name taken and the limit
// checked in the write), the provider templates synced per account, the
// template send a message is accepted with, and the customers' 24-hour
// windows.
func RunTemplates[S TemplateStore](t *testing.T, h Harness[S]) {
	run(t, h, "templates", templateBehaviours[S]())
}

// newTemplate is a template of the workspace at the clock's time.
func newTemplate[S TemplateStore](w *messageWorld[S], name string) *wagate.Template {
	at := w.clock.Now()
	return &wagate.Template{WorkspaceID: w.ws.ID, Name: name, Text: "Hi {{name}}", CreatedAt: at, UpdatedAt: at}
}

func templateBehaviours[S TemplateStore]() []behaviour[S] {
	return []behaviour[S]{
		{"a template keeps its text, file, mapping and times", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			tpl := newTemplate(w, "order_shipped")
			tpl.FileURL, tpl.FileName = "https://example.com/label.pdf", "label.pdf"
			tpl.CloudAPI = &wagate.TemplateCloudAPI{AccountPhone: phone1, Name: "hello", Language: "en_US", Parameters: []string{"name", "order"}}
			must(t, f.s.CreateTemplate(f.ctx, tpl, 0), "CreateTemplate")
			f.reopen()
			got, err := f.s.FindTemplate(f.ctx, w.ws.ID, "order_shipped")
			must(t, err, "FindTemplate")
			if got.WorkspaceID != w.ws.ID || got.Name != tpl.Name || got.Text != tpl.Text || got.FileURL != tpl.FileURL || got.FileName != tpl.FileName {
				t.Errorf("found %+v, want the template as created", got)
			}
			if c := got.CloudAPI; c == nil || c.AccountPhone != phone1 || c.Name != "hello" || c.Language != "en_US" || len(c.Parameters) != 2 || c.Parameters[1] != "order" {
				t.Errorf("cloudapi mapping %+v, want %+v", c, tpl.CloudAPI)
			}
			sameTime(t, got.CreatedAt, tpl.CreatedAt, "CreatedAt")
			sameTime(t, got.UpdatedAt, tpl.UpdatedAt, "UpdatedAt")
		}},
		{"a template name is taken once per workspace, and the limit is checked in the write", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			must(t, f.s.CreateTemplate(f.ctx, newTemplate(w, "b_second"), 2), "CreateTemplate b_second")
			must(t, f.s.CreateTemplate(f.ctx, newTemplate(w, "a_first"), 2), "CreateTemplate a_first")
			wantCode(t, f.s.CreateTemplate(f.ctx, newTemplate(w, "a_first"), 0), wagate.ECONFLICT, "CreateTemplate with a taken name")
			err := f.s.CreateTemplate(f.ctx, newTemplate(w, "c_third"), 2)
			wantCode(t, err, wagate.ECONFLICT, "CreateTemplate past the limit")
			if !errors.Is(err, wagate.ErrTemplateLimit) {
				t.Errorf("CreateTemplate past the limit: %v does not wrap ErrTemplateLimit", err)
			}
			other := newWorkspace(t, f.ctx, f.s, 1)
			tpl := newTemplate(w, "a_first")
			tpl.WorkspaceID = other.ID
			must(t, f.s.CreateTemplate(f.ctx, tpl, 2), "CreateTemplate of the name in another workspace")
			wantCode(t, f.s.CreateTemplate(f.ctx, &wagate.Template{WorkspaceID: "ws_0000000000000000", Name: "x"}, 0), wagate.ENOTFOUND, "CreateTemplate in an unknown workspace")
			wantCode(t, f.s.CreateTemplate(f.ctx, newTemplate(w, "Not A Name"), 0), wagate.EINVALID, "CreateTemplate with a bad name")
			list, err := f.s.ListTemplates(f.ctx, w.ws.ID)
			must(t, err, "ListTemplates")
			if len(list) != 2 || list[0].Name != "a_first" || list[1].Name != "b_second" {
				t.Errorf("ListTemplates: %d templates %v, want a_first then b_second", len(list), templateNames(list))
			}
		}},
		{"racing template creates at the limit keep it", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			var created atomic.Int32
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					err := f.s.CreateTemplate(f.ctx, newTemplate(w, fmt.Sprintf("t_%d", i)), 3)
					switch {
					case err == nil:
						created.Add(1)
					case !errors.Is(err, wagate.ErrTemplateLimit):
						t.Errorf("CreateTemplate: %v", err)
					}
				})
			}
			wg.Wait()
			list, err := f.s.ListTemplates(f.ctx, w.ws.ID)
			must(t, err, "ListTemplates")
			if created.Load() != 3 || len(list) != 3 {
				t.Errorf("%d creates succeeded and %d templates are stored, want 3 and 3 (the limit)", created.Load(), len(list))
			}
		}},
		{"templates are listed by name in byte order", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			for _, name := range []string{"b", "a_z", "a", "a1", "_x"} {
				must(t, f.s.CreateTemplate(f.ctx, newTemplate(w, name), 0), "CreateTemplate "+name)
			}
			list, err := f.s.ListTemplates(f.ctx, w.ws.ID)
			must(t, err, "ListTemplates")
			equalIDs(t, templateNames(list), "_x", "a", "a1", "a_z", "b")
			empty, err := f.s.ListTemplates(f.ctx, newWorkspace(t, f.ctx, f.s, 1).ID)
			must(t, err, "ListTemplates of a workspace without templates")
			if empty == nil || len(empty) != 0 {
				t.Errorf("ListTemplates of a workspace without templates = %#v, want an empty list (not nil: it is a JSON array)", empty)
			}
		}},
		{"an update keeps the name, and an update that fails changes nothing", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			tpl := newTemplate(w, "a_first")
			tpl.CloudAPI = &wagate.TemplateCloudAPI{AccountPhone: phone1, Name: "hello", Language: "en_US"}
			must(t, f.s.CreateTemplate(f.ctx, tpl, 0), "CreateTemplate")
			f.clock.Advance(time.Minute)
			upd, err := f.s.UpdateTemplate(f.ctx, w.ws.ID, "a_first", func(t *wagate.Template) error {
				t.Text, t.CloudAPI, t.Name, t.UpdatedAt = "Bye", nil, "renamed", f.clock.Now()
				return nil
			})
			must(t, err, "UpdateTemplate")
			if upd.Name != "a_first" || upd.Text != "Bye" || upd.CloudAPI != nil {
				t.Errorf("UpdateTemplate returned %+v, want the new text without a mapping under the old name", upd)
			}
			stop := wagate.Errorf(wagate.ECONFLICT, "stop")
			_, err = f.s.UpdateTemplate(f.ctx, w.ws.ID, "a_first", func(t *wagate.Template) error {
				t.Text = "lost"
				return stop
			})
			if !errors.Is(err, stop) {
				t.Errorf("UpdateTemplate returned %v, want the update's own error", err)
			}
			got, err := f.s.FindTemplate(f.ctx, w.ws.ID, "a_first")
			must(t, err, "FindTemplate")
			if got.Text != "Bye" || got.CloudAPI != nil {
				t.Errorf("stored %+v, want the first update only", got)
			}
			sameTime(t, got.UpdatedAt, f.clock.Now(), "UpdatedAt")
			sameTime(t, got.CreatedAt, tpl.CreatedAt, "CreatedAt")
			if _, err := f.s.FindTemplate(f.ctx, w.ws.ID, "renamed"); wagate.ErrorCode(err) != wagate.ENOTFOUND {
				t.Errorf("FindTemplate(renamed) = %v, want ENOTFOUND: the name cannot change", err)
			}
			_, err = f.s.UpdateTemplate(f.ctx, w.ws.ID, "missing", func(*wagate.Template) error { return nil })
			wantCode(t, err, wagate.ENOTFOUND, "UpdateTemplate of a missing template")
		}},
		{"a deleted template is gone, and messages accepted from it keep their text", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			must(t, f.s.CreateTemplate(f.ctx, newTemplate(w, "a_first"), 0), "CreateTemplate")
			m := w.queued(jidA, 1, func(a *wagate.Accept) { a.Message.Text, a.Message.TemplateName = "Hi Jane", "a_first" })
			must(t, f.s.DeleteTemplate(f.ctx, w.ws.ID, "a_first"), "DeleteTemplate")
			wantCode(t, f.s.DeleteTemplate(f.ctx, w.ws.ID, "a_first"), wagate.ENOTFOUND, "DeleteTemplate again")
			_, err := f.s.FindTemplate(f.ctx, w.ws.ID, "a_first")
			wantCode(t, err, wagate.ENOTFOUND, "FindTemplate after the delete")
			if got := w.message(m.ID); got.Text != "Hi Jane" || got.TemplateName != "a_first" {
				t.Errorf("message after the delete: text %q template %q, want both kept", got.Text, got.TemplateName)
			}
			must(t, f.s.CreateTemplate(f.ctx, newTemplate(w, "a_first"), 1), "CreateTemplate of the freed name at limit 1")
		}},
		{"a message keeps the template send it was accepted with", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			send := &wagate.TemplateSend{Name: "order_shipped", Language: "en_US", Named: true, HeaderMedia: "image",
				Parameters: []wagate.TemplateParameter{{Name: "name", Value: "Jane"}, {Name: "order", Value: "A-1"}}}
			res, _, err := w.send(jidA, 1, func(a *wagate.Accept) {
				a.Message.TemplateName = "order_shipped"
				a.Message.Template = send
			})
			must(t, err, "Accept")
			if res.Message.Template == nil || res.Message.TemplateName != "order_shipped" {
				t.Errorf("Accept returned template %q %+v, want the send", res.Message.TemplateName, res.Message.Template)
			}
			plain := w.queued(jidB, 1)
			f.reopen()
			got := w.message(res.Message.ID)
			if got.TemplateName != "order_shipped" || got.Template == nil {
				t.Fatalf("stored message: template %q %+v, want the send", got.TemplateName, got.Template)
			}
			g := got.Template
			if g.Name != send.Name || g.Language != send.Language || !g.Named || g.HeaderMedia != "image" || len(g.Parameters) != 2 ||
				g.Parameters[0] != send.Parameters[0] || g.Parameters[1] != send.Parameters[1] {
				t.Errorf("stored template send %+v, want %+v", g, send)
			}
			if p := w.message(plain.ID); p.TemplateName != "" || p.Template != nil {
				t.Errorf("a plain message has template %q %+v", p.TemplateName, p.Template)
			}
		}},
		{"an account's synced templates are replaced by the next sync and go with the account", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			_, err := f.s.FindAccountTemplates(f.ctx, w.ref())
			wantCode(t, err, wagate.ENOTFOUND, "FindAccountTemplates before any sync")
			at := f.clock.Now()
			set := &wagate.AccountTemplates{Account: w.ref(), SyncedAt: at, Templates: []wagate.ProviderTemplate{
				{Name: "order_shipped", Language: "en_US", Status: wagate.ProviderTemplateApproved, Category: "UTILITY", Named: true, BodyParameters: []string{"name"}, HeaderFormat: "IMAGE"},
				{Name: "order_shipped", Language: "de", Status: "PENDING", BodyParameters: []string{"1", "2"}},
			}}
			must(t, f.s.SetAccountTemplates(f.ctx, set), "SetAccountTemplates")
			f.reopen()
			got, err := f.s.FindAccountTemplates(f.ctx, w.ref())
			must(t, err, "FindAccountTemplates")
			sameTime(t, got.SyncedAt, at, "SyncedAt")
			if got.Account != w.ref() || len(got.Templates) != 2 {
				t.Fatalf("found %d templates of %+v, want 2 of %+v", len(got.Templates), got.Account, w.ref())
			}
			p := got.Find("order_shipped", "en_US")
			if p == nil || !p.Named || p.HeaderFormat != "IMAGE" || p.Category != "UTILITY" || p.Status != wagate.ProviderTemplateApproved || len(p.BodyParameters) != 1 || p.BodyParameters[0] != "name" {
				t.Errorf("en_US template %+v, want it as synced", p)
			}
			if de := got.Find("order_shipped", "de"); de == nil || de.Named || len(de.BodyParameters) != 2 || de.Status != "PENDING" {
				t.Errorf("de template %+v, want it as synced", de)
			}
			f.clock.Advance(time.Minute)
			must(t, f.s.SetAccountTemplates(f.ctx, &wagate.AccountTemplates{Account: w.ref(), SyncedAt: f.clock.Now()}), "SetAccountTemplates (empty)")
			if got, err = f.s.FindAccountTemplates(f.ctx, w.ref()); err != nil || len(got.Templates) != 0 {
				t.Errorf("after an empty sync: %d templates, %v; want none", len(got.Templates), err)
			}
			missing := wagate.AccountRef{WorkspaceID: w.ws.ID, Phone: phone2}
			wantCode(t, f.s.SetAccountTemplates(f.ctx, &wagate.AccountTemplates{Account: missing, SyncedAt: f.clock.Now()}), wagate.ENOTFOUND, "SetAccountTemplates of an unknown account")
			_, err = f.s.FindAccountTemplates(f.ctx, missing)
			wantCode(t, err, wagate.ENOTFOUND, "FindAccountTemplates of an unknown account")

			// Deleted and connected again: the old list is not the new
			// account's (it may be another WABA).
			f.clock.Advance(time.Minute)
			must(t, f.s.DeleteAccount(f.ctx, w.ref(), wagate.SourceSystem, f.clock.Now()), "DeleteAccount")
			w.account(w.ws.ID, phone1, true)
			_, err = f.s.FindAccountTemplates(f.ctx, w.ref())
			wantCode(t, err, wagate.ENOTFOUND, "FindAccountTemplates of the account connected again")
		}},
		{"a customer's window keeps the latest message, per sending number", func(t *testing.T, f *fixture[S]) {
			k := wagate.ChatKey{Transport: wagate.TransportCloudAPI, Sender: "106540352242922", Customer: "14155552671"}
			if _, ok, err := f.s.LastCustomerMessage(f.ctx, k); ok || err != nil {
				t.Fatalf("LastCustomerMessage before any = ok %v, %v; want none", ok, err)
			}
			// Microseconds: the finest time every backend keeps.
			at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
			must(t, f.s.RecordCustomerMessage(f.ctx, k, at), "RecordCustomerMessage")
			must(t, f.s.RecordCustomerMessage(f.ctx, k, at.Add(-time.Hour)), "RecordCustomerMessage (older)")
			f.reopen()
			got, ok, err := f.s.LastCustomerMessage(f.ctx, k)
			must(t, err, "LastCustomerMessage")
			if !ok || !got.Equal(at) || got.Location() != time.UTC {
				t.Errorf("LastCustomerMessage = %v (ok %v), want %v in UTC: an older message does not move it back", got, ok, at)
			}
			must(t, f.s.RecordCustomerMessage(f.ctx, k, at.Add(time.Hour)), "RecordCustomerMessage (newer)")
			if got, _, _ := f.s.LastCustomerMessage(f.ctx, k); !got.Equal(at.Add(time.Hour)) {
				t.Errorf("after a newer message: %v, want %v", got, at.Add(time.Hour))
			}
			for _, other := range []wagate.ChatKey{
				{Transport: k.Transport, Sender: "999", Customer: k.Customer},
				{Transport: k.Transport, Sender: k.Sender, Customer: "4915112345678"},
				{Transport: "other", Sender: k.Sender, Customer: k.Customer},
			} {
				if _, ok, _ := f.s.LastCustomerMessage(f.ctx, other); ok {
					t.Errorf("%+v shares the window of %+v", other, k)
				}
			}
			for _, bad := range []wagate.ChatKey{{}, {Transport: k.Transport, Sender: k.Sender}, {Sender: k.Sender, Customer: k.Customer}} {
				wantCode(t, f.s.RecordCustomerMessage(f.ctx, bad, at), wagate.EINVALID, "RecordCustomerMessage with an incomplete key")
			}
		}},
		{"racing customer messages keep the latest, whatever order they land in", func(t *testing.T, f *fixture[S]) {
			k := wagate.ChatKey{Transport: wagate.TransportCloudAPI, Sender: "106540352242922", Customer: "14155552671"}
			base := f.clock.Now()
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() {
					must(t, f.s.RecordCustomerMessage(f.ctx, k, base.Add(time.Duration(i)*time.Second)), "RecordCustomerMessage")
				})
			}
			wg.Wait()
			got, ok, err := f.s.LastCustomerMessage(f.ctx, k)
			must(t, err, "LastCustomerMessage")
			if want := base.Add(15 * time.Second); !ok || !got.Equal(want) {
				t.Errorf("LastCustomerMessage = %v (ok %v), want the latest %v", got, ok, want)
			}
		}},
	}
}

func templateNames(list []*wagate.Template) []string {
	out := make([]string, len(list))
	for i, t := range list {
		out[i] = t.Name
	}
	return out
}
