package store_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
)

// benchBody is the first reference request of SPEC §1, kept in each
// attempt record as the gateway keeps it.
const benchBody = `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14155552671","text":"lorem ipsum"}`

const (
	benchAccount = "+15105566777"
	benchJID     = "14155552671@s.whatsapp.net"
)

// benchStore opens a store in a temporary folder with one workspace that can
// pay for any benchmark and one active dryrun account.
func benchStore(b *testing.B) (*store.DB, string) {
	b.Helper()
	db, err := store.Open(filepath.Join(b.TempDir(), "wagate.db"), store.Options{})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	ctx := context.Background()
	now := time.Now().UTC()
	ws := &wagate.Workspace{
		ID: "ws_0123456789abcdef", Name: "bench", Credits: 1 << 50,
		Webhook:   wagate.Webhook{Token: "bench-inbound-token", Enabled: true, CreatedAt: now},
		CreatedAt: now,
	}
	owner := &wagate.Token{Hash: wagate.HashToken("bench-owner"), WorkspaceID: ws.ID, Role: wagate.RoleOwner, CreatedAt: now}
	if err := db.CreateWorkspace(ctx, ws, owner); err != nil {
		b.Fatalf("CreateWorkspace: %v", err)
	}
	acct := &wagate.Account{WorkspaceID: ws.ID, Phone: benchAccount, Transport: wagate.TransportDryrun, Active: true, ConnectedAt: now}
	if err := db.CreateAccount(ctx, acct); err != nil {
		b.Fatalf("CreateAccount: %v", err)
	}
	return db, ws.ID
}

// benchIDs hands out unique message ids without crypto/rand, so the
// benchmarks time the store, not the id source.
var benchIDs atomic.Uint64

// newBenchAccept is what the gateway hands the store for the reference
// request: a text message to a phone (chat found by JID after the first),
// with its attempt.
func newBenchAccept(wsID string) *wagate.Accept {
	now := time.Now().UTC()
	return &wagate.Accept{
		WorkspaceID: wsID,
		BodyHash:    sha256.Sum256([]byte(benchBody)),
		Message: &wagate.Message{
			ID:           fmt.Sprintf("%s%020X", wagate.MessageIDPrefix, benchIDs.Add(1)),
			WorkspaceID:  wsID,
			Status:       wagate.StatusQueued,
			AccountPhone: benchAccount,
			JID:          benchJID,
			Text:         "lorem ipsum",
			Credits:      1,
			CreatedAt:    now,
		},
		ChatName: "+14155552671",
		Attempt: &wagate.Attempt{
			At: now, RequestID: "0123456789abcdef0123", RemoteAddr: "127.0.0.1",
			ContentType: "application/json", Body: benchBody,
		},
	}
}

// BenchmarkAccept is one Accept at a time: what a lone client waits for.
// It includes the fsyncs of the commit; a lone writer commits at once (the
// committer has no batch timer).
func BenchmarkAccept(b *testing.B) {
	db, wsID := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Accept(ctx, newBenchAccept(wsID)); err != nil {
			b.Fatalf("Accept: %v", err)
		}
	}
}

// BenchmarkAcceptParallel is Accept from 32 goroutines per CPU, as under
// load: the accepts share group commits, so ns/op is the store's cost per
// accept (its CPU plus its share of the fsyncs). This is the number the
// ingest ratio depends on; compare it before and after a store change with
// benchstat.
func BenchmarkAcceptParallel(b *testing.B) {
	db, wsID := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.Accept(ctx, newBenchAccept(wsID)); err != nil {
				b.Errorf("Accept: %v", err)
				return
			}
		}
	})
}

// BenchmarkRecordAttempt is the attempt-log write of a request that never
// reaches Accept (bad JSON, a disabled URL…), from 32 goroutines per CPU:
// a flood of bad requests goes through this path. After the first 100 each
// write also deletes the oldest attempt.
func BenchmarkRecordAttempt(b *testing.B) {
	db, wsID := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a := &wagate.Attempt{
				At: time.Now().UTC(), RequestID: "0123456789abcdef0123", RemoteAddr: "127.0.0.1",
				ContentType: "application/json", Body: `{"action":"send","phone_number":"+14155552671","text":"lorem ipsum"}`,
				Code: wagate.EINVALID, Message: `missing field "phone"; unknown field "phone_number": did you mean "phone"?`,
			}
			if err := db.RecordAttempt(ctx, wsID, a); err != nil {
				b.Errorf("RecordAttempt: %v", err)
				return
			}
		}
	})
}

// BenchmarkFindWorkspaceByInboundToken is the lookup at the start of every
// inbound request, from the in-memory cache once warm.
func BenchmarkFindWorkspaceByInboundToken(b *testing.B) {
	db, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.FindWorkspaceByInboundToken(ctx, "bench-inbound-token"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcceptWithEndpoint is BenchmarkAccept in a workspace with one
// endpoint subscribed to message.queued and webhook.attempt: every accept
// also writes its two events as pending deliveries (SPEC §9's outbox).
// BenchmarkAccept is the same without endpoints, where the outbox costs
// one Get per change.
func BenchmarkAcceptWithEndpoint(b *testing.B) {
	db, wsID := benchStore(b)
	ctx := context.Background()
	ep := &wagate.Endpoint{
		ID: "ep_bench", WorkspaceID: wsID, Enabled: true, URL: "https://crm.example", Method: "POST",
		Events: []string{wagate.EventMessageQueued, wagate.EventWebhookAttempt},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}
	if err := db.CreateEndpoint(ctx, ep); err != nil {
		b.Fatalf("CreateEndpoint: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Accept(ctx, newBenchAccept(wsID)); err != nil {
			b.Fatalf("Accept: %v", err)
		}
	}
}

// BenchmarkDeliveryCycle is the deliverer's store work per delivery: take
// the next due delivery of an endpoint (NextDeliveries) and record its
// successful attempt (FinishAttempt, a group commit), one at a time, from
// a backlog of b.N events written by accepts before the timer starts.
func BenchmarkDeliveryCycle(b *testing.B) {
	db, wsID := benchStore(b)
	ctx := context.Background()
	ep := &wagate.Endpoint{
		ID: "ep_bench", WorkspaceID: wsID, Enabled: true, URL: "https://crm.example", Method: "POST",
		Events: []string{wagate.EventMessageQueued}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}
	if err := db.CreateEndpoint(ctx, ep); err != nil {
		b.Fatalf("CreateEndpoint: %v", err)
	}
	var wg sync.WaitGroup
	const writers = 16
	for w := range writers {
		wg.Go(func() {
			for i := w; i < b.N; i += writers {
				if _, err := db.Accept(ctx, newBenchAccept(wsID)); err != nil {
					b.Errorf("Accept: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	ref := wagate.EndpointRef{WorkspaceID: wsID, ID: ep.ID}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ds, _, err := db.NextDeliveries(ctx, ref, time.Now(), 1)
		if err != nil || len(ds) != 1 {
			b.Fatalf("NextDeliveries = %d, %v", len(ds), err)
		}
		d := ds[0].Delivery
		d.Status, d.At = wagate.DeliverySucceeded, time.Now()
		d.Response = wagate.DeliveryResponse{Status: 204}
		if err := db.FinishAttempt(ctx, d, ""); err != nil {
			b.Fatalf("FinishAttempt: %v", err)
		}
	}
}
