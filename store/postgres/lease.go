package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Account leases (SPEC §12): each account is sent by one replica at a time.
//
// A replica's sender calls Lease every few seconds. In one round it renews
// every lease it holds in ONE statement, then claims the free or expired
// leases of accounts with work (queued messages, or a message a dead
// replica left in sending) or with a session to hold (an active account
// whose link state says a device is linked: not unlinked, not logged out;
// its WhatsApp Web connection must run on exactly one replica, with no
// work queued too, for its receipts and link state) with FOR UPDATE SKIP
// LOCKED, so replicas
// claiming at once never wait for each other and never both get one
// account. A replica claims only up to its share of those accounts among
// the live replicas, and releases its surplus (replicas.go). A claim adds
// one to the lease's epoch. Close does not free the leases: the sender
// calls Release at a clean stop, after its sends ended, so another
// replica takes over at once; a replica that dies is taken over when its
// leases expire.
//
// Fencing: once this handle has leased (its sender called Lease), the
// writes of a send (MarkSending; MarkSent, Retry and MarkFailed of a
// sending message; RecoverAccount) call fence in their transaction. It
// refuses, with ECONFLICT wrapping wagate.ErrLeaseLost, a replica that no
// longer holds the account's lease at the epoch it claimed, and it locks
// the lease row FOR SHARE until the write commits, so no claim moves the
// lease in between (a claim skips the locked row; it is free next round).
// A handle that never leased (the contract tests, a tool) is not fenced.
//
// The pace (last_send_at, gap_ns) is written with MarkSending, so the
// replica that takes an account over waits out the gap its previous owner
// drew: see wagate.AccountLease.

// DefaultLeaseTTL is how long a claim or a renewal holds an account's
// lease. A sender renews every few seconds (sender.DefaultLeaseEvery), so
// a replica has to miss several rounds in a row before another takes its
// accounts; a dead replica's accounts wait this long.
const DefaultLeaseTTL = 30 * time.Second

// leaseBook is what this handle knows of its leases: its replica name, and
// the epoch of every lease it holds, which the fence checks.
type leaseBook struct {
	replica string
	ttl     time.Duration

	mu     sync.Mutex
	active bool // Lease was called: the writes of a send are fenced
	held   map[wagate.AccountRef]heldLease
	claims uint64 // ClaimLease calls recorded so far (heldLease.claim)
}

// heldLease is a lease this handle holds: the epoch it claimed, and until
// when it believes it holds it (its last renewal or claim plus the TTL, by
// its own clock, read before the statement: never later than the
// database's expiry). claim is the number of the ClaimLease that recorded
// it (b.claims then), 0 when a lease round did.
type heldLease struct {
	epoch int64
	until time.Time
	claim uint64
}

// roundBegins is called as a lease round starts: it returns the count of
// claims recorded so far, which roundEnds keeps apart from later ones.
func (b *leaseBook) roundBegins() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active = true
	return b.claims
}

// claimed records a lease ClaimLease claimed.
func (b *leaseBook) claimed(ref wagate.AccountRef, epoch int64, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.claims++
	b.held[ref] = heldLease{epoch: epoch, until: until, claim: b.claims}
}

// roundEnds makes held, a round's answer (renewed until), the leases this
// handle holds, and keeps those claimed since the round began (its count
// since): such a claim may have committed after the round's renewal and
// is newer than its answer. Telling them by their until cannot work: a
// claim that read its clock before the round did ends earlier, and a
// round that dropped it would leave the account's session unable to
// report (HoldsLease false) until the next round, with its link state and
// QR code kept from the other replicas.
func (b *leaseBook) roundEnds(since uint64, held []wagate.AccountLease, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ref, h := range b.held {
		if h.claim <= since {
			delete(b.held, ref)
		}
	}
	for _, l := range held {
		b.held[l.Account] = heldLease{epoch: l.Epoch, until: until}
	}
}

func newLeaseBook(replica string, ttl time.Duration) (*leaseBook, error) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	if replica == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("postgres: name this replica: %w", err)
		}
		host, _ := os.Hostname()
		replica = host + "-" + hex.EncodeToString(b[:])
	}
	return &leaseBook{replica: replica, ttl: ttl, held: make(map[wagate.AccountRef]heldLease)}, nil
}

// Replica returns the name this handle holds its leases under.
func (db *DB) Replica() string { return db.leases.replica }

// epoch returns the epoch this handle holds ref's lease at, whether it
// holds it, and whether fencing is on at all.
func (b *leaseBook) epoch(ref wagate.AccountRef) (epoch int64, held, active bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, held := b.held[ref]
	return h.epoch, held, b.active
}

