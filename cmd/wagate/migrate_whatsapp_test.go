//go:build !nowhatsapp

package main

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	_ "modernc.org/sqlite"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// `wagate migrate` keeps a linked WhatsApp Web account linked: an account
// linked on a bbolt wagate (through the fake WhatsApp and the real
// Manager, whose device the key store records) is migrated without
// --relink-whatsapp; a replica on PostgreSQL then finds it linked,
// connects it without a QR code and sends through it; the device in the
// database's key schema has the identity of the file's (whatsmeow's keys
// copied, not made anew); the send ledger came along; and the keys show
// in no output.
func TestMigrateWhatsAppKeepsTheDeviceLinked(t *testing.T) {
	wa := whatsapptest.New()
	useFakeWhatsApp(t, wa)
	ctx := context.Background()
	dir := t.TempDir()
	in := start(t, testConfig(dir, 10*time.Millisecond, 0))
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	const phone = "+14155550123"
	ref := wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}
	st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
	c1 := linkByQR(t, in, ws, wa, phone)
	body := map[string]any{"action": "send", "whatsapp_account_phone": phone, "phone": "+14155552671", "text": "before the move"}
	id1 := send(t, ws.inboundURL, body)
	waitFor(t, "the message sent on bbolt", func() bool { return messageStatus(t, in, ws, id1) == "sent" })
	in.stop()

	// The fake client keeps no whatsmeow keys: give the recorded device
	// real ones, as a phone's pairing would have, to see them travel.
	identity := putWhatsmeowDevice(t, filepath.Join(dir, whatsapp.DBFile), ref)

	url := newPGDatabase(t)
	var out, errOut strings.Builder
	code := run([]string{"migrate", "--from", dir, "--to", url}, &out, &errOut, func(string) string { return "" })
	all := out.String() + errOut.String()
	if code != 0 || !strings.Contains(all, "whatsapp keys") || strings.Contains(all, "wagate account link") {
		t.Fatalf("migrate with a linked WhatsApp Web account: exit %d, want 0 with the keys copied and nothing to link again\n%s", code, all)
	}
	t.Log(all)

	// The device in PostgreSQL is the file's.
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = whatsapp.KeySchema
	keyDB := stdlib.OpenDB(*cfg)
	defer keyDB.Close()
	dev, err := sqlstore.NewWithDB(keyDB, "postgres", nil).GetDevice(ctx, identity.jid)
	if err != nil || dev == nil {
		t.Fatalf("the device %s in the database: %v, %v", identity.jid, dev, err)
	}
	if *dev.IdentityKey.Priv != identity.key || dev.RegistrationID != identity.registration {
		t.Error("the device in the database has another identity than the file's")
	}
	if strings.Contains(all, string(identity.key[:])) {
		t.Error("the output shows a private key")
	}
	var ledger int
	if err := keyDB.QueryRowContext(ctx, "SELECT count(*) FROM wagate_ledger WHERE workspace = $1 AND phone = $2", ws.id, phone).Scan(&ledger); err != nil || ledger == 0 {
		t.Errorf("the send ledger in the database holds %d rows of the account (%v), want the bbolt wagate's", ledger, err)
	}

	// A replica on PostgreSQL connects the device without linking.
	pgCfg := testConfig(t.TempDir(), 10*time.Millisecond, 0)
	pgCfg.DatabaseURL, pgCfg.Replica = url, "r1"
	pg, logs := startPG(t, pgCfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(grepErrors(logs.String()))
		}
	})
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c2 := wa.Connecting(wait, ref, c1)
	if c2 == nil {
		t.Fatal("the replica on PostgreSQL did not connect the migrated account")
	}
	if !c2.IsLoggedIn() {
		t.Fatal("the replica made an unlinked client: the account's device did not travel")
	}
	c2.Connected()
	waitFor(t, "the account connected on PostgreSQL", func() bool { return storedLink(t, pg, ws, phone) == "connected" })
	body["text"] = "after the move"
	id2 := send(t, pg.base+path(ws.inboundURL), body)
	waitFor(t, "the message sent on PostgreSQL", func() bool { return messageStatus(t, pg, ws, id2) == "sent" })
	if sent := c2.Sent(); len(sent) != 1 || sent[0].ID != whatsapp.MessageID(id2) {
		t.Errorf("the replica's client took %+v, want the message %s", sent, id2)
	}
}

// deviceIdentity is what makes a companion device the same to WhatsApp.
type deviceIdentity struct {
	jid          types.JID
	key          [32]byte
	registration uint32
}

// putWhatsmeowDevice saves whatsmeow keys for the device the key store at
// path records for ref, and returns its identity.
func putWhatsmeowDevice(t *testing.T, path string, ref wagate.AccountRef) deviceIdentity {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var raw string
	if err := db.QueryRowContext(ctx, "SELECT jid FROM wagate_account_device WHERE workspace = $1 AND phone = $2", ref.WorkspaceID, ref.Phone).Scan(&raw); err != nil {
		t.Fatalf("the device recorded for %s: %v", ref.Phone, err)
	}
	jid, err := types.ParseJID(raw)
	if err != nil {
		t.Fatal(err)
	}
	container := sqlstore.NewWithDB(db, "sqlite", nil)
	dev := container.NewDevice()
	dev.ID = &jid
	dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{1}, AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := container.PutDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.PreKeys.GetOrGenPreKeys(ctx, 3); err != nil {
		t.Fatal(err)
	}
	return deviceIdentity{jid: jid, key: *dev.IdentityKey.Priv, registration: dev.RegistrationID}
}
