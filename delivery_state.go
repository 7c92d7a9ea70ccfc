package wagate

import "time"

// The state machine of an endpoint delivery (SPEC §9), one copy for every
// backend's DeliveryQueue: pending -> succeeded | failed by FinishAttempt
// (or pending again, due later), failed -> pending by RetryDelivery.

// CheckAttemptEnd refuses (EINVALID) an attempt that ends other than
// pending, succeeded or failed.
func CheckAttemptEnd(status string) error {
	switch status {
	case DeliveryPending, DeliverySucceeded, DeliveryFailed:
		return nil
	}
	return Errorf(EINVALID, "an attempt ends %s, %s or %s, not %q", DeliveryPending, DeliverySucceeded, DeliveryFailed, status)
}

// AttemptTimes are when the attempt of d was made (a zero d.At is now)
// and when the next is due: for a pending d its NextTryAt, or at once
// without one; none (zero) for a delivery that ended.
func AttemptTimes(d *EndpointDelivery, now time.Time) (at, next time.Time) {
	at = orNow(d.At, now)
	if d.Status == DeliveryPending {
		next = orNow(d.NextTryAt, at)
	}
	return at, next
}

// CheckDeliveryPending refuses (ECONFLICT) an attempt's outcome for a
// delivery in status that is no longer pending: its attempt was recorded.
func CheckDeliveryPending(id, status string) error {
	if status != DeliveryPending {
		return Errorf(ECONFLICT, "delivery %s is %s, not pending: its attempt was already recorded", id, status)
	}
	return nil
}

// CheckRetryDelivery refuses (ECONFLICT) a retry of a delivery that has
// not failed.
func CheckRetryDelivery(id, status string) error {
	if status != DeliveryFailed {
		return Errorf(ECONFLICT, "delivery %s is %s; only a failed delivery can be retried", id, status)
	}
	return nil
}

// ErrDeliveryNotFound is the answer for a delivery id the endpoint does
// not have; the id is cut, as it is the caller's input.
func ErrDeliveryNotFound(id string) error {
	return Errorf(ENOTFOUND, "delivery %q is not a delivery of this endpoint; list them with GET /api/v1/workspaces/{ws}/endpoints/{id}/deliveries", CutUTF8(id, 40))
}

// EndpointHealth is what an attempt's outcome changes of its endpoint.
type EndpointHealth struct {
	Enabled        bool
	DisabledReason string
	FailingSince   time.Time
}

// Attempted applies an attempt's outcome made at at: a success ends the
// run of failures (FailingSince cleared), a failure starts one if none is
// running, and disable != "" disables an enabled endpoint with that reason.
// changed is false when nothing moved (a success of a healthy endpoint),
// so the backend writes nothing.
func (h EndpointHealth) Attempted(success bool, at time.Time, disable string) (out EndpointHealth, changed bool) {
	switch {
	case success && !h.FailingSince.IsZero():
		h.FailingSince, changed = time.Time{}, true
	case !success && h.FailingSince.IsZero():
		h.FailingSince, changed = at, true
	}
	if disable != "" && h.Enabled {
		h.Enabled, h.DisabledReason, changed = false, disable, true
	}
	return h, changed
}
