// Package store keeps wagate's durable state in one bbolt file and
// implements the domain services (wagate.WorkspaceService, AccountService,
// ChatService, MessageService, AttemptService, TokenService) and the
// sender's durable queue (sender.Queue).
//
// # Layout
//
// Every top-level bucket is created in one write at Open. Per-workspace and
// per-account data lives in nested buckets, created on first write, so that a
// bucket's NextSequence gives ids and FIFO order for free and a cursor walks
// oldest first. Sequence keys are 8-byte big-endian.
//
//	meta                 "schema" -> schema version (8-byte big-endian)
//	workspaces           workspace id -> workspace record (balance, granted, inbound token…)
//	inbound              sha256(inbound token) -> workspace id
//	accounts             ws id \x00 phone -> account record (settings included)
//	chats / {ws id}      chat id (sequence, from 1) -> chat record
//	chat_jids            ws id \x00 account phone \x00 jid -> chat id
//	messages             message id -> message record (global: the sender works by id)
//	ws_messages / {ws}   sequence -> message id (newest last: ListMessages walks back)
//	queues / {ws \x00 phone}  sequence -> message id: the account's FIFO
//	sending              message id -> "" : messages a crash may have caught mid-send
//	idempotency          ws id \x00 key -> {body hash, message id, time}
//	idempotency_by_time  unix nanos \x00 ws id \x00 key -> "" : to prune expired keys
//	attempts / {ws}      sequence -> attempt record: exactly the last wagate.AttemptLimit
//	tokens               sha256(admin token) -> {workspace, role, created}
//
// Records are store-private structs encoded as JSON, so the domain types need
// no storage tags and a field such as Account.Settings, which the API never
// echoes, is still kept.
//
// # Transactions
//
// Exported methods open the transaction; unexported helpers take a *bolt.Tx
// so they compose: Accept charges, stores, enqueues and records the attempt
// in one commit. The hot paths (Accept, the sender's state changes, attempt
// records) go through bbolt's group commit (DB.Batch); see Accept.
//
// # Errors
//
// Domain outcomes are *wagate.Error values (ENOTFOUND, ECONFLICT, ECREDITS,
// EIDEMPOTENCY, EINVALID). Anything else that fails (the file, a lock, a
// record that does not decode) is wrapped as EUNAVAILABLE with %w, so the
// gateway answers 503 and errors.Is still finds the bbolt error.
package store
