package outbound_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/outbound"
)

func TestSampleEvent(t *testing.T) {
	at := time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC)
	// Every variable of every event type can be set, and reads back.
	for _, typ := range wagate.EventTypes {
		vars := map[string]string{}
		for _, v := range outbound.EventVariables(typ) {
			switch {
			case v.Name == "event.type":
				vars[v.Name] = typ
			case strings.HasSuffix(v.Name, "_at") || v.Name == "event.timestamp" || v.Name == "attempt.at":
				vars[v.Name] = "2026-01-02T03:04:05Z"
			case v.Name == "message.status":
				vars[v.Name] = "failed"
			case v.Name == "account.active":
				vars[v.Name] = "false"
			case strings.Contains(v.Name, "credits") || v.Name == "message.chat_id":
				vars[v.Name] = "77"
			case v.Name == "message.phone" || v.Name == "message.jid":
			default:
				vars[v.Name] = "set " + v.Name
			}
		}
		ev, err := outbound.SampleEvent("ws_1", typ, at, vars)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		got := outbound.Variables(ev)
		for name, want := range vars {
			if got[name] != want {
				t.Errorf("%s: %s = %q; want %q", typ, name, got[name], want)
			}
		}
	}
	ev, err := outbound.SampleEvent("ws_1", wagate.EventMessageFailed, at, map[string]string{"message.phone": "+4930123456"})
	if err != nil || outbound.Variables(ev)["message.phone"] != "+4930123456" || !strings.HasPrefix(ev.ID, "evt_test_") {
		t.Errorf("message.phone override: %v, %+v", err, ev)
	}
	for _, tt := range []struct {
		typ   string
		vars  map[string]string
		field string
	}{
		{"message.exploded", nil, "event"},
		{wagate.EventMessageSent, map[string]string{"account.phone": "x"}, "variables.account.phone"},
		{wagate.EventMessageSent, map[string]string{"message.credits": "many"}, "variables.message.credits"},
		{wagate.EventMessageSent, map[string]string{"message.created_at": "yesterday"}, "variables.message.created_at"},
	} {
		_, err := outbound.SampleEvent("ws_1", tt.typ, at, tt.vars)
		if wagate.ErrorCode(err) != wagate.EINVALID || !strings.HasPrefix(wagate.ErrorMessage(err), tt.field+" ") {
			t.Errorf("SampleEvent(%s, %v) = %v; want EINVALID naming %s", tt.typ, tt.vars, err, tt.field)
		}
	}
}
