package sender

import (
	"context"
	"sync/atomic"
	"time"
)

// postingKey marks the value in a Send's context where the transport
// reports when it hands the message over (see Posting).
type postingKey struct{}

// postClock holds the first Posting moment of one send, in Unix ns; 0 when
// the transport reported none.
type postClock struct{ at atomic.Int64 }

// Posting tells the sender that the transport hands the message to the
// provider now. The account's pace is measured from the first such moment
// of a send: a transport that does work before it (uploading a file,
// waiting for the recipient's turn) would otherwise see the account's next
// message reach the provider sooner after this one than the drawn gap. A
// transport that hands a message over at once need not call it; outside a
// send it does nothing.
func Posting(ctx context.Context) {
	if pc, ok := ctx.Value(postingKey{}).(*postClock); ok {
		pc.at.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// withPostClock returns ctx carrying a fresh postClock for one send.
func withPostClock(ctx context.Context) (context.Context, *postClock) {
	pc := &postClock{}
	return context.WithValue(ctx, postingKey{}, pc), pc
}

// posted returns the reported moment, or the zero time.
func (pc *postClock) posted() time.Time {
	if ns := pc.at.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}
