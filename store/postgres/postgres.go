package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives the backend's warnings; nil means zap.NewNop().
	Logger *zap.Logger
	// Now is the clock for times the caller left zero; nil means time.Now.
	Now func() time.Time
	// FailCommit is for tests only: called with the operation's name
	// inside every write transaction, just before the commit; a non-nil
	// error rolls the write back and is returned as EUNAVAILABLE (see
	// store.Options.FailCommit).
	FailCommit func(op string) error
	// MaxAccounts and MaxChats are the operator's limits per workspace
	// (--max-accounts, --max-chats): CreateAccount and CreateChat refuse
	// one more with ECONFLICT naming the flag. 0 means no limit.
	MaxAccounts int
	MaxChats    int
	// Committers is how many transactions of accepts may be open at once
	// (commit.go); 0 means 4. Each commits the accepts of the workspaces
	// whose id hashes to it, so one workspace's accepts use one. More
	// committers overlap more commits of different workspaces, in smaller
	// batches, and take more connections from the pool.
	Committers int
	// OnDeliveries, when set, is called after a commit that gave endpoints
	// deliveries to make (an event fanned out, a retry, an enable), with
	// those endpoints, so this replica's deliverer starts on them at once
	// (outbound.Deliverer.Wake); a rolled-back write calls nothing. It
	// must not block. Other replicas find them by their poll.
	OnDeliveries func([]wagate.EndpointRef)
	// DeliveryLease is how long a delivery claimed by NextDeliveries stays
	// with this store (queue_outbox.go); 0 means DefaultDeliveryLease.
	DeliveryLease time.Duration
	// Replica names this replica as the owner of the account leases it
	// claims (lease.go); "" means a random name, new at every Open. A
	// fixed name lets a restarted replica renew its predecessor's leases
	// at once (its sender still recovers each account first), so it must
	// be unique among the live replicas: two processes under one name
	// both pass the fence. LeaseTTL is how long a claim or renewal holds;
	// 0 means DefaultLeaseTTL.
	Replica  string
	LeaseTTL time.Duration
}

// DB is wagate's PostgreSQL store. It is safe for concurrent use.
type DB struct {
	pool       *pgxpool.Pool
	log        *zap.Logger
	now        func() time.Time
	failCommit func(op string) error
	// maxAccounts and maxChats are Options.MaxAccounts and MaxChats.
	maxAccounts int
	maxChats    int
	// The group commit of accepts (commit.go): requests wait in the queue
	// of the committer their workspace hashes to. queued, when set (tests),
	// is called once a request is in its queue.
	queues    []*commitQueue
	queued    func(*acceptJob)
	wg        sync.WaitGroup
	closeOnce sync.Once
	// The outbox (event.go, queue_outbox.go): Options.OnDeliveries, this
	// store's name as the owner of delivery leases (random per Open, so
	// two stores on one database are two owners), and the lease.
	onDeliveries  func([]wagate.EndpointRef)
	owner         string
	deliveryLease time.Duration
	// leases is this replica's part in sharing the accounts (lease.go).
	leases   *leaseBook
	counters commitCounters // CommitStats (commit.go)
	inbound  inboundCache   // FindWorkspaceByInboundToken's answers (inboundcache.go)
}

// Compile-time guards: the services this backend implements so far.
var (
	_ wagate.WorkspaceService = (*DB)(nil)
	_ wagate.TokenService     = (*DB)(nil)
	_ wagate.SessionService   = (*DB)(nil)
	_ wagate.AccountService   = (*DB)(nil)
	_ wagate.ChatService      = (*DB)(nil)
	_ wagate.MessageService   = (*DB)(nil)
	_ wagate.AttemptService   = (*DB)(nil)
	_ wagate.EndpointService  = (*DB)(nil)
	_ wagate.DeliveryQueue    = (*DB)(nil)
)

// Open connects to the database at url (postgres://…) and applies the
// migrations it lacks. A database migrated by a newer wagate is refused.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may hold a password: name the problem, not the URL.
		return nil, errors.New("postgres: the database URL is not a valid postgres://user@host/database URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if _, err := migrate(ctx, pool, migrationFiles, "migrations"); err != nil {
		pool.Close()
		return nil, err
	}
	db := &DB{pool: pool, log: opts.Logger, now: opts.Now, failCommit: opts.FailCommit,
		maxAccounts: opts.MaxAccounts, maxChats: opts.MaxChats}
	if db.log == nil {
		db.log = zap.NewNop()
	}
	if db.now == nil {
		db.now = time.Now
	}
	if db.leases, err = newLeaseBook(opts.Replica, opts.LeaseTTL); err != nil {
		pool.Close()
		return nil, err
	}
	db.onDeliveries, db.deliveryLease = opts.OnDeliveries, opts.DeliveryLease
	if db.deliveryLease <= 0 {
		db.deliveryLease = DefaultDeliveryLease
	}
	if db.owner, err = newOwner(idSource); err != nil {
		pool.Close()
		return nil, err
	}
	n := opts.Committers
	if n <= 0 {
		n = 4
	}
	db.startCommitters(n)
	return db, nil
}

// Close stops the committers, letting each finish its batch, and closes
// every connection, waiting for those in use. Closing twice is harmless.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.stopCommitters()
		db.releaseLeases()
		db.pool.Close()
	})
	return nil
}

// unavailable wraps a storage fault as EUNAVAILABLE, keeping the cause for
// errors.Is; domain errors pass through unchanged.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	var we *wagate.Error
	if errors.As(err, &we) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w: %w", op, wagate.Errorf(wagate.EUNAVAILABLE, "storage is unavailable; try again in a moment"), err)
}

// update runs fn in one write transaction and commits it, unless fn or the
// injected fault returns an error.
func (db *DB) update(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(op, err)
	}
	var woken []wagate.EndpointRef // the outbox's wake-ups (event.go)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		woken = woken[:0]
		if err := fn(&wakeTx{Tx: tx, refs: &woken}); err != nil {
			return err
		}
		if db.failCommit != nil {
			return db.failCommit(op)
		}
		return nil
	})
	if !keepsInbound[op] {
		// After the transaction, whatever its outcome: a lost COMMIT may
		// still have committed.
		db.inbound.invalidate()
	}
	if err == nil {
		db.wake(woken)
	}
	return unavailable(op, err)
}

// view runs fn in a read-only transaction: one snapshot for reads of
// several statements. Reads are never failed by FailCommit.
func (db *DB) view(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(op, err)
	}
	return unavailable(op, pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, fn))
}

// read runs fn outside a transaction, for single-statement reads.
func (db *DB) read(ctx context.Context, op string, fn func(q querier) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(op, err)
	}
	return unavailable(op, fn(db.pool))
}

// querier is what a pool and a transaction share, so helpers serve both.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// uniqueViolation reports whether err is a unique constraint violation of
// the named constraint (any constraint when name is "").
func uniqueViolation(err error, name string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && (name == "" || pe.ConstraintName == name)
}

// orNow returns t, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
