//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // the pure-Go driver "sqlite": no cgo

	"github.com/wagate/wagate"
)

// devices finds the whatsmeow client of an account. keystore implements it
// on SQLite; tests give a fake.
type devices interface {
	// client returns a client for the account's linked device (linked
	// true) or for a new, unpaired one. phone is the account's E.164
	// number: a device of another number is refused at pairing.
	client(ctx context.Context, ref wagate.AccountRef) (c Client, linked bool, err error)
	// paired records that the account's device is now jid.
	paired(ctx context.Context, ref wagate.AccountRef, jid types.JID) error
	// forget deletes the account's device and its keys.
	forget(ctx context.Context, ref wagate.AccountRef) error
}

// ledger remembers, per account, which WhatsApp message ids wagate handed to
// a client and what WhatsApp said of them since, so that Confirm can answer
// after a crash. keystore implements it in the same SQLite file.
type ledger interface {
	// posting records, durably and before the message is handed to the
	// client, that it may go out.
	posting(ctx context.Context, ref wagate.AccountRef, waID string, at time.Time) error
	// seen records what WhatsApp said of it (one of the ledger… kinds);
	// a later word never replaces a stronger one.
	seen(ctx context.Context, ref wagate.AccountRef, waID, kind string, at time.Time) error
	// lookup returns the strongest word recorded, ledgerNone when the id
	// was never handed to a client.
	lookup(ctx context.Context, ref wagate.AccountRef, waID string) (string, error)
}

// What the ledger knows of a message, weakest first.
const (
	ledgerNone      = ""
	ledgerPosting   = "posting"   // handed to the client; fate unknown
	ledgerRefused   = "refused"   // the server answered with an error code: not sent
	ledgerAcked     = "acked"     // the server acknowledged it
	ledgerPeer      = "peer"      // one of the account's own devices got it
	ledgerDelivered = "delivered" // the recipient's phone got it
	ledgerRead      = "read"
)

var ledgerRank = map[string]int{ledgerNone: 0, ledgerPosting: 1, ledgerRefused: 2, ledgerAcked: 3, ledgerPeer: 4, ledgerDelivered: 5, ledgerRead: 6}

// ledgerKeep is how long a ledger row is kept: longer than any stop the
// sender's recovery can follow, short enough that the file stays small.
const ledgerKeep = 30 * 24 * time.Hour

// keystore is the SQLite file with whatsmeow's device store and wagate's
// two tables: the device of each account, and the send ledger; or the same
// in a PostgreSQL schema (keystore_pg.go). Its statements number their
// parameters ($1, $2…), which both databases read.
type keystore struct {
	db        *sql.DB
	container *sqlstore.Container
	log       *zap.Logger
	// tune, when set, adjusts each new client (tests point its HTTP
	// clients at a dialer that fails at once).
	tune func(*whatsmeow.Client)
}

var _ devices = (*keystore)(nil)
var _ ledger = (*keystore)(nil)

// dsn is the modernc.org/sqlite address of path: a file: URI (the path's
// '%', '?' and '#' escaped) with foreign keys on, which whatsmeow's schema
// relies on to delete a device's keys with it, a busy timeout for the
// moments two connections of the pool meet, and WAL so that a reader never
// waits for the writer.
func dsn(path string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")
	return "file:" + r.Replace(filepath.ToSlash(path)) +
		"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
}

const schema = `
CREATE TABLE IF NOT EXISTS wagate_account_device (
	workspace TEXT NOT NULL,
	phone     TEXT NOT NULL,
	jid       TEXT NOT NULL,
	linked_at INTEGER NOT NULL,
	PRIMARY KEY (workspace, phone)
);
CREATE TABLE IF NOT EXISTS wagate_ledger (
	workspace TEXT NOT NULL,
	phone     TEXT NOT NULL,
	wa_id     TEXT NOT NULL,
	kind      TEXT NOT NULL,
	rank      INTEGER NOT NULL,
	at        INTEGER NOT NULL,
	PRIMARY KEY (workspace, phone, wa_id)
);
CREATE INDEX IF NOT EXISTS wagate_ledger_at ON wagate_ledger (at);
`

// openKeystore opens (creating) path and brings both schemas up to date.
func openKeystore(ctx context.Context, path string, log *zap.Logger) (*keystore, error) {
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("whatsapp: opening the key store %s: %w", path, err)
	}
	var fk int
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("whatsapp: opening the key store %s: %w", path, err)
	}
	if fk != 1 {
		_ = db.Close()
		return nil, fmt.Errorf("whatsapp: the key store %s has foreign keys off; its DSN must turn them on", path)
	}
	container := sqlstore.NewWithDB(db, "sqlite", waLogger(log.Named("store")))
	if err := container.Upgrade(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("whatsapp: upgrading the key store %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("whatsapp: creating wagate's tables in %s: %w", path, err)
	}
	return &keystore{db: db, container: container, log: log}, nil
}

func (k *keystore) close() error { return k.container.Close() }

