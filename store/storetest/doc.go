// Package storetest is the contract of wagate's storage backends: one table
// of behaviours, written only against the domain interfaces of service.go
// (wagate.WorkspaceService, AccountService, ChatService, MessageService,
// AttemptService, TokenService, SessionService, DeliveryService,
// EndpointService, DeliveryQueue…) and the sender's sender.Queue, that
// every backend runs through a Harness. A backend passes when every behaviour does; each behaviour is a subtest
// whose name states the rule it checks, so a failure reads as the promise
// that broke ("MarkFailed refunds once").
//
// A backend's test opens stores for the suite through a Harness: Open a
// new, empty store wired to an Env (the injected clock and the write-fault
// hook), and Reopen the same data, as a restart would:
//
//	func TestContract(t *testing.T) {
//		storetest.Run[*store.DB](t, boltHarness{})
//	}
//
// Run asks for a Backend, the union of every part's constraint, and runs
// every part, so a backend runs the whole contract by that one call and
// cannot forget a part. Each part is a subtest named for what it covers,
// and `go test -run 'TestContract/careful sending'` runs it alone.
//
// The parts stay exported, each with its own constraint, so a new backend
// can be built service by service: RunWorkspaces needs a
// wagate.WorkspaceService, RunTokens adds the TokenService, RunSessions
// the SessionService, RunAccounts the AccountService and ChatService (with
// the operator's limits, Env.MaxAccounts and MaxChats), RunMessages the
// MessageService and AttemptService without the send queue (accepts,
// replays, lists and pages, cancels, the attempt ring, deleting an account
// with queued messages); RunStore needs a whole Store and adds the
// behaviours of accounts, messages and attempts that need the sender's
// queue, the send queue, delivery reports, persistence across a reopen,
// and write faults (a write that fails at commit leaves nothing).
// RunCareful (a CarefulStore: a whole Store with batches and the waiting
// counts) adds careful sending: scheduled messages, the rules' holds and
// their release when the rules change, the send history, the counts of why
// messages wait, and batch accepts. Behaviours that touch messages end by
// checking that credits add up (granted = balance + what the queued,
// sending and sent messages hold), read through the interfaces.
//
// The other parts: RunTemplates (wagate.TemplateService and WindowService:
// templates, synced provider templates, a message's template send, the
// 24-hour windows), RunLinks (AccountLinkService, AccountEventService
// without the events, sender.AccountLister), RunLinksWithQueue
// (RecordAccountEvent's release of holds, the sweep's empty queue),
// RunRelink (the relink grace's sweep, RelinkSweeper) and RunRetention
// (PruneMessages, Pruner: which messages go; the credits of pruned sent
// messages are each backend's audit, as the interfaces do not show them),
// and the events outbox: RunEndpoints (wagate.EndpointService: endpoints
// and their history of test sends), RunOutbox (with messages and the
// DeliveryQueue: the events of accepts, cancels, deleted accounts, the
// attempt log and credits.low, read back through NextDeliveries, and the
// queue of deliveries), RunAccountEvents (the account.* events of
// RecordAccountEvent and SetAccountLink) and RunOutboxQueue (a whole Store
// with the outbox: the events of the send queue and of delivery reports).
// The wake-ups after a commit (the backends' OnDeliveries options) are
// each backend's own tests. A new part adds its constraint to Backend and
// its call to Run.
//
// # Not in the contract yet
//
// The rules both backends share live at the root and are unit-tested
// there (the message state machine, the accept's refusals and its queued
// or scheduled message, the Idempotency-Key's window, why queued messages
// wait); the suite checks that each backend applies them, through the
// interfaces. What the interfaces cannot show stays each backend's own
// test:
//   - the bounded pruning of expired idempotency records (the rule is
//     wagate.IdempotencyCutoff and IdempotencyPruneMax; only its effect,
//     "expired is absent", is visible, and it is visible without any
//     pruning) and the sweep of expired console sessions;
//   - WaitingByAccount's scan limit (a package variable of each backend,
//     so a test can lower it);
//   - the repair of stale queue entries by Next, requeueing at the end when
//     a retried message's position is gone, and the offline audit (wagate
//     check) and retention's credit counter, which are bbolt's own API;
//   - the interleavings of racing writers: the "racing …" behaviours run
//     writers at once through the interfaces (first uses of one key, accepts
//     on a small balance, token creates at the limit, revokes of every owner
//     token, final transitions of one message) and check the outcome, but
//     cannot force the worst interleaving; a backend that drops a lock may
//     still pass them on a given run, so its locking needs its own
//     deterministic tests (multi-replica tests on PostgreSQL);
//   - the fault hook's operation names are bbolt's (store/fault.go); the
//     suite fails every write and never names an operation.
package storetest
