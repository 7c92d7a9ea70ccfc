package store

import "github.com/wagate/wagate/sender"

// The sender's durable queue is this store. The guard lives in a test file
// so the store package itself does not import the sender.
var _ sender.Queue = (*DB)(nil)

// The sender starts the sessions of idle accounts from this list.
var _ sender.AccountLister = (*DB)(nil)
