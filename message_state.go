package wagate

import (
	"time"
	"unicode/utf8"
)

// The message state machine (SPEC §6), one copy for every backend: which
// status may go to which, the refusals of the others, and the try each
// transition records. A backend reads the message's row in its
// transaction, asks these rules, and writes what they say; the credits move
// by quota (a charge at accept, one refund when a message fails):
//
//	"" -> queued        Accept charges the message's credits
//	queued -> sending   MarkSending (CheckQueued); Hold keeps it queued
//	sending -> queued   Retry (CheckRetry), no charge
//	queued|sending -> sent    MarkSent (CheckMarkSent), the credits spent
//	queued|sending -> failed  MarkFailed, CancelMessage (CheckCancel:
//	                          queued only), RecoverSending, Retry of a
//	                          deleted account, the relink sweep, a late
//	                          "failed" report: the credits refunded once
//
// sent and failed are final (MessageStatus.Final): nothing moves a final
// message's status again, so a refund never happens twice and a sent
// message is never sent again.

// ErrorInterrupted is the error of a message RecoverSending failed: the
// sender stopped while the transport had it.
const ErrorInterrupted = "interrupted: wagate stopped while sending this message; it may or may not have been delivered, so it is not sent again automatically"

// ErrorAccountDeleted is the error of a message whose account was deleted
// (or deleted and connected again, which is another account) while it
// waited: it fails with a refund instead of being sent from another
// connection.
const ErrorAccountDeleted = "account deleted"

// ErrorFailedAfterSent is a sent message's error when the transport's late
// "failed" report gives none.
const ErrorFailedAfterSent = "the transport reported the message failed after sending it"

// Final reports whether s is sent or failed, the statuses a message never
// leaves.
func (s MessageStatus) Final() bool { return s == StatusSent || s == StatusFailed }

// CheckQueued refuses (ECONFLICT) a transition that only a queued message
// may make: MarkSending, and a careful-sending Hold.
func CheckQueued(id string, s MessageStatus) error {
	if s != StatusQueued {
		return Errorf(ECONFLICT, "message %s is %s, not queued", id, s)
	}
	return nil
}

// CheckMarkSent says what MarkSent does to a message in status s: done
// when it is sent already (a repeated call is harmless, nothing to write),
// ECONFLICT when it failed (it was refunded, so it does not become sent
// for free), and otherwise neither: the message becomes sent.
func CheckMarkSent(id string, s MessageStatus) (done bool, err error) {
	switch s {
	case StatusSent:
		return true, nil
	case StatusFailed:
		return false, Errorf(ECONFLICT, "message %s already failed (and was refunded); it cannot become sent", id)
	}
	return false, nil
}

// CheckRetry refuses (ECONFLICT) a Retry of a final message: it is not
// tried again.
func CheckRetry(id string, s MessageStatus) error {
	if s.Final() {
		return Errorf(ECONFLICT, "message %s is already %s; it is not tried again", id, s)
	}
	return nil
}

// CheckCancel refuses (ECONFLICT) the cancel of a message that is no
// longer queued, saying why; errText is a failed message's error. A queued
// message may be cancelled: nil.
func CheckCancel(id string, s MessageStatus, errText string) error {
	switch s {
	case StatusSending:
		return Errorf(ECONFLICT, "message %s is being sent right now, so it can no longer be cancelled; read its outcome with GET /api/v1/workspaces/{ws}/messages/{id}", id)
	case StatusSent:
		return Errorf(ECONFLICT, "message %s was already sent, so it cannot be cancelled", id)
	case StatusFailed:
		return Errorf(ECONFLICT, "message %s already failed (%s) and its credits were refunded; there is nothing to cancel", id, CutUTF8(errText, 200))
	}
	return nil
}

// SentTry is MarkSent's try: a zero At is now, an empty Result sent.
func SentTry(try Try, now time.Time) Try {
	try.At = orNow(try.At, now)
	if try.Result == "" {
		try.Result = TryResultSent
	}
	return try
}

// FailedTry is MarkFailed's try: a zero At is now, an empty Result failed,
// an empty Error "failed" (a failed message always says why).
func FailedTry(try Try, now time.Time) Try {
	try.At = orNow(try.At, now)
	if try.Result == "" {
		try.Result = TryResultFailed
	}
	if try.Error == "" {
		try.Error = "failed"
	}
	return try
}

// RetryTry is Retry's try: a zero At is now, an empty Result retry, an
// empty Error says another try follows (the waiting message shows it).
func RetryTry(try Try, now time.Time) Try {
	try.At = orNow(try.At, now)
	if try.Result == "" {
		try.Result = TryResultRetry
	}
	if try.Error == "" {
		try.Error = "the try failed; another follows"
	}
	return try
}

// InterruptedTry is the try RecoverSending records on a message the
// sender left in sending.
func InterruptedTry(at time.Time) Try {
	return Try{At: at, Result: TryResultFailed, Class: TryClassInterrupted, Error: ErrorInterrupted}
}

// AccountDeletedTry is the try of a message Retry failed because its
// account was deleted (or connected again) while it waited.
func AccountDeletedTry(at time.Time) Try {
	return Try{At: at, Result: TryResultFailed, Class: TryClassPermanent, Error: ErrorAccountDeleted}
}

// DeleteAccountTry is the try of a queued message DeleteAccount failed
// with its account. It has no class, unlike AccountDeletedTry: it is no
// try of the sender's.
func DeleteAccountTry(at time.Time) Try {
	return Try{At: at, Result: TryResultFailed, Error: ErrorAccountDeleted}
}

// CancelledTry is the try of a queued message an owner cancelled.
func CancelledTry(at time.Time) Try {
	return Try{At: at, Result: TryResultFailed, Class: TryClassCancelled, Error: ErrorCancelled}
}

// DeliveryMoves says whether a delivery report of status next changes a
// message in status s whose delivery is current: a failed message never
// moves again, and otherwise advance (the transport's order of reports)
// decides.
func DeliveryMoves(s MessageStatus, current, next string, advance func(current, next string) bool) bool {
	return s != StatusFailed && advance(current, next)
}

// DeliveryFails says whether a delivery report of status next, once it
// moved the message, fails it (with a refund): a "failed" report on a sent
// message.
func DeliveryFails(s MessageStatus, next string) bool {
	return next == "failed" && s == StatusSent
}

// DeliveryFailedTry is the try of a sent message a late "failed" report
// failed; reported is the report's error, ErrorFailedAfterSent when empty.
// The message's Error is the try's.
func DeliveryFailedTry(at time.Time, reported string) Try {
	if reported == "" {
		reported = ErrorFailedAfterSent
	}
	return Try{At: at, Result: TryResultFailed, Class: TryClassPermanent, Error: reported}
}

// CutUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence, so
// a kept body or an error quoting input stays valid text.
func CutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	// Back off at most UTFMax-1 bytes: further back is invalid input anyway.
	for j := 0; j < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(s[i]); j++ {
		i--
	}
	return s[:i]
}

// orNow returns t, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}
