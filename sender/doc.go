// Package sender drains the per-account queues: one FIFO per account, a
// random gap between two sends of the same account, accounts independent of
// each other, and a Transport per account that hands the message to
// WhatsApp. Transports live in subpackages (sender/dryrun, later
// sender/cloudapi).
//
// What happens to a queued message, in the order the sender checks:
//
//   - it waits its turn: the gap drawn after the account's previous send
//     start, uniform in [Interval-Jitter, Interval+Jitter], must have passed
//     (the first send of an account, or the first after a pause longer than
//     a gap, goes at once);
//   - account deleted (Queue.Account answers ENOTFOUND): the message fails,
//     "account +1… was deleted", and is refunded;
//   - account not active: the message stays queued and the account's worker
//     stops; deactivating pauses an account, it does not throw its messages
//     away. Whoever activates the account calls Sender.Wake, and a restart
//     resumes it too (it is still listed by Queue.QueuedAccounts);
//   - account's transport not configured on this server: the message fails
//     with an error naming the transport;
//   - otherwise Queue.MarkSending, then Transport.Send, then Queue.MarkSent
//     or, on any error, Queue.MarkFailed (which refunds). Transports mark
//     errors that no retry can fix with Permanent; the sender logs and
//     counts the difference already, though every error fails the message
//     for now: retries with backoff for transient errors come later.
//
// Shutdown (Run's context done) lets a send under way finish and store its
// outcome, and starts no other. Storage errors are logged and retried with a
// growing pause, never in a busy loop.
package sender
