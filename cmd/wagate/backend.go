package main

import (
	"context"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
	"github.com/wagate/wagate/store"
	"github.com/wagate/wagate/store/postgres"
)

// Backend is everything `wagate serve` needs from its storage: the domain
// services the gateway, the sender, the deliverer and the Cloud API
// webhook take, plus the few reads and housekeeping steps only this
// command calls (gauges, retention, the relink sweep). App holds its
// storage as a Backend, so a second backend is one more value for it, not
// a change to the wiring (SPEC §12, issue 15). Optional interfaces the
// gateway looks for on a service (wagate.BatchAccepter on Messages,
// wagate.WaitingReporter on Accounts) stay optional: a Backend that has
// them is asked for them as before.
//
// Both backends satisfy it (the guards below): openBackend opens the
// bbolt store in --data, or with --database-url / WAGATE_DATABASE_URL the
// PostgreSQL database that replicas share (replicas.go: the operator token
// made once per database, the replica's name and lease TTL, the device
// keys of WhatsApp Web beside the rest; with replicas a WhatsApp Web
// session runs only on the replica holding the account's lease).
type Backend interface {
	wagate.WorkspaceService
	wagate.AccountService
	wagate.ChatService
	wagate.MessageService
	wagate.AttemptService
	wagate.TokenService
	wagate.SessionService
	wagate.TemplateService
	wagate.WindowService
	wagate.EndpointService
	wagate.DeliveryService    // receipts: the Cloud API webhook, WhatsApp Web
	wagate.DeliveryQueue      // the outbound event webhooks' deliverer
	wagate.AccountLinkService // WhatsApp Web link states
	sender.Queue

	// AllAccounts lists the accounts of every workspace: the WhatsApp Web
	// sessions to start, and the link-state gauge.
	AllAccounts(ctx context.Context) ([]*wagate.Account, error)
	// QueuedTotal counts the queued messages of every account, for the
	// wagate_queue_depth gauge.
	QueuedTotal(ctx context.Context) (int, error)
	waitingCounter // wagate_messages_waiting
	pruner         // --retain
	// FailUnlinkedQueues fails, with a refund, the queued messages of the
	// whatsapp accounts that need a new link since before (--relink-grace).
	FailUnlinkedQueues(ctx context.Context, before time.Time) (int, error)
	// CommitStats counts the group commits, for wagate_store_commit*.
	CommitStats() wagate.CommitStats
	// Close ends the storage's work and releases it; App calls it last,
	// after the sender and every writer have stopped.
	Close() error
}

var (
	_ Backend = (*store.DB)(nil)
	_ Backend = (*postgres.DB)(nil)
)

// openBackend opens the storage of cfg: the PostgreSQL database of
// cfg.DatabaseURL, else the bbolt store in the data folder. onDeliveries is called after a commit that made outbound
// deliveries due, with their endpoints (the deliverer's wake-up).
func openBackend(ctx context.Context, cfg Config, log *zap.Logger, onDeliveries func(refs []wagate.EndpointRef)) (Backend, error) {
	if cfg.DatabaseURL != "" {
		db, err := openPostgres(ctx, cfg, log, onDeliveries)
		if err != nil {
			return nil, err // not a typed nil either
		}
		return db, nil
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, storeFile), store.Options{Logger: log.Named("store"),
		MaxAccounts: cfg.MaxAccounts, MaxChats: cfg.MaxChats, OnDeliveries: onDeliveries})
	if err != nil {
		return nil, err // not a typed nil in a non-nil Backend: closeStorage checks a.db
	}
	return db, nil
}
