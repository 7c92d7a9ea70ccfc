package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
	"github.com/wagate/wagate/store/postgres/pgtest"
)

// BenchmarkMigrate times `wagate migrate` of a large store: by default
// 200,000 messages (WAGATE_BENCH_MIGRATE_MESSAGES sets another number),
// each with an Idempotency-Key record and a pending delivery to an
// endpoint, copied into a fresh database of a throwaway PostgreSQL. The
// store is built once, outside the timer; each iteration migrates into a
// new database and checks the copy (migrateStore counts and audits).
//
//	go test -run '^$' -bench BenchmarkMigrate -benchtime 1x ./cmd/wagate/
func BenchmarkMigrate(b *testing.B) {
	n := 200_000
	if s := os.Getenv("WAGATE_BENCH_MIGRATE_MESSAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("WAGATE_BENCH_MIGRATE_MESSAGES=%q: want a positive number", s)
		}
	}
	ctx := context.Background()
	dir := b.TempDir()
	fillLargeStore(b, ctx, filepath.Join(dir, storeFile), n)
	cluster, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Stop()
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		b.StopTimer()
		url, err := cluster.CreateDatabase(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := migrateStore(ctx, dir, url, false, io.Discard); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	secs := total.Seconds() / float64(b.N)
	b.ReportMetric(secs, "s/migrate")
	b.ReportMetric(float64(n)/secs, "messages/s")
}

// fillLargeStore writes n messages into a new store at path, from many
// goroutines so that the store's group commit batches them.
func fillLargeStore(b *testing.B, ctx context.Context, path string, n int) {
	b.Helper()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Second)
	ws := &wagate.Workspace{ID: "ws_0123456789abcdef", Name: "large", Credits: int64(n) * 2,
		Webhook: wagate.Webhook{Token: "large-inbound-token", Enabled: true, CreatedAt: now}, CreatedAt: now}
	if err := s.CreateWorkspace(ctx, ws, &wagate.Token{Hash: wagate.HashToken("large-owner"), WorkspaceID: ws.ID, Role: wagate.RoleOwner, CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	const phone = "+15105566777"
	if err := s.CreateAccount(ctx, &wagate.Account{WorkspaceID: ws.ID, Phone: phone, Transport: wagate.TransportDryrun, Active: true, ConnectedAt: now}); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateEndpoint(ctx, &wagate.Endpoint{WorkspaceID: ws.ID, ID: "ep_large000001", Name: "crm", Enabled: true, URL: "https://crm.example/hook",
		Method: "POST", Events: []string{wagate.EventMessageQueued}, Body: wagate.EndpointBody{Type: "event"}, CreatedAt: now, Secret: "whsec_large"}); err != nil {
		b.Fatal(err)
	}
	const workers = 64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				body := fmt.Sprintf(`{"phone":"+14155552671","text":"message %d"}`, i)
				a := &wagate.Accept{WorkspaceID: ws.ID, IdempotencyKey: fmt.Sprintf("key-%d", i), BodyHash: sha256.Sum256([]byte(body)),
					Message: &wagate.Message{ID: fmt.Sprintf("%s%020X", wagate.MessageIDPrefix, i+1), WorkspaceID: ws.ID, Status: wagate.StatusQueued,
						AccountPhone: phone, JID: "14155552671@s.whatsapp.net", Text: fmt.Sprintf("message %d", i), Credits: 1, CreatedAt: now},
					ChatName: "+14155552671",
					Attempt:  &wagate.Attempt{At: now, RequestID: fmt.Sprintf("req-%d", i), RemoteAddr: "127.0.0.1", ContentType: "application/json", Body: body}}
				if _, err := s.Accept(ctx, a); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
