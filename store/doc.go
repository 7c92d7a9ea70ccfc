// Package store keeps wagate's durable state in one bbolt file and
// implements the domain services (wagate.WorkspaceService, AccountService,
// ChatService, MessageService, AttemptService, TokenService, SessionService,
// TemplateService, WindowService, EndpointService), the sender's durable
// queue (sender.Queue) and the outbound webhooks' outbox (wagate.DeliveryQueue).
//
// # Layout
//
// Every top-level bucket is created in one write at Open. Per-workspace and
// per-account data lives in nested buckets, created on first write, so that a
// bucket's NextSequence gives ids and FIFO order for free and a cursor walks
// oldest first. Sequence keys are 8-byte big-endian.
//
//	meta                 "schema" -> schema version (8-byte big-endian);
//	                     "pruned_credits\x00" + ws id -> credits of sent messages
//	                     deleted by retention (retain.go), for the audit
//	workspaces           workspace id -> workspace record (balance, granted, inbound token…)
//	inbound              sha256(inbound token) -> workspace id
//	accounts             ws id \x00 phone -> account record (settings included)
//	chats / {ws id}      chat id (sequence, from 1) -> chat record
//	chat_jids            ws id \x00 account phone \x00 jid -> chat id
//	messages             message id -> message record (global: the sender works by id;
//	                     holds the tries, the retry due time and the queue position)
//	ws_messages / {ws}   sequence -> message id (newest last: ListMessages walks back)
//	queues / {ws \x00 phone}  sequence -> message id: the account's FIFO
//	sending              message id -> "" : messages a crash may have caught mid-send
//	idempotency          ws id \x00 key -> {body hash, message id, time}
//	idempotency_by_time  unix nanos \x00 ws id \x00 key -> "" : to prune expired keys
//	attempts / {ws}      sequence -> attempt record: exactly the last wagate.AttemptLimit
//	tokens               sha256(admin token) -> {workspace, role, created, id, name, prefix, last used}
//	workspace_tokens     ws id \x00 token id -> sha256(admin token) (token.go)
//	sessions             sha256(session id) -> console session (session.go)
//	token_sessions       sha256(token) ++ created ++ sha256(session id) -> ""
//	session_expiry       expires ++ sha256(session id) -> ""
//	provider_ids         transport's message id -> message id: for delivery reports
//	                     (a report naming its sender, as Cloud API statuses do with
//	                     phone_number_id, must also match the message's account)
//	templates            ws id \x00 name -> message template (template.go)
//	account_templates    ws id \x00 account phone -> the provider templates last synced
//	message_templates    message id -> how a templated message goes out: beside the
//	                     message record, not in it, so its binary layout stays
//	chat_windows         transport \x00 sender \x00 customer -> when the customer last
//	                     wrote (the Cloud API's 24-hour window)
//	endpoints            ws id \x00 endpoint id -> endpoint record, secrets included (endpoint.go)
//	endpoint_subs        ws id -> the workspace's subscriptions (ids, enabled, events,
//	                     filters): rebuilt at every endpoint write; absent when the
//	                     workspace has no endpoint, so its changes write no event
//	outbox / {ws \x00 endpoint id}  the endpoint's deliveries, each with its event,
//	                     their due index, finished index and counts (outbox.go)
//
// Records are store-private structs encoded as JSON, so the domain types need
// no storage tags and a field such as Account.Settings, which the API never
// echoes, is still kept.
//
// # The send queue
//
// A queue entry is the message's place in its account's FIFO, from Accept
// until the message leaves the queued state. MarkSending deletes the entry
// and keeps its key in the message (pos); Retry puts the entry back at that
// key, so a retried message keeps its place ahead of later messages, and
// sets the message's next_try_at. Next walks the queue from the front:
// it skips a message whose retry is not due, and the later messages to the
// same JID, and returns the others in order. So a retrying message needs no
// bucket of its own: `wagate check` sees it as the queued message it is.
//
// Every final transition (MarkFailed, RecoverSending, DeleteAccount,
// CancelMessage, Retry of a message whose account is gone) goes through one
// helper that refunds in the same write, and MarkFailed leaves a failed or
// sent message as it is: a refund happens once, whatever races. Retention
// (retain.go) deletes final messages and keeps the credits of the sent ones
// in a per-workspace counter, so the audit's sum still holds.
//
// # The outbox of events
//
// Every message state change is written by putMessage, and every attempt
// by putAttempt; both write the change's event (SPEC §9) in the same
// transaction, derived from the record itself, so no change can forget
// it (event.go). An event is stored only inside the pending deliveries of
// the endpoints it concerns (outbox.go): a workspace without endpoints
// writes none. Options.OnDeliveries wakes the deliverer after the commit.
//
// # Transactions
//
// Exported methods open the transaction; unexported helpers take a *bolt.Tx
// so they compose: Accept charges, stores, enqueues and records the attempt
// in one commit. The hot paths (Accept, the sender's state changes, attempt
// records) go through the store's group commit (commit.go); see Accept.
//
// # Errors
//
// Domain outcomes are *wagate.Error values (ENOTFOUND, ECONFLICT, ECREDITS,
// EIDEMPOTENCY, EINVALID), given by the root's rules (message_state.go,
// accept_check.go, idempotency.go, refusals.go), which store/postgres
// shares. Anything else that fails (the file, a lock, a record that does
// not decode) is wrapped as EUNAVAILABLE with %w, so the gateway answers
// 503 and errors.Is still finds the bbolt error.
package store