// HoldsLease reports whether this replica holds ref's lease now, as far as
// it knows: claimed or renewed by its last lease round (or ClaimLease),
// and not expired since by its own clock. A session of an account whose
// lease moved reports nothing more through it (cmd/wagate asks it before
// storing a link state).
func (db *DB) HoldsLease(ref wagate.AccountRef) bool {
	b := db.leases
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.held[ref]
	return ok && h.until.After(db.now())
}

// leaseReady is the SQL that says whether the lease row l's account has
// work now: active, with queued messages.
const leaseReady = `(EXISTS (SELECT 1 FROM accounts a WHERE a.workspace_id = l.workspace_id AND a.phone = l.phone AND a.active)
	AND EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = l.workspace_id AND m.account_phone = l.phone AND m.status = 'queued'))`

// leaseSession is the SQL that says whether the claim row c's account has
// a session to hold: active, with a link state that says a device is
// linked (only whatsapp accounts have one).
const leaseSession = `EXISTS (SELECT 1 FROM accounts a WHERE a.workspace_id = c.workspace_id AND a.phone = c.phone AND a.active
	AND a.link IS NOT NULL AND a.link->>'state' NOT IN ('', 'unlinked', 'logged_out'))`

// leaseSending is the SQL that says whether the lease row l's account has
// a message in sending.
const leaseSending = `EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = l.workspace_id AND m.account_phone = l.phone AND m.status = 'sending')`

// leaseReturning is what renewals and claims return, read by scanLease.
const leaseReturning = `l.workspace_id, l.phone, l.epoch, l.last_send_at, l.gap_ns, ` + leaseReady + `, ` + leaseSending

func scanLeases(rows pgx.Rows, err error) ([]wagate.AccountLease, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (wagate.AccountLease, error) {
		var (
			l    wagate.AccountLease
			last *time.Time
			gap  int64
		)
		err := r.Scan(&l.Account.WorkspaceID, &l.Account.Phone, &l.Epoch, &last, &gap, &l.Ready, &l.Sending)
		l.LastSendAt, l.Gap = deref(last), time.Duration(gap)
		return l, err
	})
}

