package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
//     batch when the transaction ends, followed by one UPDATE of the
//     batch's workspaces (their balances and attempt counts).
//
// This is safe because every writer of a workspace's balance, accounts,
// chats, endpoints or messages locks the workspace's row first (doc.go):
// while this transaction holds the lock, only it changes what it keeps in
// memory. A read that could see the queued writes (the idempotency record
// and its message) flushes the queue first. A queued statement that fails
// names the accept that queued it (flushError), so the batch can be tried
// again without that accept, as before.
type acceptTx struct {
	pgx.Tx         // the *wakeTx of the transaction
	pipe   *pipeTx // its transaction, when a commit of accepts (commit.go) began it: commit ends it

	job      int // the accept whose writes are being queued (its index in the batch)
	queue    []queued
	messages messageRows // the new messages, sent as one multi-row INSERT at the flush
	attempts attemptRows // the attempts, sent as one multi-row INSERT at the flush
	ws       map[string]*lockedWorkspace
	accounts map[wagate.AccountRef]*wagate.Account // nil: read, and not there
	chats    map[chatKey]int64                     // 0: read, and not there
}

// lockedWorkspace is a workspace whose row this transaction holds, as the
// transaction's accepts left it.
type lockedWorkspace struct {
	ws       *wagate.Workspace
	subs     []subRow
	balance  bool // the balance changed: written at the flush
	attempts int  // attempts added since the last flush: the flush counts them in attempts_made
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

// upsertAttemptsSQL writes attemptRows into their workspaces' rings
// (0017_pgspeed.sql): the k-th row of a workspace here is its attempt
// attempts_made + k, in slot (attempts_made + k) mod $12, overwriting the
// attempt AttemptLimit before it. Only each workspace's last $12 rows are
// written (the earlier ones would be overwritten at once, and one INSERT
// may not update a row twice). The flush then adds the rows to
// attempts_made (updateWorkspacesSQL, after this in the same pipeline).
const upsertAttemptsSQL = `INSERT INTO attempts (workspace_id, n, slot, at, request_id, remote_addr, content_type, body, code, message, message_id, credits, warnings)
	SELECT u.w, ws.attempts_made + u.k, ((ws.attempts_made + u.k) % $12)::integer, u.a, u.r, u.ra, u.ct, u.b, u.c, u.m, u.mi, u.cr, u.wa::jsonb
	FROM (SELECT v.*, row_number() OVER (PARTITION BY v.w ORDER BY v.o) AS k, count(*) OVER (PARTITION BY v.w) AS total
		FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[],
			$11::text[]) WITH ORDINALITY AS v(w, a, r, ra, ct, b, c, m, mi, cr, wa, o)) AS u
	JOIN workspaces ws ON ws.id = u.w
	WHERE u.k > u.total - $12
	ON CONFLICT (workspace_id, slot) DO UPDATE SET n = excluded.n, at = excluded.at, request_id = excluded.request_id, remote_addr = excluded.remote_addr,
		content_type = excluded.content_type, body = excluded.body, code = excluded.code, message = excluded.message, message_id = excluded.message_id,
		credits = excluded.credits, warnings = excluded.warnings`

// messageRows are new messages waiting for the flush, a slice per column,
// with the accept of each: one INSERT of them all, instead of one per
// message (six indexes each), is most of what the server saves. A failing
// row must still name its accept, so the batch is tried again without
// it: the only rows that can fail are a taken id, named by the unique
// violation's detail (messageCulprit), and text the server refuses (a NUL
// byte), which addMessage sends alone; an id used twice in the batch goes
// alone too, so the multi-row INSERT never holds it twice.
type messageRows struct {
	id, workspace, status, phone, jid, text, fileURL, fileName, templateName []string
	connectedAt, createdAt                                                   []time.Time
	sendAt                                                                   []*time.Time
	template                                                                 []*string
	chatID, credits                                                          []int64
	job                                                                      []int
	ids                                                                      map[string]bool // every id of the transaction, sent or not
}

// insertMessagesSQL inserts messageRows in their order: seq and the
// queue_pos of a message due now follow it (WITH ORDINALITY … ORDER BY),
// so a batch's messages join their queues in the order they were
// accepted; a scheduled one waits unplaced (queue.go).
const insertMessagesSQL = `INSERT INTO messages (id, workspace_id, status, account_phone, account_connected_at, chat_id, jid, text, file_url, file_name,
		credits, created_at, send_at, template_name, template, queue_pos)
	SELECT i, w, st, p, ca, c, j, t, fu, fn, cr, cra, sa, tn, tp::jsonb, CASE WHEN sa IS NULL THEN nextval('messages_queue_pos') END
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[],
		$11::bigint[], $12::timestamptz[], $13::timestamptz[], $14::text[], $15::text[])
		WITH ORDINALITY AS u(i, w, st, p, ca, c, j, t, fu, fn, cr, cra, sa, tn, tp, n) ORDER BY n`

// addMessage queues m's row for the flush's multi-row INSERT, or, when it
// could fail that INSERT without its accept being known, as a statement
// of its own.
func (t *acceptTx) addMessage(m *wagate.Message, connectedAt time.Time, template *string) {
	r := &t.messages
	if r.ids == nil {
		r.ids = map[string]bool{}
	}
	alone := r.ids[m.ID] || hasNUL(m.ID, m.WorkspaceID, m.AccountPhone, m.JID, m.Text, m.FileURL, m.FileName, m.TemplateName) ||
		(template != nil && strings.Contains(*template, `\u0000`))
	r.ids[m.ID] = true
	if alone {
		t.exec(func(err error) error { return messageTaken(err, m.ID) }, `INSERT INTO messages (id, workspace_id, status, account_phone, account_connected_at, chat_id, jid, text, file_url, file_name,
		credits, created_at, send_at, template_name, template, queue_pos) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
		CASE WHEN $13::timestamptz IS NULL THEN nextval('messages_queue_pos') END)`,
			m.ID, m.WorkspaceID, string(m.Status), m.AccountPhone, connectedAt, m.ChatID, m.JID, m.Text, m.FileURL, m.FileName,
			m.Credits, m.CreatedAt, nullTime(m.SendAt), m.TemplateName, template)
		return
	}
	r.id, r.workspace, r.status, r.phone = append(r.id, m.ID), append(r.workspace, m.WorkspaceID), append(r.status, string(m.Status)), append(r.phone, m.AccountPhone)
	r.connectedAt, r.chatID, r.jid, r.text = append(r.connectedAt, connectedAt), append(r.chatID, m.ChatID), append(r.jid, m.JID), append(r.text, m.Text)
	r.fileURL, r.fileName, r.credits, r.createdAt = append(r.fileURL, m.FileURL), append(r.fileName, m.FileName), append(r.credits, m.Credits), append(r.createdAt, m.CreatedAt)
	r.sendAt, r.templateName, r.template = append(r.sendAt, nullTime(m.SendAt)), append(r.templateName, m.TemplateName), append(r.template, template)
	r.job = append(r.job, t.job)
}

func hasNUL(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return true
		}
	}
	return false
}