// deviceJID returns the account's device, or the zero JID.
func (k *keystore) deviceJID(ctx context.Context, ref wagate.AccountRef) (types.JID, error) {
	var raw string
	err := k.db.QueryRowContext(ctx, "SELECT jid FROM wagate_account_device WHERE workspace = $1 AND phone = $2", ref.WorkspaceID, ref.Phone).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return types.JID{}, nil
	}
	if err != nil {
		return types.JID{}, fmt.Errorf("whatsapp: reading the device of %s: %w", ref.Phone, err)
	}
	return types.ParseJID(raw)
}

func (k *keystore) client(ctx context.Context, ref wagate.AccountRef) (Client, bool, error) {
	jid, err := k.deviceJID(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	var dev *store.Device
	if !jid.IsEmpty() {
		dev, err = k.container.GetDevice(ctx, jid)
		if err != nil {
			return nil, false, fmt.Errorf("whatsapp: reading the keys of %s: %w", ref.Phone, err)
		}
	}
	linked := dev != nil
	if dev == nil {
		dev = k.container.NewDevice()
	}
	cli := whatsmeow.NewClient(dev, waLogger(k.log.Named("client").With(zap.String("account", ref.Phone))))
	// The session reconnects with its own backoff, so that it can report
	// each state; the library's own reconnect after pairing (code 515)
	// stays on.
	cli.EnableAutoReconnect = false
	want := strings.TrimPrefix(ref.Phone, "+")
	// Refuse a phone that is not the account's before the pairing
	// completes, so WhatsApp never lists wagate as a device of it.
	cli.PrePairCallback = func(jid types.JID, platform, businessName string) bool {
		if jid.User != want {
			k.log.Warn("refused to link a device of another phone", zap.String("account", ref.Phone))
			return false
		}
		return true
	}
	if k.tune != nil {
		k.tune(cli)
	}
	return cli, linked, nil
}

func (k *keystore) paired(ctx context.Context, ref wagate.AccountRef, jid types.JID) error {
	_, err := k.db.ExecContext(ctx, `INSERT INTO wagate_account_device (workspace, phone, jid, linked_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (workspace, phone) DO UPDATE SET jid = excluded.jid, linked_at = excluded.linked_at`,
		ref.WorkspaceID, ref.Phone, jid.String(), time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("whatsapp: recording the device of %s: %w", ref.Phone, err)
	}
	return nil
}

func (k *keystore) forget(ctx context.Context, ref wagate.AccountRef) error {
	jid, err := k.deviceJID(ctx, ref)
	if err != nil {
		return err
	}
	if !jid.IsEmpty() {
		dev, err := k.container.GetDevice(ctx, jid)
		if err != nil {
			return fmt.Errorf("whatsapp: reading the keys of %s: %w", ref.Phone, err)
		}
		if dev != nil {
			if err := k.container.DeleteDevice(ctx, dev); err != nil {
				return fmt.Errorf("whatsapp: deleting the keys of %s: %w", ref.Phone, err)
			}
		}
	}
	if _, err := k.db.ExecContext(ctx, "DELETE FROM wagate_account_device WHERE workspace = $1 AND phone = $2", ref.WorkspaceID, ref.Phone); err != nil {
		return fmt.Errorf("whatsapp: forgetting the device of %s: %w", ref.Phone, err)
	}
	return nil
}

func (k *keystore) posting(ctx context.Context, ref wagate.AccountRef, waID string, at time.Time) error {
	return k.seen(ctx, ref, waID, ledgerPosting, at)
}

func (k *keystore) seen(ctx context.Context, ref wagate.AccountRef, waID, kind string, at time.Time) error {
	_, err := k.db.ExecContext(ctx, `INSERT INTO wagate_ledger (workspace, phone, wa_id, kind, rank, at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (workspace, phone, wa_id) DO UPDATE SET kind = excluded.kind, rank = excluded.rank, at = excluded.at
		WHERE excluded.rank > wagate_ledger.rank`,
		ref.WorkspaceID, ref.Phone, waID, kind, ledgerRank[kind], at.UnixNano())
	if err != nil {
		return fmt.Errorf("whatsapp: recording %s of a message of %s: %w", kind, ref.Phone, err)
	}
	return nil
}

func (k *keystore) lookup(ctx context.Context, ref wagate.AccountRef, waID string) (string, error) {
	var kind string
	err := k.db.QueryRowContext(ctx, "SELECT kind FROM wagate_ledger WHERE workspace = $1 AND phone = $2 AND wa_id = $3", ref.WorkspaceID, ref.Phone, waID).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return ledgerNone, nil
	}
	if err != nil {
		return "", fmt.Errorf("whatsapp: reading the ledger of %s: %w", ref.Phone, err)
	}
	return kind, nil
}

// sweep deletes ledger rows older than ledgerKeep.
func (k *keystore) sweep(ctx context.Context, now time.Time) error {
	_, err := k.db.ExecContext(ctx, "DELETE FROM wagate_ledger WHERE at < $1", now.Add(-ledgerKeep).UnixNano())
	return err
}
