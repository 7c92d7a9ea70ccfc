package gateway_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/wagate/wagate"
)

// The gateway says who made a change: a message from the inbound URL is
// SourceInbound, a cancel through the admin API SourceAPI, so an
// endpoint's source filter (SPEC §9) sees them apart.
func TestChangesCarryTheirSource(t *testing.T) {
	e := newEnv(t)
	ws := e.workspace("Acme", 10)
	e.account(ws, "+15105566777")
	ctx := context.Background()
	ep := &wagate.Endpoint{
		ID: "ep_sources", WorkspaceID: ws.ID, Enabled: true, URL: "https://crm.example",
		Events: []string{wagate.EventMessageQueued, wagate.EventMessageCancelled, wagate.EventWebhookAttempt},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}
	if err := e.db.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	id := sendTo(t, e, ws, "+14155552671", "hello")
	mustStatus(t, e.do(http.MethodDelete, "/api/v1/workspaces/"+ws.ID+"/messages/"+id, ws.Owner, ""), http.StatusOK)

	ds, _, err := e.db.NextDeliveries(ctx, wagate.EndpointRef{WorkspaceID: ws.ID, ID: ep.ID}, e.clock.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		wagate.EventMessageQueued:    wagate.SourceInbound,
		wagate.EventWebhookAttempt:   wagate.SourceInbound,
		wagate.EventMessageCancelled: wagate.SourceAPI,
	}
	if len(ds) != len(want) {
		t.Fatalf("%d events, want %d", len(ds), len(want))
	}
	for _, d := range ds {
		if d.Event.Source != want[d.Event.Type] {
			t.Errorf("%s event has source %q, want %q", d.Event.Type, d.Event.Source, want[d.Event.Type])
		}
	}
}