// messageTaken is the error of a message INSERT: EINTERNAL naming the id
// for a taken one (id, or the one in the violation's detail when "").
func messageTaken(err error, id string) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || pe.ConstraintName != "messages_pkey" {
		return err
	}
	if id == "" {
		id = takenID(pe)
	}
	return wagate.Errorf(wagate.EINTERNAL, "message id %s is already taken", id)
}

// takenID is the id a unique violation of messages_pkey names in its
// detail ("Key (id)=(…) already exists."), or "".
func takenID(pe *pgconn.PgError) string {
	id, ok := strings.CutPrefix(pe.Detail, "Key (id)=(")
	if !ok {
		return ""
	}
	id, ok = strings.CutSuffix(id, ") already exists.")
	if !ok {
		return ""
	}
	return id
}

// messageCulprit is the accept whose row of the multi-row INSERT failed
// it: the one of the taken id; -1 (the whole batch, each then runs alone)
// for any other error.
func messageCulprit(ids []string, jobs []int) func(error) int {
	return func(err error) int {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" || pe.ConstraintName != "messages_pkey" {
			return -1
		}
		if i := slices.Index(ids, takenID(pe)); i >= 0 {
			return jobs[i]
		}
		return -1
	}
}

// subRow is one row of endpoint_subs.
type subRow struct {
	endpoint, event, phone, source string
}

type chatKey struct {
	workspace, phone, jid string
}

