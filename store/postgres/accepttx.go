package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// The transaction of a commit of accepts, in few round trips.
//
// An accept used to cost nine statements, each a loopback round trip
// with CPU on both sides (BENCHMARKS.md 1b): the workspace's lock, the
// account, the chat, the balance, the message, its event's probe, the
// attempt, the attempt ring's trim and the attempt event's probe. On two
// cores that capped PostgreSQL at about 1,000 accepts a second whatever
// the group commit did. acceptTx keeps what the accepts of one transaction
// read, and queues what they write, so a batch costs a few round trips
// rather than nine per accept:
//
//   - a workspace's row is locked once per transaction (with its endpoint
//     subscriptions read in the same round trip), and the accepts after
//     the first see it from memory with the balance they left;
//   - its accounts and its chats by (account, JID) are read once each;
//   - the writes whose answer the accept does not need (the message, the
//     attempt, the idempotency record) are queued and sent in one pipelined
//     batch when the transaction ends, followed by one balance UPDATE and
//     one attempt ring trim per workspace.
//
// This is safe because every writer of a workspace's balance, accounts,
// chats, endpoints or messages locks the workspace's row first (doc.go):
// while this transaction holds the lock, only it changes what it keeps in
// memory. A read that could see the queued writes (the idempotency record
// and its message) flushes the queue first. A queued statement that fails
// names the accept that queued it (flushError), so the batch can be tried
// again without that accept, as before.
type acceptTx struct {
	pgx.Tx // the *wakeTx of the transaction

	job      int // the accept whose writes are being queued (its index in the batch)
	queue    []queued
	attempts attemptRows // the attempts, sent as one multi-row INSERT at the flush
	ws       map[string]*lockedWorkspace
	accounts map[wagate.AccountRef]*wagate.Account
	chats    map[chatKey]int64
}

// lockedWorkspace is a workspace whose row this transaction holds, as the
// transaction's accepts left it.
type lockedWorkspace struct {
	ws        *wagate.Workspace
	subs      []subRow
	balance   bool // the balance changed: written at the flush
	attempted bool // attempts were added: the ring is trimmed at the flush
}

// attemptRows are attempts waiting for the flush, a slice per column: one
// INSERT of them all costs the server far less than one per attempt.
type attemptRows struct {
	workspace, requestID, remoteAddr, contentType, body, code, message, messageID, warnings []string
	at                                                                                      []time.Time
	credits                                                                                 []int64
}

func (r *attemptRows) add(workspaceID string, a *wagate.Attempt, body, warnings string) {
	r.workspace, r.at, r.requestID, r.remoteAddr = append(r.workspace, workspaceID), append(r.at, a.At), append(r.requestID, a.RequestID), append(r.remoteAddr, a.RemoteAddr)
	r.contentType, r.body, r.code, r.message = append(r.contentType, a.ContentType), append(r.body, body), append(r.code, a.Code), append(r.message, a.Message)
	r.messageID, r.credits, r.warnings = append(r.messageID, a.MessageID), append(r.credits, a.Credits), append(r.warnings, warnings)
}

// insertAttemptsSQL inserts attemptRows in their order (the identity seq
// follows it: WITH ORDINALITY … ORDER BY).
const insertAttemptsSQL = `INSERT INTO attempts (workspace_id, at, request_id, remote_addr, content_type, body, code, message, message_id, credits, warnings)
	SELECT w, a, r, ra, ct, b, c, m, mi, cr, wa::jsonb FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[]) WITH ORDINALITY AS u(w, a, r, ra, ct, b, c, m, mi, cr, wa, n) ORDER BY n`

// subRow is one row of endpoint_subs.
type subRow struct {
	endpoint, event, phone, source string
}

type chatKey struct {
	workspace, phone, jid string
}

// queued is one write waiting for the flush, with the accept it belongs to
// (-1: the batch's own) and how its error reads (nil: as it is).
type queued struct {
	sql    string
	args   []any
	job    int
	mapErr func(error) error
}

// flushError is a queued write's error, with the accept that queued it.
type flushError struct {
	job int
	err error
}

func (e *flushError) Error() string { return e.err.Error() }
func (e *flushError) Unwrap() error { return e.err }

func newAcceptTx(tx pgx.Tx) *acceptTx {
	return &acceptTx{Tx: tx, ws: map[string]*lockedWorkspace{}, accounts: map[wagate.AccountRef]*wagate.Account{}, chats: map[chatKey]int64{}}
}

// culprit is the accept to leave out of the batch for err, raised while
// accept i ran: the one whose queued write failed, else i.
func culprit(i int, err error) int {
	var fe *flushError
	if errors.As(err, &fe) {
		return fe.job
	}
	return i
}

// exec queues a write for the flush.
func (t *acceptTx) exec(mapErr func(error) error, sql string, args ...any) {
	t.queue = append(t.queue, queued{sql: sql, args: args, job: t.job, mapErr: mapErr})
}

