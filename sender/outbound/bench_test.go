package outbound_test

import (
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/outbound"
)

func BenchmarkBuildDefaultJSON(b *testing.B) {
	e, ev := endpoint(wagate.EndpointBody{}), sampleEvent("Your order has shipped")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := outbound.Build(e, ev, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildFormTemplate(b *testing.B) {
	e := endpoint(wagate.EndpointBody{Type: wagate.BodyForm, Template: `phone={{message.phone}}&reason={{message.error | default "unknown"}}`})
	ev := sampleEvent("Your order has shipped")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := outbound.Build(e, ev, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	body := []byte(`{"type":"message.sent","timestamp":"2026-12-04T13:46:30Z","data":{"id":"wa_backend:0123456789ABCDEF0123","status":"sent"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := outbound.Sign(vectors[0].secret, "evt_01HZY3R8Q5J0W7ZK4N2B6C9D1E", 1614265330, body); err != nil {
			b.Fatal(err)
		}
	}
}
