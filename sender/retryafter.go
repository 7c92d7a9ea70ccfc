package sender

import (
	"time"

	"github.com/wagate/wagate/sender/retryafter"
)

// ParseRetryAfter reads an HTTP Retry-After header into a delay from now,
// capped at limit; see retryafter.Parse, where it lives so that HTTP
// clients outside the sender (the webhook deliverer) share it. Transports
// pass the delay on with RetryAfter.
func ParseRetryAfter(header string, now time.Time, limit time.Duration) (delay time.Duration, ok bool) {
	return retryafter.Parse(header, now, limit)
}
