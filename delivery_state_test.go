package wagate

import (
	"testing"
	"time"
)

func TestDeliveryTransitions(t *testing.T) {
	for _, s := range []string{DeliveryPending, DeliverySucceeded, DeliveryFailed} {
		if err := CheckAttemptEnd(s); err != nil {
			t.Errorf("CheckAttemptEnd(%s): %v", s, err)
		}
		if got, want := ErrorCode(CheckDeliveryPending("dlv_1", s)), map[bool]string{true: "", false: ECONFLICT}[s == DeliveryPending]; got != want {
			t.Errorf("CheckDeliveryPending(%s) = %q, want %q", s, got, want)
		}
		if got, want := ErrorCode(CheckRetryDelivery("dlv_1", s)), map[bool]string{true: "", false: ECONFLICT}[s == DeliveryFailed]; got != want {
			t.Errorf("CheckRetryDelivery(%s) = %q, want %q", s, got, want)
		}
	}
	if got := ErrorCode(CheckAttemptEnd("done")); got != EINVALID {
		t.Errorf("CheckAttemptEnd(done) = %q, want EINVALID", got)
	}
	if got := ErrorCode(ErrDeliveryNotFound("dlv_x")); got != ENOTFOUND {
		t.Errorf("ErrDeliveryNotFound = %q, want ENOTFOUND", got)
	}
}

func TestAttemptTimes(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	made, due := now.Add(-time.Second), now.Add(time.Minute)
	tests := []struct {
		name     string
		d        EndpointDelivery
		at, next time.Time
	}{
		{"pending, due later", EndpointDelivery{Status: DeliveryPending, At: made, NextTryAt: due}, made, due},
		{"pending without a due time is due at once", EndpointDelivery{Status: DeliveryPending, At: made}, made, made},
		{"pending, made now", EndpointDelivery{Status: DeliveryPending}, now, now},
		{"succeeded has no next", EndpointDelivery{Status: DeliverySucceeded, NextTryAt: due}, now, time.Time{}},
		{"failed has no next", EndpointDelivery{Status: DeliveryFailed, At: made, NextTryAt: due}, made, time.Time{}},
	}
	for _, tt := range tests {
		at, next := AttemptTimes(&tt.d, now)
		if !at.Equal(tt.at) || !next.Equal(tt.next) {
			t.Errorf("%s: AttemptTimes = %v, %v; want %v, %v", tt.name, at, next, tt.at, tt.next)
		}
	}
}
