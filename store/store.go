package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// SchemaVersion is the layout version this package writes. Open refuses a
// file with a newer version: an older wagate must not half-understand (and
// then rewrite) records it does not know.
//
// Versions: 1 stored every record as JSON. 2 writes the hot records in a
// binary form (codec.go) and still reads JSON ones, so Open moves a
// version 1 file to 2 by stamping the new number: no record is rewritten.
const SchemaVersion = 2

// InitialMmapSize pre-sizes the memory map, so the file can grow to this
// size without remapping. A remap waits for every open read transaction,
// which would stall the accept path while a long read (ListMessages, Audit)
// runs.
const InitialMmapSize = 64 << 20

// LockTimeout is how long Open waits for the file lock. bbolt's default is to
// wait forever, which turns a second `wagate serve` on the same data folder
// into a silent hang instead of an error.
const LockTimeout = time.Second

// Bucket names; see the package documentation for what each holds.
var (
	bucketMeta         = []byte("meta")
	bucketWorkspaces   = []byte("workspaces")
	bucketInbound      = []byte("inbound")
	bucketAccounts     = []byte("accounts")
	bucketChats        = []byte("chats")
	bucketChatJIDs     = []byte("chat_jids")
	bucketMessages     = []byte("messages")
	bucketWsMessages   = []byte("ws_messages")
	bucketQueues       = []byte("queues")
	bucketSending      = []byte("sending")
	bucketIdempotency  = []byte("idempotency")
	bucketIdemByTime   = []byte("idempotency_by_time")
	bucketAttempts     = []byte("attempts")
	bucketTokens       = []byte("tokens")
	bucketProviderIDs  = []byte("provider_ids")
	keySchema          = []byte("schema")
	allBuckets         = [][]byte{bucketMeta, bucketWorkspaces, bucketInbound, bucketAccounts, bucketChats, bucketChatJIDs, bucketMessages, bucketWsMessages, bucketQueues, bucketSending, bucketIdempotency, bucketIdemByTime, bucketAttempts, bucketTokens, bucketProviderIDs, bucketWsTokens, bucketSessions, bucketTokenSess, bucketSessExpiry, bucketEndpoints, bucketEndpointSubs, bucketOutbox, bucketScheduled, bucketSends, bucketFirstSends, bucketBatches}
	errUnknownBucket   = errors.New("store: a top-level bucket is missing")
	errCorruptSequence = errors.New("store: a sequence key is not 8 bytes")
)

// Buckets of admin tokens and console sessions (token.go, session.go).
var (
	bucketWsTokens   = []byte("workspace_tokens")
	bucketSessions   = []byte("sessions")
	bucketTokenSess  = []byte("token_sessions")
	bucketSessExpiry = []byte("session_expiry")
)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives the store's and bbolt's warnings; nil means
	// zap.NewNop().
	Logger *zap.Logger
	// Now is the clock for idempotency expiry and for times the caller left
	// zero; nil means time.Now. Tests inject it to step over the 24 h
	// idempotency window without waiting.
	Now func() time.Time
	// FailCommit is for tests only: see fault.go. nil (always, outside
	// tests) injects nothing.
	FailCommit func(op string) error
	// MaxAccounts and MaxChats are the operator's limits per workspace
	// (SPEC §4: --max-accounts, --max-chats); a create past one is
	// ECONFLICT naming the flag, and so is an accepted message that would
	// create a chat past MaxChats. 0 means no limit.
	MaxAccounts int
	MaxChats    int
	// Rand is where event and delivery ids draw their random part; nil
	// means crypto/rand.Reader. Only writes read it, one at a time.
	Rand io.Reader
	// OnDeliveries, when set, is called after every commit that made
	// deliveries due for an endpoint (an event fanned out to it, a
	// delivery retried, a disabled endpoint with pending deliveries
	// enabled), with the endpoints concerned: the deliverer's wake-up, so
	// it needs no polling. It runs on the committing goroutine after the
	// commit and its locks are released, once per event (or admin write),
	// never for a rolled-back write: it must not block (a non-blocking
	// channel send) and must not write to the store.
	OnDeliveries func(refs []wagate.EndpointRef)
	// ReadOnly opens the file for reading only, as `wagate check` does: it
	// creates nothing and stamps nothing, so a damaged store is reported as
	// it is, not repaired on the way in. Writes fail.
	ReadOnly bool
}