// Lease renews every lease this replica holds, in one statement, registers
// the replica as live, and claims the free or expired leases of accounts
// with work up to its share of them, or releases its surplus over its share
// (replicas.go), and returns every lease it holds after the round. From
// the first call on, the writes of a send through this handle are fenced
// (see above). A lease missing from the answer was lost (this replica
// renewed too late and another claimed it) or released here.
//
// The renewal and the claim are separate statements, each its own commit:
// the renewal must not wait behind the claim's search, and a MarkSending
// holding a lease row FOR SHARE delays only that row.
func (db *DB) Lease(ctx context.Context) ([]wagate.AccountLease, error) {
	b := db.leases
	since := b.roundBegins()
	now := db.now()
	until := now.Add(b.ttl)
	var held []wagate.AccountLease
	err := db.read(ctx, "lease", func(q querier) error {
		// Renew: a lease still ours is ours even if it expired meanwhile,
		// since nobody claimed it (a claim sets the owner).
		renewed, err := scanLeases(q.Query(ctx, `UPDATE account_leases l SET expires_at = $2 WHERE l.owner = $1
			RETURNING `+leaseReturning, b.replica, until))
		if err != nil {
			return err
		}
		// Every account and every account with a message in sending (it
		// may have been deleted since) gets a lease row to claim.
		if _, err := q.Exec(ctx, `INSERT INTO account_leases (workspace_id, phone)
			SELECT a.workspace_id, a.phone FROM accounts a
			WHERE NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.workspace_id = a.workspace_id AND l.phone = a.phone)
			UNION
			SELECT m.workspace_id, m.account_phone FROM messages m
			WHERE m.status = 'sending' AND NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.workspace_id = m.workspace_id AND l.phone = m.account_phone)
			ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		if err := db.register(ctx, q, now, until); err != nil {
			return err
		}
		held = renewed
		return nil
	})
	if err != nil {
		return nil, err
	}
	// This replica's share of the busy accounts (replicas.go): it releases
	// its surplus, or claims up to its share, never both in one round.
	var sp spread
	if err := db.read(ctx, "lease share", func(q querier) (err error) {
		sp, err = db.share(ctx, q, now)
		return err
	}); err != nil {
		return nil, err
	}
	if sp.release > 0 {
		freed, err := db.releaseSurplus(ctx, sp.release)
		if err != nil {
			return nil, err
		}
		if len(freed) > 0 {
			gone := make(map[wagate.AccountRef]bool, len(freed))
			b.mu.Lock()
			for _, ref := range freed {
				gone[ref] = true
				delete(b.held, ref)
			}
			b.mu.Unlock()
			kept := held[:0]
			for _, l := range held {
				if !gone[l.Account] {
					kept = append(kept, l)
				}
			}
			held = kept
			db.log.Info("released accounts to balance the replicas", zap.Int("released", len(freed)),
				zap.Int("busy_accounts", sp.busy), zap.Int("live_replicas", sp.live), zap.Int("held_before", sp.mine))
		}
	}
	if sp.claim > 0 {
		err = db.read(ctx, "lease claim", func(q querier) error {
			claimed, err := scanLeases(q.Query(ctx, `UPDATE account_leases l SET owner = $1, epoch = l.epoch + 1, expires_at = $3
			FROM (SELECT c.workspace_id, c.phone FROM account_leases c
				WHERE (c.owner = '' OR c.expires_at IS NULL OR c.expires_at <= $2)
				AND (EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = c.workspace_id AND m.account_phone = c.phone AND m.status = 'queued')
					OR EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = c.workspace_id AND m.account_phone = c.phone AND m.status = 'sending')
					OR `+leaseSession+`)
				ORDER BY c.workspace_id, c.phone
				LIMIT $4
				FOR UPDATE SKIP LOCKED) c
			WHERE l.workspace_id = c.workspace_id AND l.phone = c.phone
			RETURNING `+leaseReturning, b.replica, now, until, sp.claim))
			if err != nil {
				return err
			}
			held = append(held, claimed...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	b.roundEnds(since, held, until)
	return held, nil
}

// ClaimLease claims ref's lease for this replica now, outside the lease
// rounds, when it is free, expired or this replica's already, and renews
// it: linking a whatsapp account (POST …/link) claims it, so the linking
// session runs on the replica that will hold the account's session. When
// another replica holds it, it answers ECONFLICT naming that replica. The
// next lease round renews the claim (it is this replica's) and the sender
// takes the account over then.
func (db *DB) ClaimLease(ctx context.Context, ref wagate.AccountRef) error {
	b := db.leases
	now := db.now()
	until := now.Add(b.ttl)
	var (
		epoch int64
		owner string
	)
	err := db.update(ctx, "claim lease", func(tx pgx.Tx) error {
		owner = ""
		if _, err := tx.Exec(ctx, `INSERT INTO account_leases (workspace_id, phone) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			ref.WorkspaceID, ref.Phone); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `UPDATE account_leases SET owner = $3, expires_at = $5,
				epoch = CASE WHEN owner = $3 THEN epoch ELSE epoch + 1 END
			WHERE workspace_id = $1 AND phone = $2 AND (owner = $3 OR owner = '' OR expires_at IS NULL OR expires_at <= $4)
			RETURNING epoch`, ref.WorkspaceID, ref.Phone, b.replica, now, until).Scan(&epoch)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT owner FROM account_leases WHERE workspace_id = $1 AND phone = $2`,
				ref.WorkspaceID, ref.Phone).Scan(&owner)
		}
		return err
	})
	if err != nil {
		return err
	}
	if owner != "" {
		return wagate.Errorf(wagate.ECONFLICT, "account %s is served by replica %s, which holds its WhatsApp session: send the request to that replica", ref.Phone, owner)
	}
	b.claimed(ref, epoch, until)
	return nil
}

// Release frees every lease this replica holds, so another replica takes
// its accounts over at once instead of after the expiry: with the release
// it sends the wake-up "any account" (notify.go), which makes the other
// replicas claim. The sender calls it at a clean stop, once its sends
// under way have finished and their outcomes are stored; the writes of a
// send are refused from then on.
func (db *DB) Release(ctx context.Context) error {
	b := db.leases
	b.mu.Lock()
	clear(b.held)
	b.mu.Unlock()
	return db.update(ctx, "release leases", func(tx pgx.Tx) error {
		// No longer a live replica: the others' shares grow at once.
		if _, err := tx.Exec(ctx, `DELETE FROM replicas WHERE name = $1`, b.replica); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE account_leases SET owner = '', expires_at = NULL WHERE owner = $1`, b.replica)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, queuedChannel)
		return err
	})
}

// errLeaseLost is the answer of a fenced write of a replica that lost the
// lease.
func errLeaseLost(ref wagate.AccountRef) error {
	return fmt.Errorf("%w: %w", wagate.Errorf(wagate.ECONFLICT,
		"this replica no longer holds the lease of account %s: another replica sends its messages now", ref.Phone), wagate.ErrLeaseLost)
}

