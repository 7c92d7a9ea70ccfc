package quota_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

func TestCost(t *testing.T) {
	tests := []struct {
		text    string
		hasFile bool
		want    int64
	}{
		{"hello", false, 1},
		{"", true, 1},
		{"hello", true, 2},
	}
	for _, tt := range tests {
		if got := quota.Cost(tt.text, tt.hasFile); got != tt.want {
			t.Errorf("Cost(%q, %v) = %d, want %d", tt.text, tt.hasFile, got, tt.want)
		}
	}
}

func TestCharge(t *testing.T) {
	if got, err := quota.Charge(5, 2); err != nil || got != 3 {
		t.Errorf("Charge(5, 2) = %d, %v", got, err)
	}
	if got, err := quota.Charge(2, 2); err != nil || got != 0 {
		t.Errorf("Charge(2, 2) = %d, %v", got, err)
	}
	got, err := quota.Charge(1, 2)
	if got != 1 || !errors.Is(err, quota.ErrInsufficientCredits) {
		t.Fatalf("Charge(1, 2) = %d, %v; want balance kept and ErrInsufficientCredits", got, err)
	}
	if wagate.ErrorCode(err) != wagate.ECREDITS {
		t.Errorf("code = %q, want %q", wagate.ErrorCode(err), wagate.ECREDITS)
	}
	if msg := wagate.ErrorMessage(err); !strings.Contains(msg, "needs 2 credits") || !strings.Contains(msg, "has 1 left") {
		t.Errorf("message %q does not say needed and left", msg)
	}
}

func TestGrantAndRefund(t *testing.T) {
	if b, applied := quota.Grant(10, 5); b != 15 || applied != 5 {
		t.Errorf("Grant(10, 5) = %d, %d", b, applied)
	}
	if b, applied := quota.Grant(10, -4); b != 6 || applied != -4 {
		t.Errorf("Grant(10, -4) = %d, %d", b, applied)
	}
	if b, applied := quota.Grant(10, -25); b != 0 || applied != -10 {
		t.Errorf("Grant(10, -25) = %d, %d; want the floor at 0", b, applied)
	}
	if got := quota.Refund(3, 2); got != 5 {
		t.Errorf("Refund(3, 2) = %d", got)
	}
	if err := quota.Check(10, 7, 3); err != nil {
		t.Errorf("Check(10, 7, 3) = %v", err)
	}
	if err := quota.Check(10, 7, 2); err == nil {
		t.Error("Check(10, 7, 2) passed")
	}
}
