package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wagate/wagate/gateway/api"
	"github.com/wagate/wagate/gateway/client"
)

// TestTemplateWalkThrough drives every template method against the real
// gateway: create, list, read, change, preview, test send, delete.
func TestTemplateWalkThrough(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	created, err := client.New(srv.url, srv.operator).CreateWorkspace(ctx, "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	ws := created.ID
	owner := client.New(srv.url, created.OwnerToken)
	if _, err := owner.CreateAccount(ctx, ws, api.CreateAccount{Phone: "+15105566777"}); err != nil {
		t.Fatal(err)
	}
	tpl, err := owner.CreateTemplate(ctx, ws, &api.CreateTemplate{Name: "order_shipped", Text: "Hi {{name}}, order {{order}} shipped"})
	if err != nil || tpl.Name != "order_shipped" || len(tpl.Variables) != 2 {
		t.Fatalf("CreateTemplate = %+v, %v", tpl, err)
	}
	_, err = owner.CreateTemplate(ctx, ws, &api.CreateTemplate{Name: "bad", Text: "{{x"})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 400 || ce.Code != "invalid" {
		t.Fatalf("bad template: %v; want a 400 *client.Error", err)
	}
	list, err := owner.ListTemplates(ctx, ws)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListTemplates = %+v, %v", list, err)
	}
	text := "Order {{order}} shipped, {{name | default \"friend\"}}"
	if tpl, err = owner.UpdateTemplate(ctx, ws, "order_shipped", &api.UpdateTemplate{Text: &text}); err != nil || tpl.Text != text {
		t.Fatalf("UpdateTemplate = %+v, %v", tpl, err)
	}
	if tpl, err = owner.Template(ctx, ws, "order_shipped"); err != nil || tpl.Text != text {
		t.Fatalf("Template = %+v, %v", tpl, err)
	}
	pre, err := owner.PreviewTemplate(ctx, ws, "order_shipped", map[string]string{"order": "1042"})
	if err != nil || pre.Text != "Order 1042 shipped, friend" || pre.Credits != 1 {
		t.Fatalf("PreviewTemplate = %+v, %v", pre, err)
	}
	m, err := owner.TestTemplate(ctx, ws, "order_shipped", &api.TestTemplate{To: "+14155552671", Variables: map[string]string{"order": "7", "name": "Jane"}})
	if err != nil || m.Text != "Order 7 shipped, Jane" || m.Status != "queued" {
		t.Fatalf("TestTemplate = %+v, %v", m, err)
	}
	if err := owner.DeleteTemplate(ctx, ws, "order_shipped"); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Template(ctx, ws, "order_shipped"); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("after delete: %v; want a 404", err)
	}
}
