//go:build !nowhatsapp

package whatsapp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate"
)

// The key store of a data folder, copied into PostgreSQL's key schema
// through one transaction, gives a replica on PostgreSQL the same devices:
// each account's client is linked, with the same JID, identity key, noise
// key and registration id, its pre-keys (with their "uploaded" booleans)
// and sessions, and the ledger still answers. Every table's rows are
// counted, the file in the data folder is only read, the snapshot is
// removed at Close, and a second copy into the now used schema is refused.
func TestKeySnapshotCopyInto(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := openTestKeystore(t, dir)
	a := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550001"}
	b := wagate.AccountRef{WorkspaceID: "ws2", Phone: "+14155550002"}
	jidA := types.JID{User: "14155550001", Device: 7, Server: types.DefaultUserServer}
	jidB := types.JID{User: "14155550002", Device: 3, Server: types.DefaultUserServer}
	linkFake(t, src, a, jidA)
	linkFake(t, src, b, jidB)
	devA, err := src.container.GetDevice(ctx, jidA)
	if err != nil || devA == nil {
		t.Fatalf("GetDevice: %v", err)
	}
	pre, err := devA.PreKeys.GetOrGenPreKeys(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := devA.PreKeys.MarkPreKeysAsUploaded(ctx, pre[2].KeyID); err != nil {
		t.Fatal(err)
	}
	if err := devA.Sessions.PutSession(ctx, "999:0", []byte("a signal session")); err != nil {
		t.Fatal(err)
	}
	if err := devA.ChatSettings.PutPinned(ctx, types.JID{User: "999", Server: types.DefaultUserServer}, true); err != nil {
		t.Fatal(err)
	}
	if err := src.seen(ctx, a, "3EB0AAAA", ledgerDelivered, time.Unix(1_800_000_000, 5)); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, table := range []string{"whatsmeow_device", "whatsmeow_identity_keys", "whatsmeow_pre_keys", "whatsmeow_sessions", "whatsmeow_chat_settings", "wagate_account_device", "wagate_ledger"} {
		want[table] = int64(countRows(t, src, `SELECT count(*) FROM "`+table+`"`))
	}
	if err := src.close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, DBFile)
	before := fileHash(t, file)

	snap, err := SnapshotKeys(ctx, dir)
	if err != nil {
		t.Fatalf("SnapshotKeys: %v", err)
	}
	devices, err := snap.Devices(ctx)
	if err != nil || !devices[a] || !devices[b] || len(devices) != 2 {
		t.Fatalf("Devices = %v, %v; want %s and %s", devices, err, a.Phone, b.Phone)
	}
	url := pgDatabase(t)
	if created, err := PrepareKeySchema(ctx, url); err != nil || !created {
		t.Fatalf("PrepareKeySchema = %v, %v; want the schema created", created, err)
	}
	if created, err := PrepareKeySchema(ctx, url); err != nil || created {
		t.Fatalf("PrepareKeySchema again (it must be idempotent) = %v, %v; want nothing created", created, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var counts KeyCounts
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) (err error) {
		counts, err = snap.CopyInto(ctx, tx)
		return err
	}); err != nil {
		t.Fatalf("CopyInto: %v", err)
	}
	for table, n := range want {
		if counts[table] != n {
			t.Errorf("CopyInto copied %d rows of %s, the file has %d", counts[table], table, n)
		}
	}
	if want["whatsmeow_pre_keys"] != 5 || want["wagate_ledger"] != 1 {
		t.Fatalf("the source holds %v, want 5 pre-keys and 1 ledger row", want)
	}

	// A second copy into the schema that now holds keys is refused, and a
	// schema with keys is never dropped.
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { _, err := snap.CopyInto(ctx, tx); return err })
	if !errors.Is(err, ErrKeysNotEmpty) {
		t.Errorf("a second CopyInto: %v, want ErrKeysNotEmpty", err)
	}
	if err := DropKeySchema(ctx, url); !errors.Is(err, ErrKeysNotEmpty) {
		t.Errorf("DropKeySchema of a schema with keys: %v, want ErrKeysNotEmpty", err)
	}
	snapDir := snap.dir
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snapDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the snapshot's folder is still there after Close: %v", err)
	}
	if fileHash(t, file) != before {
		t.Error("SnapshotKeys changed the key store in the data folder")
	}

	// A replica on PostgreSQL finds the same devices.
	srcAgain := openTestKeystore(t, dir)
	defer srcAgain.close()
	dst := openTestPGKeystore(t, url)
	defer dst.close()
	for _, ref := range []wagate.AccountRef{a, b} {
		orig, _, err := srcAgain.client(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		cli, linked, err := dst.client(ctx, ref)
		if err != nil || !linked {
			t.Fatalf("client(%s) on PostgreSQL = linked %v, %v; want the copied device", ref.Phone, linked, err)
		}
		o, g := orig.(*whatsmeow.Client).Store, cli.(*whatsmeow.Client).Store
		if g.ID == nil || *g.ID != *o.ID || g.RegistrationID != o.RegistrationID ||
			*g.IdentityKey.Priv != *o.IdentityKey.Priv || *g.NoiseKey.Priv != *o.NoiseKey.Priv ||
			*g.SignedPreKey.Priv != *o.SignedPreKey.Priv || !bytes.Equal(g.Account.AccountSignature, o.Account.AccountSignature) {
			t.Errorf("the device of %s on PostgreSQL is not the one of the file", ref.Phone)
		}
	}
	got, err := dst.container.GetDevice(ctx, jidA)
	if err != nil || got == nil {
		t.Fatalf("GetDevice on PostgreSQL: %v", err)
	}
	// MarkPreKeysAsUploaded marked the first three of five.
	if n, err := got.PreKeys.UploadedPreKeyCount(ctx); err != nil || n != 3 {
		t.Errorf("uploaded pre-keys on PostgreSQL = %d, %v; want 3 (the booleans copied)", n, err)
	}
	if s, err := got.Sessions.GetSession(ctx, "999:0"); err != nil || string(s) != "a signal session" {
		t.Errorf("session on PostgreSQL = %q, %v", s, err)
	}
	if kind, err := dst.lookup(ctx, a, "3EB0AAAA"); err != nil || kind != ledgerDelivered {
		t.Errorf("ledger on PostgreSQL = %q, %v; want %q", kind, err, ledgerDelivered)
	}
}

