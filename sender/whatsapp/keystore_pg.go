//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.uber.org/zap"
)

// The device keys on PostgreSQL (SPEC §10, §12): with Config.DatabaseURL,
// whatsmeow's sqlstore (its postgres dialect) and wagate's two tables live
// in the schema KeySchema of wagate's own database, so every replica finds
// the keys of every account and a backup of the database holds them.
//
// The schema is set as the connections' search_path, so whatsmeow's
// unqualified table names land in it and never meet wagate's tables (the
// public schema, store/postgres). whatsmeow migrates its tables itself
// (they are the library's, not wagate's migrations); wagate's two are
// created if missing. Both run under an advisory lock, so replicas
// starting together do not race to create them.
//
// One caveat of the library: its check for an existing table
// (go.mau.fi/util/dbutil) does not look at the schema, so the database
// must hold whatsmeow's tables in this schema only (not also in public,
// from another program).

// KeySchema is the PostgreSQL schema of the device keys and the send
// ledger.
const KeySchema = "whatsapp"

// keysLock is the key of the advisory lock taken while the schema is
// created and migrated: any fixed number, the same in every wagate
// ("wa-keys" in ASCII), apart from store/postgres's.
const keysLock = 0x77612d6b657973

// keysMaxConns bounds the connections of the key store: every session
// reads and writes keys, and many accounts must not take all of the
// server's connections from the store.
const keysMaxConns = 8

// pgSchema is wagate's two tables of schema, in PostgreSQL's types (times
// are Unix nanoseconds, which need 64 bits).
const pgSchema = `
CREATE TABLE IF NOT EXISTS wagate_account_device (
	workspace TEXT NOT NULL,
	phone     TEXT NOT NULL,
	jid       TEXT NOT NULL,
	linked_at BIGINT NOT NULL,
	PRIMARY KEY (workspace, phone)
);
CREATE TABLE IF NOT EXISTS wagate_ledger (
	workspace TEXT NOT NULL,
	phone     TEXT NOT NULL,
	wa_id     TEXT NOT NULL,
	kind      TEXT NOT NULL,
	rank      INTEGER NOT NULL,
	at        BIGINT NOT NULL,
	PRIMARY KEY (workspace, phone, wa_id)
);
CREATE INDEX IF NOT EXISTS wagate_ledger_at ON wagate_ledger (at);
`

// openKeys opens the key store cfg names: the DatabaseURL's schema when it
// is set, else DataDir/whatsapp.db.
func openKeys(ctx context.Context, cfg Config) (*keystore, error) {
	log := cfg.Logger.Named("whatsapp")
	if cfg.DatabaseURL != "" {
		return openPostgresKeystore(ctx, cfg.DatabaseURL, log)
	}
	return openKeystore(ctx, filepath.Join(cfg.DataDir, DBFile), log)
}

// openPostgresKeystore opens the key store in the schema KeySchema of the
// database at url, creating and migrating it.
func openPostgresKeystore(ctx context.Context, url string, log *zap.Logger) (*keystore, error) {
	// Parsed as the store's pool parses it, so the pool's own parameters
	// (pool_max_conns, …), which the README lets an operator set, are taken
	// out instead of reaching the server as unknown settings.
	poolCfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may hold a password: name the problem, not the URL.
		return nil, errors.New("whatsapp: the database URL is not a valid postgres://user@host/database URL")
	}
	cfg := poolCfg.ConnConfig
	cfg.RuntimeParams["search_path"] = KeySchema
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(keysMaxConns)
	fail := func(what string, err error) (*keystore, error) {
		_ = db.Close()
		return nil, fmt.Errorf("whatsapp: %s of the key store (PostgreSQL schema %s): %w", what, KeySchema, err)
	}
	// The lock is a session's: hold it on one connection while the
	// others of the pool create and migrate.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fail("connecting to the database", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(keysLock)); err != nil {
		return fail("locking the schema", err)
	}
	// Unlocked on the way out whatever happened; the lock also ends with
	// the session if this fails.
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(keysLock))
	}()
	if _, err := conn.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{KeySchema}.Sanitize()); err != nil {
		return fail("creating the schema", err)
	}
	container := sqlstore.NewWithDB(db, "postgres", waLogger(log.Named("store")))
	if err := container.Upgrade(ctx); err != nil {
		return fail("upgrading whatsmeow's tables", err)
	}
	if _, err := db.ExecContext(ctx, pgSchema); err != nil {
		return fail("creating wagate's tables", err)
	}
	return &keystore{db: db, container: container, log: log}, nil
}
