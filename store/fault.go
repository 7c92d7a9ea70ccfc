package store

// Fault injection, for tests only.
//
// Options.FailCommit lets a test make a write fail the way a full disk or a
// failing fsync does, at the worst moment: after the transaction function
// has made every one of its changes, just before bbolt commits them. The
// promise under test is that such a failure is all or nothing: the caller
// gets EUNAVAILABLE (a 503 on the inbound URL), and the file holds nothing
// of the write — no message, no charge, no queue entry, no idempotency or
// attempt record.
//
// FailCommit is called with the name of the operation ("accept", "replay",
// "record attempt", "mark sending", "mark sent", "retry", "mark failed",
// "recover sending", "clean queue", "apply delivery", "create workspace",
// "add credits", "set webhook enabled", "regenerate webhook", "create
// account", "set account active", "delete account", "create chat",
// "create token", "cancel message", "set low credits", "create endpoint",
// "update endpoint", "delete endpoint", "retry delivery", "record
// delivery", "finish attempt") inside every write transaction; a non-nil error rolls the
// transaction back and is returned wrapped as EUNAVAILABLE. Return a plain
// error (syscall.ENOSPC, say), not a *wagate.Error: domain errors pass
// through unwrapped, as the outcome of a client's mistake would. The group
// commit (commit.go) may run a function more than once, so FailCommit may be
// called more than once for one call; it must be safe for concurrent use.
// Reads are never failed: a read has nothing to leave half-written.
//
// wagate never sets it: a nil FailCommit is one nil check per write.

// fault returns the error Options.FailCommit injects into the write op, or
// nil.
func (db *DB) fault(op string) error {
	if db.failCommit == nil {
		return nil
	}
	return db.failCommit(op)
}
