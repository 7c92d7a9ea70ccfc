package wagate

import (
	"errors"
	"time"
)

// AccountLease is one account whose lease a replica holds (SPEC §12): while
// it does, it alone sends the account's messages. A backend shared by
// several replicas hands these out; the embedded bbolt store, one process,
// has no leases.
type AccountLease struct {
	Account AccountRef
	// Epoch counts the claims of the account's lease: each new holder gets
	// one more, and a write made for an older epoch is refused.
	Epoch int64
	// LastSendAt and Gap are the account's pace as its last MarkSending
	// wrote it, whichever replica that was: when that send started and the
	// gap drawn after it. A new holder waits out the gap too, so a
	// takeover never shortens it. Zero when the account never sent.
	LastSendAt time.Time
	Gap        time.Duration
	// Ready: the account is active and has queued messages, so it has work
	// now (the poll that backs up the wake-ups reads it).
	Ready bool
}

// ErrLeaseLost is wrapped by the error (ECONFLICT) of a write refused
// because this replica no longer holds the account's lease at the epoch it
// claimed: another replica took the account over (this one was too slow
// to renew, or was stopped), and only that one may write its sends now.
var ErrLeaseLost = errors.New("this replica no longer holds the account's lease")
