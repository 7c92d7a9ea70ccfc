//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
)

// pgDatabase starts a throwaway PostgreSQL cluster for t (it fails, never
// skips, when PostgreSQL cannot start) and returns the URL of an empty
// database on it.
func pgDatabase(t *testing.T) string {
	t.Helper()
	c, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatalf("the PostgreSQL key store needs PostgreSQL, which did not start: %v", err)
	}
	t.Cleanup(c.Stop)
	url, err := c.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func openTestPGKeystore(t *testing.T, url string) *keystore {
	t.Helper()
	ks, err := openKeys(context.Background(), Config{DatabaseURL: url, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("openKeys: %v", err)
	}
	return ks
}

// Two accounts' devices live in one PostgreSQL schema of wagate's
// database, apart from wagate's own tables; unlinking one deletes its keys
// (the foreign keys cascade) and leaves the other's, also after a reopen;
// the ledger keeps the strongest word. Two replicas opening the store at
// once both succeed.
func TestPostgresKeystoreTwoDevicesDeleteOne(t *testing.T) {
	ctx := context.Background()
	url := pgDatabase(t)

	// Replicas starting together: the schema is made once, under a lock.
	stores := make([]*keystore, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			stores[i], errs[i] = openKeys(ctx, Config{DatabaseURL: url, Logger: zaptest.NewLogger(t)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: openKeys: %v", i, err)
		}
	}
	ks := stores[0]
	if err := stores[1].close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	var public, ours int
	if err := ks.db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE table_schema = 'public'), count(*) FILTER (WHERE table_schema = $1)
		FROM information_schema.tables`, KeySchema).Scan(&public, &ours); err != nil {
		t.Fatal(err)
	}
	if public != 0 || ours < 3 {
		t.Fatalf("%d tables in public and %d in %s; want none in public (wagate's own tables live there) and the key store's in %s", public, ours, KeySchema, KeySchema)
	}

	a := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550001"}
	b := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550002"}
	jidA := types.JID{User: "14155550001", Device: 7, Server: types.DefaultUserServer}
	jidB := types.JID{User: "14155550002", Device: 3, Server: types.DefaultUserServer}
	linkFake(t, ks, a, jidA)
	linkFake(t, ks, b, jidB)
	for _, ref := range []wagate.AccountRef{a, b} {
		cli, linked, err := ks.client(ctx, ref)
		if err != nil || !linked {
			t.Fatalf("client(%s) = linked %v, %v; want the stored device", ref.Phone, linked, err)
		}
		if id := cli.(*whatsmeow.Client).Store.ID; id == nil || id.User != ref.Phone[1:] {
			t.Fatalf("client(%s) has device %v", ref.Phone, id)
		}
	}
	if n := countRows(t, ks, "SELECT count(*) FROM whatsmeow_identity_keys"); n != 2 {
		t.Fatalf("identity keys before delete = %d, want 2", n)
	}
	if err := ks.forget(ctx, a); err != nil {
		t.Fatalf("forget: %v", err)
	}
	if n := countRows(t, ks, "SELECT count(*) FROM whatsmeow_identity_keys WHERE our_jid = $1", jidA.String()); n != 0 {
		t.Errorf("identity keys of the deleted device = %d, want 0 (foreign keys must cascade)", n)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, kind := range []string{ledgerPosting, ledgerDelivered, ledgerAcked} {
		if err := ks.seen(ctx, b, "3EB0AA", kind, t0); err != nil {
			t.Fatalf("seen(%s): %v", kind, err)
		}
	}
	if err := ks.close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	ks = openTestPGKeystore(t, url)
	defer ks.close()
	if _, linked, err := ks.client(ctx, a); err != nil || linked {
		t.Errorf("after forget, client(a) linked = %v, %v; want a new unpaired device", linked, err)
	}
	cli, linked, err := ks.client(ctx, b)
	if err != nil || !linked {
		t.Fatalf("client(b) after reopen = linked %v, %v; want b's device kept", linked, err)
	}
	if id := cli.(*whatsmeow.Client).Store.ID; id == nil || *id != jidB {
		t.Errorf("client(b) device = %v, want %v", id, jidB)
	}
	if n := countRows(t, ks, "SELECT count(*) FROM whatsmeow_identity_keys WHERE our_jid = $1", jidB.String()); n != 1 {
		t.Errorf("identity keys of the kept device = %d, want 1", n)
	}
	if got, err := ks.lookup(ctx, b, "3EB0AA"); err != nil || got != ledgerDelivered {
		t.Errorf("ledger after reopen = %q, %v; want delivered (a late ack does not weaken it)", got, err)
	}
	if err := ks.sweep(ctx, t0.Add(ledgerKeep+time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := ks.lookup(ctx, b, "3EB0AA"); got != ledgerNone {
		t.Errorf("after sweep: %q, want none", got)
	}

	// A Manager on the database alone needs no data folder.
	m, err := Open(ctx, Config{DatabaseURL: url, SkipVersionCheck: true, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("Open with DatabaseURL and no DataDir: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Manager.Close: %v", err)
	}
}

// A database URL that does not parse is refused without echoing it: it
// may hold a password.
func TestPostgresKeystoreBadURL(t *testing.T) {
	_, err := openKeys(context.Background(), Config{DatabaseURL: "postgres://wagate:s3cret@host:notaport/db", Logger: zaptest.NewLogger(t)})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "postgres://user@host/database") {
		t.Fatalf("openKeys with a bad URL = %v; want an error showing the expected form and not the password", err)
	}
}

// The database URL an operator gives wagate serve may carry the store's
// pool settings (pool_max_conns); the key store opens on the same URL
// instead of passing them to the server, which refuses unknown settings.
func TestPostgresKeystoreTakesPoolParameters(t *testing.T) {
	url := pgDatabase(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	ks := openTestPGKeystore(t, url+sep+"pool_max_conns=16&pool_min_conns=1")
	if err := ks.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}