// queued is one write waiting for the flush, with the accept it belongs to
// (-1: the batch's own; culprit, when set, tells it from the error) and
// how its error reads (nil: as it is).
type queued struct {
	sql     string
	args    []any
	job     int
	culprit func(error) int
	mapErr  func(error) error
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

// prefetch begins the transaction with what the batch's accepts will
// read, in one round trip: it locks the batch's workspaces in id order
// (one statement: ORDER BY sorts before FOR UPDATE locks, so the rows are
// locked in that order, as one lock after the other would), then reads
// their endpoint subscriptions, the accounts the accepts name and their
// chats with the recipients. The reads run after the locks, in the same
// transaction, so they see what a read after the lock always saw (every
// writer of those rows locks the workspace first). An accept that needs
// something else (a chat by id, a new chat) reads it when it runs.
func (t *acceptTx) prefetch(ctx context.Context, batch []*acceptJob) error {
	var (
		ids                     []string
		accWS, accPhone         []string
		chatWS, chatPhone, jids []string
		seenAcc                 = map[wagate.AccountRef]bool{}
		seenChat                = map[chatKey]bool{}
	)
	for _, j := range batch {
		m := j.a.Message
		if len(ids) == 0 || ids[len(ids)-1] != j.a.WorkspaceID {
			ids = append(ids, j.a.WorkspaceID) // the batch is in workspace id order
		}
		if m.ChatID != 0 || m.AccountPhone == "" {
			continue
		}
		if ref := (wagate.AccountRef{WorkspaceID: j.a.WorkspaceID, Phone: m.AccountPhone}); !seenAcc[ref] {
			seenAcc[ref] = true
			accWS, accPhone = append(accWS, ref.WorkspaceID), append(accPhone, ref.Phone)
		}
		if k := (chatKey{j.a.WorkspaceID, m.AccountPhone, m.JID}); m.JID != "" && !seenChat[k] {
			seenChat[k] = true
			chatWS, chatPhone, jids = append(chatWS, k.workspace), append(chatPhone, k.phone), append(jids, k.jid)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+workspaceColumns+` FROM workspaces WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	b.Queue(`SELECT workspace_id, endpoint_id, event, account_phone, source FROM endpoint_subs WHERE workspace_id = ANY($1)
		ORDER BY workspace_id, endpoint_id`, ids)
	b.Queue(`SELECT `+accountColumns+` FROM accounts WHERE (workspace_id, phone) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, accWS, accPhone)
	b.Queue(`SELECT workspace_id, account_phone, jid, id FROM chats WHERE (workspace_id, account_phone, jid) IN
		(SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))`, chatWS, chatPhone, jids)
	br := t.SendBatch(ctx, b)
	err := t.readPrefetch(br, seenAcc, seenChat)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// readPrefetch reads prefetch's answers into the transaction's maps.
func (t *acceptTx) readPrefetch(br pgx.BatchResults, accs map[wagate.AccountRef]bool, chats map[chatKey]bool) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Workspace, error) { return scanWorkspace(r) })
	if err != nil {
		return err
	}
	for _, ws := range list {
		t.ws[ws.ID] = &lockedWorkspace{ws: ws}
	}
	if rows, err = br.Query(); err != nil {
		return err
	}
	var s subRow
	var wsID string
	if _, err := pgx.ForEachRow(rows, []any{&wsID, &s.endpoint, &s.event, &s.phone, &s.source}, func() error {
		if lw := t.ws[wsID]; lw != nil {
			lw.subs = append(lw.subs, s)
		}
		return nil
	}); err != nil {
		return err
	}
	if rows, err = br.Query(); err != nil {
		return err
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Account, error) { return scanAccount(r) })
	if err != nil {
		return err
	}
	for ref := range accs {
		t.accounts[ref] = nil // not there, unless found
	}
	for _, a := range found {
		t.accounts[wagate.AccountRef{WorkspaceID: a.WorkspaceID, Phone: a.Phone}] = a
	}
	if rows, err = br.Query(); err != nil {
		return err
	}
	for k := range chats {
		t.chats[k] = 0
	}
	var k chatKey
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&k.workspace, &k.phone, &k.jid, &id}, func() error {
		t.chats[k] = id
		return nil
	})
	return err
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
		err = wagate.ErrWorkspaceNotFound(id)
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
	if a, ok := t.accounts[ref]; ok {
		if a == nil {
			return nil, errAccountNotFound(ref.Phone)
		}
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
	if id, ok := t.chats[k]; ok {
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
	body := wagate.CutUTF8(a.Body, wagate.AttemptBodyLimit)
	t.attempts.add(lw.ws.ID, a, body, string(warnings))
	lw.attempts++
	ev := *a
	ev.Body = body
	return attemptRecorded(ctx, t, lw.ws.ID, &ev, phone, ch)
}

// flush sends the queued writes, then the changed workspaces' balances and
// attempt counts, in one round trip. A failing queued write comes back as
// a *flushError naming its accept; the attempts and the workspaces' update,
// as the batch's (-1).
func (t *acceptTx) flush(ctx context.Context) error {
	return t.send(ctx, false)
}

// commit flushes and commits in the same round trip. A failed COMMIT is
// the batch's error (-1).
func (t *acceptTx) commit(ctx context.Context) error {
	return t.send(ctx, true)
}

// updateWorkspacesSQL writes the balances ($2; NULL: unchanged) of the workspaces ($1),
// rows this transaction has locked, and counts the attempts ($3) their
// rings got (upsertAttemptsSQL) in attempts_made: one statement for all
// the workspaces of a batch (a batch spread over many workspaces paid an
// UPDATE and a ring trim per workspace).
const updateWorkspacesSQL = `UPDATE workspaces w SET balance = coalesce(u.balance, w.balance), attempts_made = w.attempts_made + u.made
	FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(id, balance, made) WHERE w.id = u.id`

func (t *acceptTx) send(ctx context.Context, commit bool) error {
	ids := make([]string, 0, len(t.ws))
	for id, lw := range t.ws {
		if lw.balance || lw.attempts > 0 {
			ids = append(ids, id)
		}
	}
	if !commit && len(t.queue) == 0 && len(ids) == 0 && len(t.attempts.workspace) == 0 && len(t.messages.id) == 0 {
		return nil
	}
	slices.Sort(ids) // the rows are ours already; the order only keeps runs alike
	var q []queued
	if r := &t.messages; len(r.id) > 0 {
		q = append(q, queued{job: -1, culprit: messageCulprit(r.id, r.job), mapErr: func(err error) error { return messageTaken(err, "") },
			sql: insertMessagesSQL, args: []any{r.id, r.workspace, r.status, r.phone, r.connectedAt, r.chatID, r.jid, r.text, r.fileURL, r.fileName,
				r.credits, r.createdAt, r.sendAt, r.templateName, r.template}})
		ids := r.ids
		*r = messageRows{ids: ids}
	}
	q = append(q, t.queue...)
	if r := &t.attempts; len(r.workspace) > 0 {
		q = append(q, queued{job: -1, sql: upsertAttemptsSQL, args: []any{r.workspace, r.at, r.requestID, r.remoteAddr, r.contentType, r.body,
			r.code, r.message, r.messageID, r.credits, r.warnings, int64(wagate.AttemptLimit)}})
		*r = attemptRows{}
	}
	if len(ids) > 0 {
		balances, made := make([]*int64, len(ids)), make([]int64, len(ids))
		for i, id := range ids {
			lw := t.ws[id]
			if lw.balance {
				v := lw.ws.Credits
				balances[i] = &v
			}
			made[i] = int64(lw.attempts)
			lw.balance, lw.attempts = false, 0
		}
		q = append(q, queued{job: -1, sql: updateWorkspacesSQL, args: []any{ids, balances, made}})
	}
	t.queue = nil
	if commit {
		q = append(q, queued{job: -1, sql: "COMMIT", mapErr: func(err error) error { return fmt.Errorf("commit: %w", err) }})
	}
	b := &pgx.Batch{}
	for _, w := range q {
		b.Queue(w.sql, w.args...)
	}
	br := t.SendBatch(ctx, b)
	for _, w := range q {
		tag, err := br.Exec()
		if w.sql == "COMMIT" {
			t.pipe.ended = true
			err = commitTag(tag, err)
		}
		if err != nil {
			_ = br.Close()
			job := w.job
			if w.culprit != nil {
				job = w.culprit(err)
			}
			if w.mapErr != nil {
				err = w.mapErr(err)
			}
			return &flushError{job: job, err: err}
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("accept batch: %w", err)
	}
	return nil
}
