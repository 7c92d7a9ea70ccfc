//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
)

func openTestKeystore(t *testing.T, dir string) *keystore {
	t.Helper()
	ks, err := openKeystore(context.Background(), filepath.Join(dir, DBFile), zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("openKeystore: %v", err)
	}
	return ks
}

// linkFake stores a device for ref as a pairing would: whatsmeow saves the
// device with its JID, wagate records which account it belongs to.
func linkFake(t *testing.T, ks *keystore, ref wagate.AccountRef, jid types.JID) {
	t.Helper()
	ctx := context.Background()
	dev := ks.container.NewDevice()
	dev.ID = &jid
	dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{1}, AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := ks.container.PutDevice(ctx, dev); err != nil {
		t.Fatalf("PutDevice: %v", err)
	}
	if err := dev.Identities.PutIdentity(ctx, "999:0", [32]byte{1}); err != nil {
		t.Fatalf("PutIdentity: %v", err)
	}
	if err := ks.paired(ctx, ref, jid); err != nil {
		t.Fatalf("paired: %v", err)
	}
}

func countRows(t *testing.T, ks *keystore, query string, args ...any) int {
	t.Helper()
	var n int
	if err := ks.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// Two accounts' devices live in one SQLite file; unlinking one deletes its
// keys (foreign keys cascade) and leaves the other's, also after a reopen.
func TestKeystoreTwoDevicesDeleteOne(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ks := openTestKeystore(t, dir)
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
		real := cli.(*whatsmeow.Client)
		if real.Store.ID == nil || real.Store.ID.User != ref.Phone[1:] {
			t.Fatalf("client(%s) has device %v", ref.Phone, real.Store.ID)
		}
		if real.EnableAutoReconnect {
			t.Errorf("client(%s): EnableAutoReconnect on; the session reconnects itself", ref.Phone)
		}
	}
	if n := countRows(t, ks, "SELECT count(*) FROM whatsmeow_identity_keys"); n != 2 {
		t.Fatalf("identity keys before delete = %d, want 2", n)
	}

	if err := ks.forget(ctx, a); err != nil {
		t.Fatalf("forget: %v", err)
	}
	if n := countRows(t, ks, "SELECT count(*) FROM whatsmeow_identity_keys WHERE our_jid = ?", jidA.String()); n != 0 {
		t.Errorf("identity keys of the deleted device = %d, want 0 (foreign keys must cascade)", n)
	}
	if err := ks.close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	ks = openTestKeystore(t, dir)
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
	if n := countRows(t, ks, "SELECT count(*) FROM whatsmeow_identity_keys WHERE our_jid = ?", jidB.String()); n != 1 {
		t.Errorf("identity keys of the kept device = %d, want 1", n)
	}
}

// The ledger keeps the strongest word about a message across a reopen, and
// the sweep drops old rows.
func TestKeystoreLedger(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ks := openTestKeystore(t, dir)
	ref := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550001"}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		kind string
		want string
	}{
		{ledgerPosting, ledgerPosting},
		{ledgerDelivered, ledgerDelivered},
		{ledgerAcked, ledgerDelivered}, // a late ack does not weaken a receipt
		{ledgerRead, ledgerRead},
	}
	for _, st := range steps {
		if err := ks.seen(ctx, ref, "3EB0AA", st.kind, t0); err != nil {
			t.Fatalf("seen(%s): %v", st.kind, err)
		}
		if got, _ := ks.lookup(ctx, ref, "3EB0AA"); got != st.want {
			t.Errorf("after %s: lookup = %q, want %q", st.kind, got, st.want)
		}
	}
	other := wagate.AccountRef{WorkspaceID: "ws1", Phone: "+14155550002"}
	if got, _ := ks.lookup(ctx, other, "3EB0AA"); got != ledgerNone {
		t.Errorf("another account's lookup = %q, want none: ids count per account", got)
	}
	ks.close()
	ks = openTestKeystore(t, dir)
	defer ks.close()
	if got, _ := ks.lookup(ctx, ref, "3EB0AA"); got != ledgerRead {
		t.Errorf("after reopen: %q, want read", got)
	}
	if err := ks.sweep(ctx, t0.Add(ledgerKeep+time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := ks.lookup(ctx, ref, "3EB0AA"); got != ledgerNone {
		t.Errorf("after sweep: %q, want none", got)
	}
}

// The DSN escapes the characters a file: URI would read as its query or
// fragment, so a data folder may be named anything.
func TestKeystoreOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "da?ta#1 %20")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ks := openTestKeystore(t, dir)
	defer ks.close()
	if _, err := os.Stat(filepath.Join(dir, DBFile)); err != nil {
		t.Fatalf("%s was not created in %s", DBFile, dir)
	}
}