// DB is wagate's bbolt store. It is safe for concurrent use; bbolt allows
// one writer and many readers at a time.
type DB struct {
	bolt *bolt.DB
	path string
	log  *zap.Logger
	now  func() time.Time
	// failCommit is Options.FailCommit: a test's injected storage fault.
	failCommit func(op string) error
	// commits group-commits the hot-path writes (see commit.go).
	commits *committer
	// inbound caches FindWorkspaceByInboundToken (see inboundcache.go);
	// update invalidates it.
	inbound inboundCache
	// limits are Options.MaxAccounts and MaxChats (limits.go).
	limits limits
	// rand and onDeliveries are Options.Rand and OnDeliveries (event.go,
	// outbox.go).
	rand         io.Reader
	onDeliveries func(refs []wagate.EndpointRef)
	// listeners are the workspaces whose changes look for endpoints
	// (endpoint.go).
	listeners listeners
}

// Compile-time guards: DB is the storage backend of every domain service.
// (The sender.Queue guard is in a test file, so the package itself does not
// depend on the sender.)
var (
	_ wagate.WorkspaceService = (*DB)(nil)
	_ wagate.AccountService   = (*DB)(nil)
	_ wagate.ChatService      = (*DB)(nil)
	_ wagate.MessageService   = (*DB)(nil)
	_ wagate.AttemptService   = (*DB)(nil)
	_ wagate.TokenService     = (*DB)(nil)
	_ wagate.SessionService   = (*DB)(nil)
)

// Open opens (or creates) the bbolt file at path, creates every bucket and
// checks the schema version. A file locked by another process is an error
// after LockTimeout rather than a hang.
func Open(path string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         LockTimeout,
		ReadOnly:        opts.ReadOnly,
		InitialMmapSize: InitialMmapSize,
		// No Logger: with one, bbolt formats a debug line for every Put,
		// Delete and commit (boxing its arguments even when debug is off,
		// 3 % of an accept's CPU on the single writer), and each error it
		// would log is also returned, where the store wraps and reports it.
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: %s is locked by another process (is a wagate server running on this data folder?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// NoSync stays false: every commit is fsynced before it returns, which
	// is what lets the gateway answer 200 only for durable messages.
	db := &DB{bolt: bdb, path: path, log: log, now: now, failCommit: opts.FailCommit,
		limits: limits{maxAccounts: opts.MaxAccounts, maxChats: opts.MaxChats},
		rand:   opts.Rand, onDeliveries: opts.OnDeliveries}
	if db.rand == nil {
		db.rand = rand.Reader
	}
	if !opts.ReadOnly {
		if err := bdb.Update(initSchema); err != nil {
			_ = bdb.Close()
			return nil, fmt.Errorf("store: %s: %w", path, err)
		}
	}
	if err := bdb.View(db.listeners.load); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	// A read-only store gets a committer too, so a write fails with bbolt's
	// read-only error like any other, instead of a nil dereference. Audit
	// reports missing buckets and a wrong schema of a read-only store.
	db.commits = startCommitter(bdb)
	return db, nil
}

// initSchema creates every top-level bucket and stamps or checks the schema
// version, in one commit.
func initSchema(tx *bolt.Tx) error {
	// A store from before the token index gets it built below, in this
	// same commit.
	indexTokens := tx.Bucket(bucketWsTokens) == nil
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	if indexTokens {
		if err := indexStoredTokens(tx); err != nil {
			return fmt.Errorf("index tokens: %w", err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keySchema)
	if v == nil {
		return meta.Put(keySchema, u64(SchemaVersion))
	}
	if len(v) != 8 {
		return fmt.Errorf("schema version is %d bytes, not 8: this is not a wagate store", len(v))
	}
	got := binary.BigEndian.Uint64(v)
	if got > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this wagate understands (%d): run a newer wagate on this data folder", got, SchemaVersion)
	}
	if got < SchemaVersion {
		// From here on binary records are written, which an older wagate
		// cannot read: the new number makes it refuse the file instead.
		return meta.Put(keySchema, u64(SchemaVersion))
	}
	return nil
}

// Close stops the committer and closes the file. A write still waiting for
// its group commit fails with EUNAVAILABLE; the commit in progress, if any,
// finishes. Close waits for open transactions, so the server closes the
// store last, after the HTTP server and the sender.
func (db *DB) Close() error {
	db.commits.stop()
	return db.bolt.Close()
}

// Path returns the file the store was opened on, for logs and `wagate check`.
func (db *DB) Path() string { return db.path }

// unavailable wraps a storage fault as EUNAVAILABLE, keeping the cause for
// errors.Is. Domain errors (*wagate.Error anywhere in the chain) pass
// through unchanged.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	var we *wagate.Error
	if errors.As(err, &we) {
		return err
	}
	return fmt.Errorf("store: %s: %w: %w", op, wagate.Errorf(wagate.EUNAVAILABLE, "storage is unavailable; try again in a moment"), err)
}

// begin refuses to start work for a caller that already gave up.
func begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// view runs fn in a read transaction.
func (db *DB) view(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := begin(ctx, op); err != nil {
		return err
	}
	return unavailable(op, db.bolt.View(fn))
}

// update runs fn in its own write transaction: for admin writes, which are
// rare and where a domain error must roll back. Every update invalidates the
// inbound cache once its transaction has ended, whatever it changed: admin
// writes are rare, and no write that changes a cached workspace can be
// forgotten. It is done even when the commit failed, since a failed fsync
// leaves it unknown what the file holds.
func (db *DB) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := begin(ctx, op); err != nil {
		return err
	}
	defer db.inbound.invalidate()
	return unavailable(op, db.bolt.Update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return db.fault(op)
	}))
}