// lockWorkspace locks the workspace's row (once per transaction) and reads
// its endpoint subscriptions in the same round trip; later calls return
// the same *wagate.Workspace, whose Credits are the balance so far.
// ENOTFOUND for an unknown workspace.
func (t *acceptTx) lockWorkspace(ctx context.Context, id string) (*lockedWorkspace, error) {
	if lw := t.ws[id]; lw != nil {
		return lw, nil
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+workspaceColumns+` FROM workspaces WHERE id = $1 FOR UPDATE`, id)
	b.Queue(`SELECT endpoint_id, event, account_phone, source FROM endpoint_subs WHERE workspace_id = $1 ORDER BY endpoint_id`, id)
	br := t.SendBatch(ctx, b)
	ws, err := scanWorkspace(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		err = errWorkspaceNotFound(id)
	}
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	rows, _ := br.Query() // its error is the rows' too
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (subRow, error) {
		var s subRow
		err := r.Scan(&s.endpoint, &s.event, &s.phone, &s.source)
		return s, err
	})
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	lw := &lockedWorkspace{ws: ws, subs: subs}
	t.ws[id] = lw
	return lw, nil
}

// subscribers is the package's subscribers from the subscriptions read
// with the lock: the endpoints subscribed to typ whose filter matches.
func (lw *lockedWorkspace) subscribers(typ, phone, source string) []string {
	var ids []string
	for _, s := range lw.subs {
		if s.event == typ && (s.phone == "" || s.phone == phone) && (s.source == "" || s.source == source) {
			ids = append(ids, s.endpoint)
		}
	}
	return ids
}

// findAccount is the package's findAccount, read once per transaction.
func (t *acceptTx) findAccount(ctx context.Context, ref wagate.AccountRef) (*wagate.Account, error) {
	if a := t.accounts[ref]; a != nil {
		return a, nil
	}
	a, err := findAccount(ctx, t, ref)
	if err != nil {
		return nil, err
	}
	t.accounts[ref] = a
	return a, nil
}

// findChat returns the id of the account's chat with jid, or 0.
func (t *acceptTx) findChat(ctx context.Context, workspaceID, phone, jid string) (int64, error) {
	k := chatKey{workspaceID, phone, jid}
	if id := t.chats[k]; id != 0 {
		return id, nil
	}
	var id int64
	err := t.QueryRow(ctx, `SELECT id FROM chats WHERE workspace_id = $1 AND account_phone = $2 AND jid = $3`, workspaceID, phone, jid).Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, err
	}
	t.chats[k] = id
	return id, nil
}

// setBalance charges the locked workspace: its balance is written at the
// flush.
func (t *acceptTx) setBalance(lw *lockedWorkspace, balance int64) {
	lw.ws.Credits, lw.balance = balance, true
}

// putAttempt is the package's putAttempt with its row sent with the
// others at the flush and its ring trimmed once per workspace there.
func (t *acceptTx) putAttempt(ctx context.Context, lw *lockedWorkspace, a *wagate.Attempt, phone string, ch change) error {
	warnings, err := json.Marshal(orNone(a.Warnings))
	if err != nil {
		return err
	}
	body := cutUTF8(a.Body, wagate.AttemptBodyLimit)
	t.attempts.add(lw.ws.ID, a, body, string(warnings))
	lw.attempted = true
	ev := *a
	ev.Body = body
	return attemptRecorded(ctx, t, lw.ws.ID, &ev, phone, ch)
}

// flush sends the queued writes, then each changed workspace's balance and
// attempt ring trim, in one round trip. A failing queued write comes back
// as a *flushError naming its accept; the trims and balances, as the
// batch's (-1).
func (t *acceptTx) flush(ctx context.Context) error {
	ids := make([]string, 0, len(t.ws))
	for id, lw := range t.ws {
		if lw.balance || lw.attempted {
			ids = append(ids, id)
		}
	}
	if len(t.queue) == 0 && len(ids) == 0 && len(t.attempts.workspace) == 0 {
		return nil
	}
	slices.Sort(ids) // the rows are ours already; the order only keeps runs alike
	q := t.queue
	if r := &t.attempts; len(r.workspace) > 0 {
		q = append(q, queued{job: -1, sql: insertAttemptsSQL, args: []any{r.workspace, r.at, r.requestID, r.remoteAddr, r.contentType, r.body,
			r.code, r.message, r.messageID, r.credits, r.warnings}})
		*r = attemptRows{}
	}
	for _, id := range ids {
		lw := t.ws[id]
		if lw.balance {
			q = append(q, queued{job: -1, sql: `UPDATE workspaces SET balance = $2 WHERE id = $1`, args: []any{id, lw.ws.Credits}})
		}
		if lw.attempted {
			// Seqs of one workspace grow, so everything AttemptLimit rows
			// behind the newest is out of the ring.
			q = append(q, queued{job: -1, sql: `DELETE FROM attempts WHERE workspace_id = $1 AND seq <=
				(SELECT seq FROM attempts WHERE workspace_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`, args: []any{id, wagate.AttemptLimit}})
		}
		lw.balance, lw.attempted = false, false
	}
	t.queue = nil
	b := &pgx.Batch{}
	for _, w := range q {
		b.Queue(w.sql, w.args...)
	}
	br := t.SendBatch(ctx, b)
	for _, w := range q {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			if w.mapErr != nil {
				err = w.mapErr(err)
			}
			return &flushError{job: w.job, err: err}
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("accept batch: %w", err)
	}
	return nil
}
