package sender

import (
	"errors"
	"time"
)

// permanentError marks a transport error after which another try cannot
// succeed. It wraps the transport's own error so errors.Is and errors.As
// still see through it, and its text is the wrapped text unchanged, since
// that text becomes the message's error that the workspace reads.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the recipient is bad, the number is not
// on WhatsApp, the media was rejected, the settings are wrong. A transport
// returns Permanent(err) for those, so the sender fails the message at once
// instead of retrying it; any error not marked is taken as transient
// (timeouts, 5xx, rate limits). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked by
// Permanent. Wrapping a permanent error with fmt.Errorf("…: %w", err) keeps
// it permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError marks a transient error that names the earliest moment to
// try again, such as a provider's rate limit with a Retry-After.
type retryAfterError struct {
	err   error
	delay time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as transient with a delay: the next try of the
// message comes no sooner than delay from now (the sender may wait longer,
// to keep its own backoff and the account's pace). RetryAfter(nil, d) is nil.
func RetryAfter(err error, delay time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, delay: max(delay, 0)}
}

// RetryDelay returns the delay given by RetryAfter anywhere in err's chain.
func RetryDelay(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.delay, true
	}
	return 0, false
}

// deferredError marks a send the transport did not attempt because the
// message's turn has not come yet on the provider's side (the Cloud API's
// 6 s between two messages to one person). It carries its delay as a
// retryAfterError, so RetryDelay finds it.
type deferredError struct{ err error }

func (e *deferredError) Error() string { return e.err.Error() }
func (e *deferredError) Unwrap() error { return e.err }

// Defer marks err as "not tried, come back after delay": the message goes
// back to its place, due after delay, without using up one of its retries
// or failing, however often it is deferred. A transport returns it only
// for a wait it knows will end. Defer(nil, d) is nil.
func Defer(err error, delay time.Duration) error {
	if err == nil {
		return nil
	}
	return &deferredError{err: RetryAfter(err, delay)}
}

// IsDeferred reports whether err, or any error it wraps, was marked by Defer.
func IsDeferred(err error) bool {
	var d *deferredError
	return errors.As(err, &d)
}

// unavailableError marks a send the transport did not attempt because the
// account cannot send now: a session transport whose connection is down or
// still coming up. Nothing about the message is wrong, and nothing went
// out.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// Unavailable marks err as "not tried: the account cannot send now". The
// message goes back to its place, due at once, without using up one of its
// retries, and the account's worker waits (sends nothing) until the
// transport reports the account ready again through the wake function
// SessionHolder.StartAccount was given, or until Config.UnavailableWait
// passes, whichever comes first. A transport returns it only when it is
// sure nothing went out; its text names the account's state, since the
// message's history shows it. Unavailable(nil) is nil.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &unavailableError{err: err}
}

// IsUnavailable reports whether err, or any error it wraps, was marked by
// Unavailable.
func IsUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}
