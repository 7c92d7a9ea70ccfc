package wagate

import (
	"strings"
	"testing"
	"time"
)

// TestMessageTransitions is the state machine as a table: for each status,
// which transition it may make and which it refuses, with what code.
func TestMessageTransitions(t *testing.T) {
	statuses := []MessageStatus{StatusQueued, StatusSending, StatusSent, StatusFailed}
	// want is the code of each check's refusal per status ("" = allowed).
	tests := []struct {
		name  string
		check func(MessageStatus) error
		want  map[MessageStatus]string
	}{
		{"MarkSending and Hold take only a queued message", func(s MessageStatus) error { return CheckQueued("msg_1", s) },
			map[MessageStatus]string{StatusQueued: "", StatusSending: ECONFLICT, StatusSent: ECONFLICT, StatusFailed: ECONFLICT}},
		{"MarkSent refuses only a failed message", func(s MessageStatus) error { _, err := CheckMarkSent("msg_1", s); return err },
			map[MessageStatus]string{StatusQueued: "", StatusSending: "", StatusSent: "", StatusFailed: ECONFLICT}},
		{"Retry refuses a final message", func(s MessageStatus) error { return CheckRetry("msg_1", s) },
			map[MessageStatus]string{StatusQueued: "", StatusSending: "", StatusSent: ECONFLICT, StatusFailed: ECONFLICT}},
		{"a cancel takes only a queued message", func(s MessageStatus) error { return CheckCancel("msg_1", s, "boom") },
			map[MessageStatus]string{StatusQueued: "", StatusSending: ECONFLICT, StatusSent: ECONFLICT, StatusFailed: ECONFLICT}},
	}
	for _, tt := range tests {
		for _, s := range statuses {
			err := tt.check(s)
			if got := ErrorCode(err); got != tt.want[s] {
				t.Errorf("%s: %s gives %q (%v), want %q", tt.name, s, got, err, tt.want[s])
			}
			if err != nil && !strings.Contains(ErrorMessage(err), "msg_1") {
				t.Errorf("%s: %s: %q does not name the message", tt.name, s, ErrorMessage(err))
			}
		}
	}
}

func TestFinal(t *testing.T) {
	for s, want := range map[MessageStatus]bool{StatusQueued: false, StatusSending: false, StatusSent: true, StatusFailed: true} {
		if got := s.Final(); got != want {
			t.Errorf("%s.Final() = %v, want %v", s, got, want)
		}
	}
}

// TestCheckMarkSentDone: a repeated MarkSent is harmless, and is the only
// case with nothing to write.
func TestCheckMarkSentDone(t *testing.T) {
	for _, s := range []MessageStatus{StatusQueued, StatusSending, StatusSent, StatusFailed} {
		done, _ := CheckMarkSent("msg_1", s)
		if done != (s == StatusSent) {
			t.Errorf("CheckMarkSent(%s) done = %v", s, done)
		}
	}
}

// TestCheckCancelSaysWhy: each refusal says why the message cannot be
// cancelled, and a failed one's error is quoted cut.
func TestCheckCancelSaysWhy(t *testing.T) {
	for s, want := range map[MessageStatus]string{
		StatusSending: "being sent right now",
		StatusSent:    "already sent",
		StatusFailed:  "already failed (" + strings.Repeat("x", 200) + ") and its credits were refunded",
	} {
		err := CheckCancel("msg_1", s, strings.Repeat("x", 300))
		if !strings.Contains(ErrorMessage(err), want) {
			t.Errorf("CheckCancel(%s) = %q, want it to say %q", s, ErrorMessage(err), want)
		}
	}
}