// fence refuses the write of a send of ref's messages, in tx, unless this
// replica holds ref's lease at the epoch it claimed; starting (a new send:
// MarkSending) also needs the lease not to have expired at now, while the
// outcome of a send under way is taken as long as nobody claimed the lease
// since. The lease row stays locked FOR SHARE until tx ends. A handle that
// never leased is not fenced.
func (db *DB) fence(ctx context.Context, tx pgx.Tx, ref wagate.AccountRef, now time.Time, starting bool) error {
	epoch, held, active := db.leases.epoch(ref)
	if !active {
		return nil
	}
	if !held {
		return errLeaseLost(ref)
	}
	var (
		owner   string
		current int64
		expires *time.Time
	)
	err := tx.QueryRow(ctx, `SELECT owner, epoch, expires_at FROM account_leases WHERE workspace_id = $1 AND phone = $2 FOR SHARE`,
		ref.WorkspaceID, ref.Phone).Scan(&owner, &current, &expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return errLeaseLost(ref)
	case err != nil:
		return err
	case owner != db.leases.replica || current != epoch:
		return errLeaseLost(ref)
	case starting && (expires == nil || !expires.After(now)):
		return errLeaseLost(ref)
	}
	return nil
}

// fenceOutcome is fence for the outcome of a send under way (MarkSent,
// Retry, MarkFailed of a sending message), which also moves the account's
// last_send_at up to at, the try's time: the transport was called before
// it, maybe later than the start MarkSendingPaced wrote (the commit, an
// upload), and a new holder must wait the gap from no earlier than that
// call.
func (db *DB) fenceOutcome(ctx context.Context, tx pgx.Tx, ref wagate.AccountRef, at time.Time) error {
	if _, _, active := db.leases.epoch(ref); !active {
		return nil
	}
	if err := db.fence(ctx, tx, ref, at, false); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE account_leases SET last_send_at = greatest(last_send_at, $3) WHERE workspace_id = $1 AND phone = $2`,
		ref.WorkspaceID, ref.Phone, at)
	return err
}

// pace is what MarkSendingPaced writes with the mark: the start of the
// send and the gap drawn after it.
type pace struct {
	start time.Time
	gap   time.Duration
}

// MarkSendingPaced is MarkSending (fenced, as every MarkSending of a
// handle that leases) that also records the account's pace in the same
// transaction: start, when this send starts, and gap, drawn for the next
// one. The replica that takes the account over reads them with its lease
// (wagate.AccountLease) and waits out the gap too.
func (db *DB) MarkSendingPaced(ctx context.Context, id string, at, start time.Time, gap time.Duration) error {
	return db.markSending(ctx, id, at, &pace{start: orNow(start, orNow(at, db.now())), gap: gap})
}

// setPace records, with a MarkSending in tx, the start of ref's send and
// the gap drawn after it, for the replica that may take the account over.
func setPace(ctx context.Context, tx pgx.Tx, ref wagate.AccountRef, at time.Time, gap time.Duration) error {
	_, err := tx.Exec(ctx, `INSERT INTO account_leases (workspace_id, phone, last_send_at, gap_ns) VALUES ($1, $2, $3, $4)
		ON CONFLICT (workspace_id, phone) DO UPDATE SET last_send_at = excluded.last_send_at, gap_ns = excluded.gap_ns`,
		ref.WorkspaceID, ref.Phone, at, int64(max(gap, 0)))
	return err
}

// RecoverAccount fails and refunds, with an interrupted try at at, every
// message of ref left in sending, and returns how many: the sender calls
// it when it takes an account over, before its first send, instead of
// RecoverSending at start (which would fail the live sends of the other
// replicas). Fenced: only the lease's holder recovers.
func (db *DB) RecoverAccount(ctx context.Context, ref wagate.AccountRef, at time.Time) (int, error) {
	at = orNow(at, db.now())
	n := 0
	err := db.update(ctx, "recover account", func(tx pgx.Tx) error {
		n = 0
		if gone, err := db.lockTakenOver(ctx, tx, ref, at); gone || err != nil {
			return err
		}
		msgs, err := collectMessages(tx.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE workspace_id = $1 AND account_phone = $2 AND status = 'sending' ORDER BY seq FOR UPDATE`, ref.WorkspaceID, ref.Phone))
		if err != nil {
			return err
		}
		for _, m := range msgs {
			interrupted := wagate.InterruptedTry(at)
			m.Tries = append(m.Tries, interrupted)
			m.Error = interrupted.Error
			if err := fail(ctx, tx, m, change{source: wagate.SourceSystem, at: at}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
