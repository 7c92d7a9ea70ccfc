package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
	"github.com/wagate/wagate/store/postgres"
)

// Serving on PostgreSQL (SPEC §12): what `wagate serve --database-url`
// does differently from the bbolt default. The backend itself is
// store/postgres; the sender leases accounts because that backend is a
// sender.Leaser (its lease rounds, takeovers and the Listen wake-ups come
// with it); this file holds the settings and the operator token, which
// belongs to the database, not to a replica.

// MinLeaseTTL is the shortest --lease-ttl: a lease must outlast a few of
// the sender's renewal rounds (leaseEvery) and the clock skew between
// replicas, or a live replica loses its accounts.
const MinLeaseTTL = time.Second

// validateDatabase checks the PostgreSQL settings without ever echoing the
// URL, which may hold a password.
func (c Config) validateDatabase() error {
	if c.DatabaseURL == "" {
		switch {
		case c.Replica != "":
			return errors.New("--replica: only with --database-url (replicas share a PostgreSQL database; the bbolt store in --data serves one process)")
		case c.LeaseTTL != 0:
			return errors.New("--lease-ttl: only with --database-url (leases share accounts between replicas of a PostgreSQL database)")
		case c.DryrunSharedOutbox != "":
			return errors.New("--dryrun-shared-outbox: only with --database-url (one process confirms its interrupted dryrun sends from the outbox in --data)")
		}
		return nil
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("--database-url: not a valid postgres://user:password@host/database URL (not shown here: it may hold a password)")
	}
	if c.LeaseTTL < 0 || (c.LeaseTTL > 0 && c.LeaseTTL < MinLeaseTTL) {
		return fmt.Errorf("--lease-ttl %s: give at least %s, e.g. 30s (the default)", c.LeaseTTL, MinLeaseTTL)
	}
	return nil
}

// leaseEvery is how often the sender renews its leases for a lease TTL of
// ttl: the default round, or a quarter of a short TTL, so a live replica
// renews three times before its leases could expire.
func leaseEvery(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		ttl = postgres.DefaultLeaseTTL
	}
	return min(sender.DefaultLeaseEvery, ttl/4)
}

// openPostgres opens the database of cfg.DatabaseURL as this replica. Its
// errors name the database by host and name only.
func openPostgres(ctx context.Context, cfg Config, log *zap.Logger, onDeliveries func(refs []wagate.EndpointRef)) (*postgres.DB, error) {
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Logger: log.Named("store"),
		MaxAccounts: cfg.MaxAccounts, MaxChats: cfg.MaxChats, OnDeliveries: onDeliveries,
		Replica: cfg.Replica, LeaseTTL: cfg.LeaseTTL})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", databaseName(cfg.DatabaseURL), err)
	}
	ttl := cfg.LeaseTTL
	if ttl <= 0 {
		ttl = postgres.DefaultLeaseTTL
	}
	log.Info("storage: PostgreSQL, shared with the other replicas", zap.String("database", databaseName(cfg.DatabaseURL)),
		zap.String("replica", db.Replica()), zap.Duration("lease_ttl", ttl))
	return db, nil
}

// sharedTokens is the operator token's side of a backend that replicas
// share (postgres.DB).
type sharedTokens interface {
	CreateOperatorTokenOnce(ctx context.Context, t *wagate.Token) (created bool, err error)
	FindToken(ctx context.Context, hash [32]byte) (*wagate.Token, error)
}

// ensureSharedOperatorToken is ensureOperatorToken for a database that
// replicas share: the database has ONE operator token, made by the first
// replica to start on it, which prints it once and keeps it in its
// {data}/operator.token. A replica that finds one already says where it is
// and prints nothing: starting a replica never rotates the token (that
// would revoke the one the operator holds). A token file already in the
// data folder (a restart, or a copy from the first replica) is registered
// if the database has none yet.
func ensureSharedOperatorToken(ctx context.Context, dataDir string, db sharedTokens, out io.Writer, log *zap.Logger) error {
	path := filepath.Join(dataDir, operatorTokenFile)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		token := string(bytes.TrimSpace(raw))
		if token == "" {
			return fmt.Errorf("operator token file %s is empty; delete it (the database keeps its operator token)", path)
		}
		hash := wagate.HashToken(token)
		if _, err := db.CreateOperatorTokenOnce(ctx, &wagate.Token{Hash: hash, Role: wagate.RoleOperator}); err != nil {
			return fmt.Errorf("operator token: %w", err)
		}
		t, err := db.FindToken(ctx, hash)
		if err != nil && wagate.ErrorCode(err) != wagate.ENOTFOUND {
			return fmt.Errorf("operator token: %w", err)
		}
		if t == nil || t.Role != wagate.RoleOperator {
			log.Warn("the operator token file is not this database's operator token; use the one of the replica that started first on the database, or delete the file", zap.String("file", path))
		}
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("operator token: %w", err)
	}

	token, err := wagate.NewToken(rand.Reader)
	if err != nil {
		return err
	}
	// The file first: a token the database keeps but nobody has would lock
	// the operator out. It goes again if another replica's token won.
	if err := writeFileSync(path, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	created, err := db.CreateOperatorTokenOnce(ctx, &wagate.Token{Hash: wagate.HashToken(token), Role: wagate.RoleOperator})
	if err != nil || !created {
		if rmErr := os.Remove(path); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
	}
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	if !created {
		const where = "The database's operator token was made by the replica that started on it first: it printed it once and keeps it in operator.token in its --data folder (copy that file here to have it on this replica too).\n\n"
		fmt.Fprint(out, where)
		log.Info("the database has its operator token already; this replica made none", zap.String("where", "operator.token in the --data folder of the replica that started first"))
		return nil
	}
	fmt.Fprintf(out, "Operator token of the database, for every replica (shown once; also in %s):\n  %s\n\n", path, token)
	return nil
}
