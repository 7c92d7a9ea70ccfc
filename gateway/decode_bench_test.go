package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// The two reference requests of SPEC §1.
const (
	benchRefPhone = `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14155552671","text":"lorem ipsum"}`
	benchRefChat  = `{"action":"send","chat_id":"77234","text":"lorem ipsum","file_url":"https://example.com/logo.png","file_name":"logo.png"}`
)

// sinkAccept keeps the compiler from optimizing results away.
var sinkAccept *wagate.Accept

// BenchmarkDecodeValidate measures the CPU an inbound body costs before any
// lookup: JSON decoding into the request's fields, the unknown-field scan
// and SPEC §1's field rules (decodeSend + validateSend).
func BenchmarkDecodeValidate(b *testing.B) {
	for _, c := range []struct{ name, body string }{{"phone", benchRefPhone}, {"chat_file", benchRefChat}} {
		body := []byte(c.body)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r, err := decodeSend(body)
				if err == nil {
					err = validateSend(r, false)
				}
				if err != nil {
					b.Fatalf("decode %s: %v", body, err)
				}
			}
		})
	}
}

// BenchmarkDecodeResolve is the whole CPU-only part of an accept of the
// first reference request: decode, validate, both numbering-plan checks
// (phone and whatsapp_account_phone), the account choice and a new message
// id. The workspace comes with its accounts, as the store's token lookup
// returns it, so no storage call is made: what is left of an accept after
// this is HTTP, the token lookup and the commit.
func BenchmarkDecodeResolve(b *testing.B) {
	s := New(Config{}, Services{})
	at := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	ws := &wagate.Workspace{ID: "ws_bench", Webhook: wagate.Webhook{Enabled: true}, Accounts: []*wagate.Account{
		{WorkspaceID: "ws_bench", Phone: "+15105566777", Transport: wagate.TransportDryrun, Active: true, ConnectedAt: at},
	}}
	body := []byte(benchRefPhone)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r, err := decodeSend(body)
		if err != nil {
			b.Fatal(err)
		}
		a, err := s.resolve(ctx, ws, r)
		if err != nil {
			b.Fatal(err)
		}
		sinkAccept = a
	}
}
