// Package retryafter reads HTTP's Retry-After header. It is the part of
// the retry vocabulary every HTTP client of wagate needs (the file
// fetcher, the Cloud API transport, the webhook deliverer), kept apart
// from package sender so a client need not import the sender to use it.
// It depends on the standard library only.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse reads an HTTP Retry-After header, in seconds or as an HTTP date,
// into a delay from now, capped at limit (a server asking for a day does
// not get to park a message for a day unless the caller allows it). A
// date in the past is 0; ok is false for an absent or unreadable header.
func Parse(header string, now time.Time, limit time.Duration) (delay time.Duration, ok bool) {
	header = strings.TrimSpace(header)
	if header == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(header, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(limit/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(header); err == nil {
		return min(max(t.Sub(now), 0), limit), true
	}
	return 0, false
}