// batch runs fn in a group commit (the committer, commit.go). fn may run
// more than once (when another function of its batch fails, every function
// is run again alone), and an error from fn would split the batch. So fn
// returns two errors: outcome, a domain result that fn must only return
// before it wrote anything it wants undone (it is returned to the caller
// after the commit), and err, a storage fault that rolls back. The outcome
// variable is reset at every run of fn.
func (db *DB) batch(ctx context.Context, op string, fn func(tx *bolt.Tx) (outcome, err error)) error {
	outcome, err := db.runBatch(ctx, op, fn)
	if err != nil {
		return err
	}
	return outcome
}

// runBatch is batch with the outcome of a committed run and a storage fault
// (wrapped as EUNAVAILABLE) kept apart.
func (db *DB) runBatch(ctx context.Context, op string, fn func(tx *bolt.Tx) (outcome, err error)) (outcome, fault error) {
	if err := begin(ctx, op); err != nil {
		return nil, err
	}
	err := db.commits.do(ctx, op, func(tx *bolt.Tx) error {
		outcome = nil
		o, err := fn(tx)
		if err == nil {
			err = db.fault(op)
		}
		if err != nil {
			return err
		}
		outcome = o
		return nil
	})
	if err != nil {
		return nil, unavailable(op, err)
	}
	return outcome, nil
}

// bucket returns a top-level bucket; they all exist after Open.
func bucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	b := tx.Bucket(name)
	if b == nil {
		// Only a file modified behind our back gets here.
		panic(fmt.Sprintf("%v: %s", errUnknownBucket, name))
	}
	return b
}

// u64 encodes n as an 8-byte big-endian key, so keys sort like numbers.
func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// seqOf decodes a key written by u64.
func seqOf(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, errCorruptSequence
	}
	return binary.BigEndian.Uint64(k), nil
}

// join builds a composite key from parts separated by NUL, which no
// workspace id, phone, JID or idempotency key contains in practice; a part
// with a NUL is refused by the callers that take client input.
func join(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// split undoes join.
func split(k []byte) []string {
	parts := bytes.Split(k, []byte{0})
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = string(p)
	}
	return s
}

// copyBytes copies a key or value out of a transaction's memory, which is
// only valid until the transaction ends (or, in a write transaction, until
// the next change).
func copyBytes(b []byte) []byte { return append([]byte(nil), b...) }

// orNow returns t, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}
