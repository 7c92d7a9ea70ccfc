package main

import (
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/sender"
)

// The gateway tells the sender of account changes through its Waker when
// the Waker also watches accounts; make sure the sender keeps doing so.
var _ gateway.AccountWatcher = (*sender.Sender)(nil)