func TestTries(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	at := now.Add(-time.Minute)
	tests := []struct {
		name      string
		got, want Try
	}{
		{"MarkSent's defaults", SentTry(Try{}, now), Try{At: now, Result: TryResultSent}},
		{"MarkSent keeps what is given", SentTry(Try{At: at, Result: "x", ProviderID: "p"}, now), Try{At: at, Result: "x", ProviderID: "p"}},
		{"MarkFailed's defaults", FailedTry(Try{}, now), Try{At: now, Result: TryResultFailed, Error: "failed"}},
		{"MarkFailed keeps what is given", FailedTry(Try{At: at, Class: TryClassPermanent, Error: "bad"}, now), Try{At: at, Result: TryResultFailed, Class: TryClassPermanent, Error: "bad"}},
		{"Retry's defaults", RetryTry(Try{}, now), Try{At: now, Result: TryResultRetry, Error: "the try failed; another follows"}},
		{"Retry keeps what is given", RetryTry(Try{At: at, Class: TryClassTransient, Error: "timeout"}, now), Try{At: at, Result: TryResultRetry, Class: TryClassTransient, Error: "timeout"}},
		{"RecoverSending", InterruptedTry(at), Try{At: at, Result: TryResultFailed, Class: TryClassInterrupted, Error: ErrorInterrupted}},
		{"Retry of a deleted account", AccountDeletedTry(at), Try{At: at, Result: TryResultFailed, Class: TryClassPermanent, Error: ErrorAccountDeleted}},
		{"DeleteAccount", DeleteAccountTry(at), Try{At: at, Result: TryResultFailed, Error: ErrorAccountDeleted}},
		{"a cancel", CancelledTry(at), Try{At: at, Result: TryResultFailed, Class: TryClassCancelled, Error: ErrorCancelled}},
		{"the relink sweep", RelinkGraceTry(at), Try{At: at, Result: TryResultFailed, Class: TryClassPermanent, Error: ErrorRelinkGrace}},
		{"a late failed report", DeliveryFailedTry(at, "undeliverable"), Try{At: at, Result: TryResultFailed, Class: TryClassPermanent, Error: "undeliverable"}},
		{"a late failed report without an error", DeliveryFailedTry(at, ""), Try{At: at, Result: TryResultFailed, Class: TryClassPermanent, Error: ErrorFailedAfterSent}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
}

// TestDeliveryReports: a failed message never moves again (its refund
// happened once); a "failed" report fails only a sent message.
func TestDeliveryReports(t *testing.T) {
	forward := func(current, next string) bool { return next != current }
	tests := []struct {
		status       MessageStatus
		current, nxt string
		moves, fails bool
	}{
		{StatusSent, "", "delivered", true, false},
		{StatusSent, "delivered", "delivered", false, false},
		{StatusSent, "delivered", "failed", true, true},
		{StatusFailed, "", "delivered", false, false},
		{StatusFailed, "", "failed", false, false},
		{StatusSending, "", "failed", true, false},
	}
	for _, tt := range tests {
		moves := DeliveryMoves(tt.status, tt.current, tt.nxt, forward)
		if moves != tt.moves {
			t.Errorf("DeliveryMoves(%s, %q, %q) = %v, want %v", tt.status, tt.current, tt.nxt, moves, tt.moves)
		}
		if moves && DeliveryFails(tt.status, tt.nxt) != tt.fails {
			t.Errorf("DeliveryFails(%s, %q) = %v, want %v", tt.status, tt.nxt, !tt.fails, tt.fails)
		}
	}
}

func TestCutUTF8(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"", 4, ""},
		{"abc", 4, "abc"},
		{"abcd", 4, "abcd"},
		{"abcde", 4, "abcd"},
		{"ab€", 4, "ab"},                        // € is 3 bytes: cut before it
		{"abc€", 4, "abc"},                      // cut before it
		{"a€b", 4, "a€"},                        // ends on a boundary
		{"𝄞𝄞", 5, "𝄞"},                          // 4-byte characters
		{"\x80\x80\x80\x80\x80\x80", 4, "\x80"}, // not UTF-8: bounded back-off
	}
	for _, tt := range tests {
		if got := CutUTF8(tt.s, tt.n); got != tt.want {
			t.Errorf("CutUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
