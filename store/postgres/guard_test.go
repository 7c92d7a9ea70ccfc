package postgres

import "github.com/wagate/wagate/sender"

// The sender's queue, checked here so the package itself does not import
// the sender (TestDependencies).
var (
	_ sender.Queue  = (*DB)(nil)
	_ sender.Leaser = (*DB)(nil)
)
