package console_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/wagate/wagate"
)

// A cancel from the console is a change made by SourceConsole, for the
// endpoints that only want changes made there (SPEC §9's source filter).
func TestConsoleCancelIsAConsoleChange(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("acme", 10)
	ctx := context.Background()
	ep := &wagate.Endpoint{
		ID: "ep_console", WorkspaceID: ws.ID, Enabled: true, URL: "https://crm.example",
		Events: []string{wagate.EventMessageCancelled}, Filter: wagate.EndpointFilter{Source: wagate.SourceConsole},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}
	if err := e.db.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	id := queuedIDs(t, e, ws, "+14155552671", "to cancel")[0]
	b := e.browser()
	b.mustSignIn(ws.Owner)
	mustStatus(t, "message page", b.get("/ui/w/"+ws.ID+"/messages/"+url.PathEscape(id)), http.StatusOK) // for the CSRF token
	p := b.post("/ui/w/"+ws.ID+"/messages/"+url.PathEscape(id)+"/cancel", url.Values{"csrf": {b.csrf}})
	mustStatus(t, "cancel", p, http.StatusSeeOther)

	ds, _, err := e.db.NextDeliveries(ctx, wagate.EndpointRef{WorkspaceID: ws.ID, ID: ep.ID}, e.clock.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Event.Type != wagate.EventMessageCancelled || ds[0].Event.Source != wagate.SourceConsole || ds[0].Event.Message.ID != id {
		t.Fatalf("deliveries %+v, want one message.cancelled made in the console", ds)
	}
}