// A migrate killed outright leaves its snapshot folder (private keys) in
// the data folder: the next SnapshotKeys removes it, but not the folder of
// a migrate still running (locked). DropKeySchema drops an empty key
// schema, and a missing one is nothing to do.
func TestStaleSnapshotRemovedAndEmptySchemaDropped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := openTestKeystore(t, dir)
	if err := src.close(); err != nil {
		t.Fatal(err)
	}
	stale, held := filepath.Join(dir, snapshotPrefix+"killed"), filepath.Join(dir, snapshotPrefix+"running")
	for _, d := range []string{stale, held} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, DBFile), []byte("keys"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lock, err := lockSnapshot(held)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	snap, err := SnapshotKeys(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale snapshot folder is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(held, DBFile)); err != nil {
		t.Errorf("the running migrate's snapshot folder was touched: %v", err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}

	url := pgDatabase(t)
	if err := DropKeySchema(ctx, url); err != nil {
		t.Fatalf("DropKeySchema without the schema: %v", err)
	}
	if _, err := PrepareKeySchema(ctx, url); err != nil {
		t.Fatal(err)
	}
	if err := DropKeySchema(ctx, url); err != nil {
		t.Fatalf("DropKeySchema of the empty schema: %v", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var there bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, KeySchema).Scan(&there); err != nil || there {
		t.Errorf("the key schema after DropKeySchema: there %v, %v", there, err)
	}
}

// keyValue errors name what did not fit, never the value (private keys).
func TestKeyValueNeverShowsTheValue(t *testing.T) {
	for _, c := range []struct {
		v   any
		typ string
	}{{"s3cret-key", "boolean"}, {"s3cret-key", "uuid"}, {[]byte("s3cret-key"), "integer"}, {"s3cret-key", "jsonb"}} {
		_, err := keyValue(c.v, c.typ)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("keyValue(%T, %s) = %v, want an error without the value", c.v, c.typ, err)
		}
	}
	if v, err := keyValue(int64(1), "boolean"); err != nil || v != true {
		t.Errorf("keyValue(1, boolean) = %v, %v", v, err)
	}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
