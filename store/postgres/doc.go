// Package postgres is wagate's PostgreSQL backend (SPEC §12, issue 15):
// the same domain services as store/ (bbolt), on a database that several
// replicas share. It is being built service by service against the store
// contract (store/storetest); today it implements wagate.WorkspaceService,
// TokenService, SessionService, AccountService and ChatService and passes
// the contract's workspace, token, session and account parts
// (RunAccounts). Messages are not stored yet, so QueueDepths is empty and
// DeleteAccount and UpdateAccount have no queued messages to fail or holds
// to release; each says where that goes.
//
// # Schema
//
// The schema is the versioned migrations embedded from migrations/,
// applied at Open in one transaction (migrate.go). Tables so far:
//
//	schema_migrations  version -> name, applied_at
//	workspaces         id -> name, balance, granted, the inbound token (and
//	                   its SHA-256, unique, for the lookup), created_at; seq
//	                   orders them by creation
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
//
// # Transactions and errors
//
// Every write is one transaction (update), so a write is all or nothing.
// Domain outcomes are *wagate.Error values and roll the transaction back;
// anything else (the connection, a constraint the domain did not expect)
// is wrapped as EUNAVAILABLE with %w, as in store/. Options.FailCommit
// injects a fault before the commit of every write, for the contract's
// fault behaviours.
package postgres
