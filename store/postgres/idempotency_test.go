package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
	"github.com/wagate/wagate/store/storetest"
)

// TestAcceptPrunesExpiredIdempotencyKeys: each commit of accepts deletes
// at most wagate.IdempotencyPruneMax expired records, the ones written at
// or before wagate.IdempotencyCutoff, and keeps a record still within the
// window (store/'s test of the same name). Pruning is invisible through
// the interfaces (an expired record is absent anyway), so it is each
// backend's own test.
func TestAcceptPrunesExpiredIdempotencyKeys(t *testing.T) {
	clock := storetest.NewClock()
	db := openContract(t, pgtest.Clone(t, migratedTemplate), storetest.Env{Now: clock.Now})
	ctx := context.Background()
	tok, _ := wagate.NewToken(rand.Reader)
	if err := db.CreateWorkspace(ctx, &wagate.Workspace{ID: "ws_a", Name: "a", Credits: 100, Webhook: wagate.Webhook{Token: tok, Enabled: true}}, nil); err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	if err := db.CreateAccount(ctx, &wagate.Account{WorkspaceID: "ws_a", Phone: "+14155552671", Transport: wagate.TransportDryrun, Active: true}); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	accept := func(key string) {
		t.Helper()
		id, err := testIDs.Next(clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Accept(ctx, &wagate.Accept{WorkspaceID: "ws_a", IdempotencyKey: key, BodyHash: sha256.Sum256([]byte(key)),
			Message: &wagate.Message{ID: id, AccountPhone: "+14155552671", JID: "14155550100@s.whatsapp.net", Text: "hi", Credits: 1},
			Attempt: &wagate.Attempt{RequestID: "req-" + id}})
		if err != nil {
			t.Fatalf("Accept with key %q: %v", key, err)
		}
	}
	left := func() int {
		t.Helper()
		var n int
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM idempotency`).Scan(&n); err != nil {
			t.Fatalf("count idempotency records: %v", err)
		}
		return n
	}
	old := wagate.IdempotencyPruneMax + 2
	for i := range old {
		accept(string(rune('a' + i)))
	}
	clock.Advance(time.Microsecond) // the finest time PostgreSQL stores
	accept("young")
	clock.Advance(wagate.IdempotencyWindow - time.Microsecond) // the old ones are exactly at the cutoff
	accept("")
	if n := left(); n != 3 {
		t.Errorf("%d records after one commit, want 3: %d expired, at most %d pruned a commit, and the young one", n, old, wagate.IdempotencyPruneMax)
	}
	accept("")
	if n := left(); n != 1 {
		t.Errorf("%d records after two commits, want 1: the one still within the window", n)
	}
}
