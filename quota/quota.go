// Package quota holds the credit rules of wagate: what a message costs, and
// how a charge and a refund move a balance. It does no I/O; the store applies
// these rules inside its transactions.
package quota

import (
	"errors"
	"fmt"

	"github.com/wagate/wagate"
)

// ErrInsufficientCredits is wrapped by Charge's error, for callers that branch.
var ErrInsufficientCredits = errors.New("insufficient credits")

// Cost returns the credits a message costs: 1 for text only or a file only,
// 2 for text and a file together.
func Cost(text string, hasFile bool) int64 {
	if text != "" && hasFile {
		return 2
	}
	return 1
}

// Charge returns balance - cost, or an error (code ECREDITS, wrapping
// ErrInsufficientCredits) that says how many credits are needed and how many
// are left when the balance cannot pay.
func Charge(balance, cost int64) (int64, error) {
	if cost < 0 {
		panic("quota: negative cost")
	}
	if balance < cost {
		return balance, &insufficientError{need: cost, left: balance}
	}
	return balance - cost, nil
}

// Refund returns balance + credits: a failed message gives its credits back.
func Refund(balance, credits int64) int64 { return balance + credits }

// Grant applies an operator's grant of amount (possibly negative) to a
// balance that never goes below 0, and returns the new balance and the
// amount really applied (what Granted moves by).
func Grant(balance, amount int64) (newBalance, applied int64) {
	if balance+amount < 0 {
		return 0, -balance
	}
	return balance + amount, amount
}

type insufficientError struct{ need, left int64 }

func (e *insufficientError) Error() string { return e.domain().Error() }

// Unwrap lets errors.Is find ErrInsufficientCredits and errors.As find the
// *wagate.Error that the gateway maps to 402.
func (e *insufficientError) Unwrap() []error {
	return []error{ErrInsufficientCredits, e.domain()}
}

func (e *insufficientError) domain() *wagate.Error {
	return wagate.Errorf(wagate.ECREDITS, "not enough credits: this message needs %d %s, the workspace has %d left; ask the operator to add credits",
		e.need, plural(e.need, "credit", "credits"), e.left)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Check formats a credit-audit line; used by the offline check.
func Check(granted, balance, held int64) error {
	if granted != balance+held {
		return fmt.Errorf("credits do not add up: granted %d != balance %d + held by queued, sending and sent messages %d", granted, balance, held)
	}
	return nil
}
