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
// whole contract, storetest.Run (every part: careful sending, templates,
// links, relink, retention, endpoints, the outbox, account events). `wagate serve
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
//	                   sent messages retention deleted, retain.go),
//	                   attempts_made; seq orders them by creation
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
//	attempts           (workspace, slot) -> the attempt and its number n in
//	                   the workspace (workspaces.attempts_made counts
//	                   them): a ring of wagate.AttemptLimit slots, attempt
//	                   n in slot n mod the limit, written over the attempt
//	                   the limit before it; n orders the log
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
//	replicas           name -> started_at, expires_at: the replicas whose
//	                   senders lease, renewed by each round (replicas.go)
//	link_codes         (workspace, phone) -> the QR code or pairing code of
//	                   a linking under way, its expiry, the replica holding
//	                   the session (linkcode.go)
//	link_requests      id -> a link or unlink request handed to the
//	                   account's lease holder, and its outcome
//	                   (linkrequest.go)
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
// Accept goes through an app-side group commit (commit.go): each
// committer has a queue, an accept goes to the one its workspace id hashes
// to, and the committer sends the accepts waiting at that moment in one
// transaction, in workspace id order (so a hot workspace's accepts of one
// replica never wait on each other's row lock); a client fault is that
// request's result, a real error retries the batch without that request,
// which reruns alone, a failed commit reruns each alone. A batch costs two
// round trips: BEGIN, its workspaces' locks and their subscriptions,
// accounts and chats in one pipeline; then its writes (one multi-row
// INSERT of messages, one upsert of attempts into their rings,
// idempotency records, one UPDATE of its workspaces' balances and attempt
// counts, the NOTIFY) and COMMIT in another (accepttx.go, pipetx.go).
// The tables an accept writes have no foreign keys and a new message
// joins three indexes (0017_pgspeed.sql): what the server does per accept
// is most of a commit's time (BENCHMARKS.md 1b). Options.Committers sets how many batches may
// be open at once; CommitStats counts the transactions.
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
// when the old holder died mid-send). At a takeover the sender settles an
// account's sending messages (sender.Leaser: it no longer calls
// RecoverSending at start with this backend): SendingOf lists them for a
// transport that can answer for another replica's send, and SettleAccount
// (takeover.go) writes its answers in one fenced transaction (delivered:
// sent; not delivered: queued at its place; the rest failed and
// refunded); RecoverAccount fails them all when no transport can tell. A commit of
// accepts sends one NOTIFY for its batch (AcceptBatch one for its request),
// UpdateAccount one for an active account; Listen hears them, and the
// sender's lease round every few seconds is the poll behind them.
// CreateOperatorTokenOnce keeps the database's first operator token;
// RotateOperatorToken (wagate operator rotate-token) replaces it in one
// transaction, seen by every replica at its next request (admin tokens and
// sessions are read at every request, never cached).
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
// answers ECONFLICT naming the holder elsewhere: that replica then hands
// the request to the holder through link_requests, RequestLink, which the
// holder hears on a NOTIFY channel of its own and runs, linkrequest.go;
// when the lease moves before the holder answers, the requester hands the
// request on, RehandLinkRequest);
// HoldsLease tells
// cmd/wagate whether a session's report is still this replica's to store.
// While an account is linked, the holder puts its QR or pairing code in
// link_codes (PutLinkCode, linkcode.go) so that the link page on any
// replica shows it (FindLinkCode), and deletes it when linking ends.
//
// The live replicas (each registered in the replicas table by its lease
// rounds) share the accounts with work or a session: a replica claims up
// to its share, ceil(busy accounts / live replicas), and releases its
// surplus at a safe point, never mid-send, keeping the pace in the lease
// row (replicas.go).
//
// Limits: a message whose replica lost its lease mid-send, on a transport
// that cannot answer for another replica's send (cloudapi, a dryrun outbox
// per replica), is failed and refunded as interrupted by the new holder
// even if it went out (never sent twice, but counted failed); replicas'
// clocks are compared (the lease's
// expiry, the pace), so they must be kept in sync (NTP).
//
// # Limits, and what to build next
//
// Issue 15 is built: the store on PostgreSQL (migrations 0001-0017), one
// contract (storetest.Run) for both backends with the shared rules at the
// root, replicas by account leases that share the accounts and confirm at
// takeover, serve/check/migrate/operator rotate-token --database-url, the
// two-replica tests and crash harness, and make bench's A/B and
// two-replica runs. What it does not do, by design or not yet:
//
//  1. Speed (BENCHMARKS.md 1b): SPEC §7's ingest through HTTP at 64
//     connections is 0.6-0.8 of bbolt's accepts/s with p99 14-16 ms, and
//     64 workspaces at the store level 1.2-1.3 (p99 15-18 ms): the goal
//     is met there. One hot workspace at the store level, with no HTTP in
//     front, is at the goal's edge (0.45-0.57 between runs): its batches
//     commit one after another under its row lock, in a ~2.4 ms cycle
//     (two round trips; the messages INSERT and the attempt upsert
//     ~0.65 ms; the fsync) against bbolt's ~1 ms.
//     Next: overlap a workspace's batches (the next one's lock sent with
//     the last one's COMMIT, on a connection of its own: tried once, it
//     cost HTTP throughput through the pool's 4 connections), or one round
//     trip per batch.
//  2. Confirm at takeover needs a transport that can answer for another
//     replica's send: the Cloud API cannot be asked about a message whose
//     answer was lost, and dryrun can only with --dryrun-shared-outbox;
//     such a message is failed and refunded as interrupted, never sent
//     twice.
//  3. A dead holder pauses a linked WhatsApp Web account's connection for
//     up to --lease-ttl; a link request it took before dying is handed to
//     the next holder when its lease moves, so with a --lease-ttl above
//     the asker's 20 s wait the asker answers 503 first (try again).
//  4. WaitingByAccount's WaitingFor lookup and the storage reads stay in
//     each backend (storetest's doc lists what the contract cannot see).
package postgres
