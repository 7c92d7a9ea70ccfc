// Package sender drains the per-account queues: one FIFO per account, a
// random gap between two sends of the same account, accounts independent of
// each other, and a Transport per account that hands the message to
// WhatsApp. Transports live in subpackages (sender/dryrun, sender/cloudapi);
// the attachment downloader is a Fetcher (sender/fetch).
//
// What happens to a queued message, in the order the sender checks:
//
//   - it waits its turn: the gap drawn after the account's previous send
//     start, uniform in [Interval-Jitter, Interval+Jitter], must have passed
//     (the first send of an account, or the first after a pause longer than
//     a gap, goes at once; after a restart beyond the first 100 accounts
//     the first sends are spread over one interval at most). The gap runs
//     between two calls of Transport.Send, or from the moment a transport
//     reports handing the message over (Result.PostedAt) when that is later, as
//     after a file upload. MarkSending's commit is started ahead of the
//     turn so that its latency does not shift it. While the
//     account waits, the files of its next messages download (see
//     "Attachments");
//   - account deleted (Queue.Account answers ENOTFOUND): the message fails,
//     "account +1… was deleted", and is refunded;
//   - account not active: the message stays queued and the account's worker
//     stops; deactivating pauses an account, it does not throw its messages
//     away. Whoever activates the account calls Sender.Wake, and a restart
//     resumes it too (it is still listed by Queue.QueuedAccounts);
//   - account's transport not configured on this server: the message fails
//     with an error naming the transport;
//   - account's session not ready (a SessionHolder transport, see
//     "Sessions"): the message stays queued, no try is recorded, and the
//     account sends nothing until the transport wakes it;
//   - its file, if it has one, is taken from the download made during the
//     gap, or downloaded now. A failed download is a failed try (below),
//     which takes no turn of the account: the transport was not called;
//   - otherwise Queue.MarkSending, then Transport.Send, then Queue.MarkSent,
//     or for an error a failed try. A message that left the queue after
//     Next showed it (its owner cancelled it, its account was deleted) is
//     refused by MarkSending: the sender drops it and its downloaded file
//     without a word above debug and reads the queue again at once.
//
// # Failed tries and retries
//
// A try that fails records its time, result, error class and error text
// (wagate.Try). The class decides what follows:
//
//   - permanent (the error is marked with Permanent: bad recipient, media
//     rejected, a file_url that is a web page): the message fails at once
//     and is refunded, in one write (Queue.MarkFailed);
//   - transient (any other error: timeouts, 5xx) or rate_limited (marked
//     with RetryAfter): the message is retried after 5 s, 30 s, 2 min,
//     10 min and 30 min (each ± 20 %, drawn from Config.Rand), or after the
//     RetryAfter delay when that is longer; after the fifth retry fails it
//     fails and is refunded, its error saying how many tries were made;
//   - deferred (marked with Defer, the provider's turn for the recipient
//     has not come; or with Unavailable, the account cannot send now): not
//     a failed try, no retry is used up, however often it happens.
//
// Queue.Retry stores the retry in one write: the try, the due time, and the
// message back in its queue at the place it was accepted at. So the state
// survives a restart, which continues the schedule; the message is never
// failed as "interrupted" for waiting.
//
// Order rule while a message waits for a retry: the account's later
// messages go on at their pace, except those to the same recipient (JID),
// which wait behind it, so one recipient never sees its messages out of
// order and one bad message does not stall the account. When the retry is
// due the message is first again, ahead of the messages accepted after it.
// A retry is a send: it waits for the account's turn like any other, so
// retries never break the pace. Queue.Next applies the rule.
//
// # Attachments
//
// While an account waits for its turn, the files of its next
// Config.PrefetchAhead messages download, so a slow file host does not
// stretch the gap. Memory and concurrency are bounded: a download reserves
// Config.MaxFileBytes until its size is known; one account holds at most
// Config.FileBytesPerAccount ahead of their turn, all accounts at most
// Config.FileBytes; at most Config.FetchConcurrency downloads run at once,
// Config.FetchConcurrencyPerWorkspace of one workspace.
// A file that does not fit downloads at its message's turn instead. Files
// are held only in memory: a restart downloads them again. Without a
// Fetcher, a message with a file fails permanently.
//
// # Sessions
//
// A transport that keeps a long-lived connection per account (WhatsApp Web)
// is a SessionHolder. The sender starts an account's session before its
// first send (at Run, for every active account when the Queue is an
// AccountLister, else for those with queued messages; or when a woken
// account has none yet), and stops it when it finds the account paused or
// deleted, when AccountChanged reports so, and when Run returns. After
// StartAccount, and after a Send that answered Unavailable, the account
// sends nothing (a Wake for a new message only queues it) until the
// transport calls the wake function StartAccount was given, or until
// Config.UnavailableWait (5 min) passes, after which the next message is
// tried again. Such a wait uses up no retry: the message Unavailable
// returned goes back to its place with a deferred try.
//
// # Crashes
//
// At start, before any send, Run settles the messages a stop left in
// sending: a Transport that is a Confirmer is asked whether each went out
// (delivered: it becomes sent; certainly not: it goes back to its place and
// is sent once); every other one is failed and refunded by
// Queue.RecoverSending with an "interrupted" error. A message is never sent
// twice silently, and never silently lost.
//
// Shutdown (Run's context done) lets a send under way finish and store its
// outcome, calls off downloads, and starts no other send. Storage errors are
// logged and retried with a growing pause, never in a busy loop.
//
// # Replicas
//
// A Queue that several wagate replicas share is a Leaser (lease.go): the
// sender then sends only the accounts whose lease its replica holds,
// settles an account's interrupted send when it takes the account over
// (never RecoverSending for all at start, which would refund the other
// replicas' live sends): a Confirmer is asked only when it is a
// SharedConfirmer that can answer for another replica's send (the
// WhatsApp Web ledger in the shared database, a dryrun outbox every
// replica shares), and its NotDelivered is taken only once the previous
// holder's send cannot be under way any more (SendTimeout after its
// start); else the message fails and is refunded (takeover.go). It waits
// out the gap the previous holder drew, hears the other replicas' new messages (Listen) with a
// lease round every LeaseEvery behind them, and releases its leases when
// it stops.
//
// Sessions follow the leases: with a Leaser, an account's session
// (SessionHolder) runs only on the replica holding its lease, so one
// WhatsApp Web device is never connected twice (the connections would
// replace each other, and both would read its receipts). Run starts none
// for all accounts; a session starts when the account's lease is claimed,
// also for an account with nothing to send (the store's lease round
// claims idle accounts that have a session to hold: a linked device), and
// stops when the lease is lost (the lease round, or a MarkSending refused
// for it) and at the stop, before the leases are released.
//
// # Dependencies
//
// The sender imports only the domain (package wagate), its own
// subpackages, and the pure domain rules kept beside the domain at the
// root: careful (when an account may send: daily limit, warm-up, quiet
// hours) and quota (credits). Those have no clock and no I/O, so every
// backend and the sender decide by the same code. Never the gateway, the
// store, bbolt or echo: storage reaches the sender through Queue, and
// deps_test.go keeps it so.
package sender
