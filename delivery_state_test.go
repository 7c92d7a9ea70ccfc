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

func TestEndpointHealth(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	failing := at.Add(-time.Hour)
	tests := []struct {
		name    string
		h       EndpointHealth
		success bool
		disable string
		want    EndpointHealth
		changed bool
	}{
		{"a success of a healthy endpoint changes nothing", EndpointHealth{Enabled: true}, true, "", EndpointHealth{Enabled: true}, false},
		{"a success ends the failures", EndpointHealth{Enabled: true, FailingSince: failing}, true, "", EndpointHealth{Enabled: true}, true},
		{"a first failure starts them", EndpointHealth{Enabled: true}, false, "", EndpointHealth{Enabled: true, FailingSince: at}, true},
		{"a later failure keeps when they started", EndpointHealth{Enabled: true, FailingSince: failing}, false, "", EndpointHealth{Enabled: true, FailingSince: failing}, false},
		{"a disable", EndpointHealth{Enabled: true, FailingSince: failing}, false, "410 Gone", EndpointHealth{DisabledReason: "410 Gone", FailingSince: failing}, true},
		{"a disable of a disabled endpoint keeps its reason", EndpointHealth{DisabledReason: "first", FailingSince: failing}, false, "again", EndpointHealth{DisabledReason: "first", FailingSince: failing}, false},
	}
	for _, tt := range tests {
		got, changed := tt.h.Attempted(tt.success, at, tt.disable)
		if got != tt.want || changed != tt.changed {
			t.Errorf("%s: Attempted = %+v, %v; want %+v, %v", tt.name, got, changed, tt.want, tt.changed)
		}
	}
}
