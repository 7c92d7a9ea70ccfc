// Package postgres is wagate's PostgreSQL backend (SPEC §12, issue 15):
// the same domain services as store/ (bbolt), on a database that several
// replicas share. It is being built service by service against the store
// contract (store/storetest). Today it implements wagate.WorkspaceService,
// TokenService, SessionService, AccountService, ChatService,
// MessageService, AttemptService, DeliveryService, BatchAccepter and
// WaitingReporter, the sender's Queue (queue.go, careful.go) and Leaser
// (lease.go: replicas), TemplateService, WindowService, AccountLinkService
// and AccountEventService, sender.AccountLister (AllAccounts), the relink
// grace's sweep (FailUnlinkedQueues), retention (PruneMessages), Audit,
// and the events outbox (EndpointService, DeliveryQueue), and passes the
// whole contract, storetest.Run, and its parts RunCareful, RunTemplates,
// RunLinks, RunLinksWithQueue, RunRelink, RunRetention, RunEndpoints,
// RunOutbox, RunOutboxQueue and RunAccountEvents. `wagate serve
// --database-url` serves on it (cmd/wagate/replicas.go); see "What
// remains" below.
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
//	                   low_credits, chat_seq, pruned_credits (the credits of
//	                   sent messages retention deleted, retain.go); seq
//	                   orders them by creation
//	tokens             sha256(admin token) -> id, workspace (NULL for the
//	                   operator), role, name, prefix, created_at, last_used_at;
//	                   one operator token per database (a partial unique index)
//	sessions           sha256(session id) -> token hash (ON DELETE CASCADE: a
//	                   deleted token's sessions end with it), role, csrf, times
//	accounts           (workspace, phone) -> transport, settings (jsonb),
//	                   active, connected_at, rules (jsonb, rulesRecord),
//	                   link (jsonb, linkRecord; NULL: never had a link state)
//	chats              (workspace, id) -> account phone, jid (unique per
//	                   account), name, group, created_at; ids come from
//	                   workspaces.chat_seq, which is also the chat count
//	                   that --max-chats checks
//	messages           id -> the whole message (tries jsonb, template
//	                   jsonb, templateSendRecord); seq orders a workspace's
//	                   messages; queue_pos is its place in its account's
//	                   queue (from the
//	                   sequence messages_queue_pos, kept while sending so a
//	                   retry goes back to it; NULL for a scheduled message
//	                   not placed yet), sending_at, provider_id (of the
//	                   sent try, for delivery reports). Partial indexes:
//	                   messages_queue (each account's queue in order),
//	                   messages_scheduled (by send_at), messages_waiting
//	                   (the retries and holds that block a recipient),
//	                   messages_held, messages_sending, messages_provider_id
//	idempotency        (workspace, key) -> body hash, message id, at, and a
//	                   batch's results (message id "batch"); an expired
//	                   record is overwritten, and up to 8 are pruned per
//	                   commit of accepts
//	attempts           (workspace, seq) -> the attempt; each insert drops
//	                   what falls out of the last wagate.AttemptLimit
//	sends              (workspace, phone, at, message) -> (): an account's
//	                   sends of the last 24 h, pruned by MarkSent
//	first_sends        (workspace, phone) -> its first send ever (the
//	                   warm-up); both outlive the account, as in store/
//	templates          (workspace, name) -> text, file, cloudapi (jsonb),
//	                   times; listed by name COLLATE "C" (store/'s order)
//	account_templates  (workspace, phone) -> the last sync's provider
//	                   templates (jsonb), synced_at; deleted with the
//	                   account (ON DELETE CASCADE)
//	chat_windows       (transport, sender, customer) -> last_at, the
//	                   customer's latest message (the 24-hour window)
//	endpoints          (workspace, id) -> the endpoint, secrets included;
//	                   seq orders a workspace's endpoints
//	endpoint_subs      (workspace, event type, endpoint) -> filter (phone,
//	                   source): one row per enabled endpoint and event type,
//	                   rewritten with every write of the endpoint; what the
//	                   outbox funnel probes, by its key, at every change
//	deliveries         (workspace, endpoint, id) -> the event (jsonb), the
//	                   attempts, status, next_at (pending), the last
//	                   request and response (bodies as bytea), the lease
//	                   (lease_owner, lease_expires); seq orders the history
//	                   and the deliveries due together; partial indexes for
//	                   what is due, what is finished (trimming) and what is
//	                   leased. Nothing points at messages: retention's
//	                   deletes are not blocked
//	account_leases     (workspace, phone) -> owner replica, epoch,
//	                   expires_at, and the pace: last_send_at, gap_ns
//
// WhatsApp Web device keys live in the same database, in a schema of their
// own that sender/whatsapp creates and migrates (whatsmeow's tables are
// the library's, not these migrations'): see whatsapp.KeySchema.
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
// the workspace's row first (SELECT … FOR UPDATE): Accept, AcceptBatch,
// CancelMessage, DeleteAccount, UpdateAccount, CreateAccount, CreateChat,
// and the queue's writers (MarkSending, MarkSent, Retry, MarkFailed,
// Hold, ApplyDelivery through lockMessage; RecoverSending locks every
// workspace with a message in sending, by id, first). That row is the one
// lock of a workspace, so the order of locks inside one transaction is
// "workspaces by id, then their rows", and nothing deadlocks. Every write
// of a message row calls messageChanged (event.go) in the same
// transaction, with what the row held before (beforeOf); refunds happen
// only in fail.
//
// Accept goes through an app-side group commit (commit.go): one committer
// sends the accepts waiting at that moment in one transaction, in
// workspace id order; a client fault is that request's result, a real
// error retries the batch without that request, which reruns alone, a
// failed commit reruns each alone. A batch locks each workspace once,
// reads its accounts and chats once, and queues its writes (messages,
// attempts, idempotency records, one balance and one ring trim per
// workspace, the NOTIFY) into one pipelined round trip before the commit
// (accepttx.go). Options.Committers sets how many batches may be open at
// once; CommitStats counts the transactions.
//
// # The events outbox
//
// event.go is the funnel, as in store/: every write of a message row calls
// messageChanged (the event worked out from what the row held before and
// after), putAttempt writes webhook.attempt, Accept's charge writes
// credits.low when the balance crosses workspaces.low_credits, and
// accountChanged (SetAccountLink, RecordAccountEvent) writes account.*.
// An event is written, in the transaction of its change, inside one
// pending delivery per enabled endpoint subscribed to it whose filter
// matches; a workspace without endpoints pays one probe of endpoint_subs'
// key per change and writes nothing. Writes made through update or the
// group commit collect the endpoints that got deliveries (wakeTx) and call
// Options.OnDeliveries with them after the commit; other replicas find
// them by the deliverer's poll.
//
// The DeliveryQueue (queue_outbox.go) is shared by every replica's
// deliverer: NextDeliveries claims the due rows with FOR UPDATE SKIP
// LOCKED and a lease (this store as owner, until now +
// Options.DeliveryLease), so two replicas never make one delivery at
// once; FinishAttempt by a replica whose lease another took over is
// ECONFLICT; Close releases the store's leases, and a crashed replica's
// expire. Lease times are the stores' clocks.
//
// # Replicas
//
// Several replicas share one database (SPEC §12); lease.go and notify.go
// hold the details. Each account is sent by the holder of its lease row:
// the sender's Lease renews every lease its replica holds in one statement
// and claims free or expired ones with FOR UPDATE SKIP LOCKED (epoch + 1);
// Release frees them at a clean stop and wakes the others. Once a handle
// has leased, MarkSending, and MarkSent, Retry and MarkFailed of a sending
// message, call fence in their transaction: a replica that no longer holds
// the lease at the epoch it claimed gets ECONFLICT wrapping
// wagate.ErrLeaseLost (a handle that never leased is not fenced).
// MarkSendingPaced writes last_send_at and the drawn gap with the mark, the
// outcome of the send moves last_send_at up to the try's end (the transport
// call came before it), and a new holder waits them out (from the takeover
// when the old holder died mid-send). RecoverAccount fails an account's
// sending messages when it is taken over (sender.Leaser: the sender no
// longer calls RecoverSending at start with this backend). A commit of
// accepts sends one NOTIFY for its batch (AcceptBatch one for its request),
// UpdateAccount one for an active account; Listen hears them, and the
// sender's lease round every few seconds is the poll behind them.
// CreateOperatorTokenOnce keeps the database's first operator token.
// FindWorkspaceByInboundToken's answers are cached for up to a second
// (inboundcache.go): Accept re-checks the token and the enabled flag under
// the workspace's lock, so a URL regenerated or disabled on another
// replica never accepts again, and is no longer found a second later.
//
// Sessions (WhatsApp Web connections) follow the leases: the lease round
// also claims an idle account that has a session to hold (active, its link
// state neither unlinked nor logged out), so exactly one replica connects
// each linked device, and the sender starts and stops the session with the
// lease. ClaimLease claims one account outside the rounds (linking, which
// answers ECONFLICT naming the holder elsewhere); HoldsLease tells
// cmd/wagate whether a session's report is still this replica's to store.
//
// Limits: the first replica to claim takes every free account (no balancing
// yet); a message whose replica lost its lease mid-send is failed and
// refunded as interrupted by the new holder even if it went out (never sent
// twice, but counted failed); replicas' clocks are compared (the lease's
// expiry, the pace), so they must be kept in sync (NTP).
//
// # What remains (issue 15), in the order to build it
//
//  1. Done: the events outbox (event.go, endpoint.go, outbox.go,
//     queue_outbox.go, migration 0006); see above. Audit does not check
//     the outbox yet.
//  2. and 3. (the send queue and careful sending) are done: queue.go,
//     careful.go, batch.go, delivery.go and migration 0007.
//  4. Replicas, the rest: the crash harness with two replicas killed at
//     random moments, many times (cmd/wagate's TestTwoReplicasOnePostgres
//     kills the lease holder once under load, with the same checks:
//     every 200 ends sent or failed-and-refunded, none twice, credits add
//     up); spreading accounts between replicas. Done: cmd/wagate makes
//     the operator token once per database (CreateOperatorTokenOnce) and
//     passes --replica and --lease-ttl; sessions of session transports
//     (WhatsApp Web) run only on the replica holding the account (see
//     above).
//  5. Done: templates, synced provider templates and the 24-hour windows
//     (template.go), the link state (link.go), RecordAccountEvent
//     (account_event.go), AllAccounts, the relink sweep (relink.go),
//     retention with its credit counter (retain.go), Audit (audit.go, the
//     invariants `wagate check` reads on this backend), and the WhatsApp Web
//     device keys in this database (sender/whatsapp, Config.DatabaseURL).
//     What is left of it belongs to the steps around it: Audit grows with
//     the tables of 1-4 (the outbox's, the leases, the queue's indexes),
//     and `wagate check` on this backend (6) must be this Audit, or count
//     workspaces.pruned_credits as spent as it does: else a database that
//     retention pruned reads as one whose credits do not add up.
//  6. cmd/wagate: --database-url / WAGATE_DATABASE_URL choosing this
//     backend for serve (DB satisfies cmd/wagate's Backend interface;
//     backend.go's TODO lists what the wiring needs), handed to
//     whatsapp.Config.DatabaseURL, so the device keys live beside it;
//     `wagate migrate --from ./data --to postgres://…` is done (Import,
//     import.go, fed by store.DB.Export: rows inserted directly in one
//     transaction, counts and credits compared before the commit; the
//     WhatsApp Web device keys are not copied, linked accounts are
//     refused or, with --relink-whatsapp, copied unlinked); the two-replica run of
//     make bench, and README's "Running several replicas". Done: `wagate
//     check --database-url` (AuditDatabase: Audit's invariants, read-only
//     and without migrating) and make bench's ingest A/B against bbolt
//     (wagate-load backends, BENCHMARKS.md section 1b).
package postgres
