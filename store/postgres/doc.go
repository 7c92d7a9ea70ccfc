// Package postgres is wagate's PostgreSQL backend (SPEC §12, issue 15):
// the same domain services as store/ (bbolt), on a database that several
// replicas share. It is being built service by service against the store
// contract (store/storetest). Today it implements wagate.WorkspaceService,
// TokenService, SessionService, AccountService, ChatService,
// MessageService and AttemptService, and passes the contract's parts
// RunWorkspaces, RunTokens, RunSessions, RunAccounts and RunMessages. It is
// not wired into cmd/wagate (no --database-url) until the whole store and
// sender.Queue exist: see "What remains" below.
//
// # Schema
//
// The schema is the versioned migrations embedded from migrations/,
// applied at Open in one transaction under an advisory lock (migrate.go).
// Tables so far:
//
//	schema_migrations  version -> name, applied_at
//	workspaces         id -> name, balance, granted, the inbound token (and
//	                   its SHA-256, unique, for the lookup), created_at,
//	                   low_credits, chat_seq; seq orders them by creation
//	tokens             sha256(admin token) -> id, workspace (NULL for the
//	                   operator), role, name, prefix, created_at, last_used_at;
//	                   one operator token per database (a partial unique index)
//	sessions           sha256(session id) -> token hash (ON DELETE CASCADE: a
//	                   deleted token's sessions end with it), role, csrf, times
//	accounts           (workspace, phone) -> transport, settings (jsonb),
//	                   active, connected_at, rules (jsonb, rulesRecord)
//	chats              (workspace, id) -> account phone, jid (unique per
//	                   account), name, group, created_at; ids come from
//	                   workspaces.chat_seq, which is also the chat count
//	                   that --max-chats checks
//	messages           id -> the whole message (tries jsonb, template
//	                   jsonb); seq orders a workspace's messages; the
//	                   partial index messages_queued is each account's queue
//	idempotency        (workspace, key) -> body hash, message id, at; an
//	                   expired record is overwritten, and up to 8 are pruned
//	                   per commit of accepts
//	attempts           (workspace, seq) -> the attempt; each insert drops
//	                   what falls out of the last wagate.AttemptLimit
//
// # Transactions and errors
//
// Every write is one transaction (update), so a write is all or nothing.
// Domain outcomes are *wagate.Error values and roll the transaction back;
// anything else (the connection, a constraint the domain did not expect)
// is wrapped as EUNAVAILABLE with %w, as in store/. Options.FailCommit
// injects a fault before the commit of every write, for the contract's
// fault behaviours.
//
// Every writer that changes a workspace's balance or its messages locks
// the workspace's row first (SELECT … FOR UPDATE): Accept, CancelMessage,
// DeleteAccount, CreateAccount, CreateChat. That row is the one lock of a
// workspace, so the order of locks inside one transaction is "workspaces
// by id, then their rows", and nothing deadlocks.
//
// Accept goes through an app-side group commit (commit.go): one committer
// sends the accepts waiting at that moment in one transaction, in
// workspace id order; a client fault is that request's result, a real
// error retries the batch without that request, which reruns alone, a
// failed commit reruns each alone. Options.Committers sets how many
// batches may be open at once; CommitStats counts the transactions.
//
// # What remains (issue 15), in the order to build it
//
//  1. The events outbox, the store's funnel. store/event.go and outbox.go
//     work out every message event from the status a record was read with
//     against the one it is written with, in the same commit as the change
//     (message.queued in Accept, .sent, .failed with the refund, .cancelled
//     in CancelMessage and DeleteAccount's fails, .delivered/.read,
//     webhook.attempt in putAttempt, credits.low in Accept's charge when
//     the balance crosses workspaces.low_credits). Here: tables endpoints
//     (wagate.EndpointService; secrets as in store/endpoint.go),
//     endpoint_subs, and deliveries (one row per subscribed endpoint per
//     event, with attempts, next_at, lease owner/expiry); one Go function
//     (the twin of putMessage) that every message write calls with the
//     old and new status, used by insertMessage, fail, and the queue's
//     writes; putAttempt and Accept's charge call theirs. A workspace
//     without endpoints must cost one indexed read per change. Then
//     wagate.DeliveryQueue (claim with FOR UPDATE SKIP LOCKED and a lease
//     so two replicas never deliver one delivery at once), and the
//     contract's endpoint and outbox parts in storetest (none exist yet:
//     they are tested in store/ only; move them into storetest first).
//  2. sender.Queue: QueuedAccounts, Next (honouring send_at, next_try_at,
//     one recipient in order: WaitingFor), MarkSending, MarkSent, Retry,
//     MarkFailed, Sending, Hold, SendHistory, and wagate.DeliveryService
//     (ApplyDelivery matched by (setting, provider id), an index on the
//     provider id of the last try). Then the rest of storetest.Run passes:
//     split nothing more, run Run[*DB].
//  3. Careful sending: holds (Hold, waiting_reason, next_try_at) and their
//     release in UpdateAccount when the rules change (the place is marked
//     in UpdateAccount; it must then lock the workspace's row first, as
//     every writer of messages does), scheduled messages (send_at, failScheduled in
//     DeleteAccount), and POST …/batch (store/batch.go: a batch accept is
//     one transaction; its results are kept by idempotency key and pruned
//     with it).
//  4. Replicas: a lease row per account (owner, expires_at, epoch) claimed
//     with FOR UPDATE SKIP LOCKED and renewed in one batch statement;
//     MarkSending/MarkSent fenced by the epoch (a replica that lost its
//     lease cannot write); last_send_at and the drawn gap written with
//     MarkSending so the gap is never shorter across a takeover; recovery
//     of an account's sending message at takeover instead of
//     RecoverSending at start; wake-ups by LISTEN/NOTIFY, one NOTIFY per
//     batch at most (a NOTIFY per accept halves throughput), with a poll
//     backstop; the operator token created once, not rotated per start.
//     Multi-replica tests (two stores, one account: one MarkSending wins;
//     takeover after expiry; a stale owner's MarkSent refused; the gap
//     after takeover >= drawn) and the crash harness with two replicas.
//  5. Templates (store/template.go: wagate.TemplateService) and WhatsApp
//     device keys (sender/whatsapp keeps them in SQLite today) in tables
//     of their own, each with a contract part.
//  6. cmd/wagate: --database-url / WAGATE_DATABASE_URL choosing this
//     backend for serve once DB satisfies cmd/wagate's Backend interface
//     (backend.go lists what it lacks), `wagate migrate --from ./data --to
//     postgres://…` (copy every bucket through the interfaces, then the
//     audit), the two-replica run of make bench, and README's "Running
//     several replicas". Done: `wagate check --database-url` (Audit,
//     audit.go: each later part adds its invariants there) and make
//     bench's ingest A/B against bbolt (wagate-load backends, BENCHMARKS.md
//     section 1b).
//
// Until 1 is done, accepts on this backend write no events, and until 3,
// UpdateAccount releases no holds and DeleteAccount fails no scheduled
// messages: neither exists here yet.
package postgres
