package sender

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// This file holds the backoff after storage errors, shared by the
// lifecycle, the worker and the outcome writes.

// retry calls f until it succeeds, waiting with backoff between failures. It
// returns false when ctx is done first.
func retry(ctx context.Context, log *zap.Logger, what string, f func() error) bool {
	b := backoff{}
	for {
		err := f()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn("storage error; trying again", zap.String("doing", what), zap.Error(err), zap.Duration("in", b.next()))
		if !b.wait(ctx) {
			return false
		}
	}
}

// backoff is the pause after a storage error: backoffMin, doubling up to
// backoffMax. The zero value is ready to use.
type backoff struct{ d time.Duration }

// next returns the pause the next wait will take.
func (b *backoff) next() time.Duration {
	if b.d == 0 {
		return backoffMin
	}
	return b.d
}

// wait pauses for next(), then doubles it. It returns false when ctx ended
// the pause.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next()
	b.d = min(2*d, backoffMax)
	return sleep(ctx, d)
}

// sleep waits d, or until ctx is done; it returns false for ctx.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reset starts the pauses over at backoffMin after a success.
func (b *backoff) reset() { b.d = 0 }
