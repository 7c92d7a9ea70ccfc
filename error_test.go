package wagate_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

func TestErrorCodeAndMessage(t *testing.T) {
	wrapped := fmt.Errorf("accept: %w", wagate.Errorf(wagate.ECREDITS, "needs %d", 2))
	if got := wagate.ErrorCode(wrapped); got != wagate.ECREDITS {
		t.Errorf("ErrorCode(wrapped) = %q", got)
	}
	if got := wagate.ErrorMessage(wrapped); got != "needs 2" {
		t.Errorf("ErrorMessage(wrapped) = %q", got)
	}
	secret := errors.New("open /var/lib/wagate/secret-path: permission denied")
	if wagate.ErrorCode(secret) != wagate.EINTERNAL || strings.Contains(wagate.ErrorMessage(secret), "secret") {
		t.Errorf("a foreign error leaks: %q %q", wagate.ErrorCode(secret), wagate.ErrorMessage(secret))
	}
	if wagate.ErrorCode(nil) != "" || wagate.ErrorMessage(nil) != "" {
		t.Error("nil error has a code or message")
	}
}

func TestIDs(t *testing.T) {
	tok, err := wagate.NewToken(strings.NewReader(strings.Repeat("x", 32)))
	if err != nil || len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("NewToken = %q, %v; want 43 base64url characters", tok, err)
	}
	if _, err := wagate.NewToken(strings.NewReader("short")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NewToken on a short reader: %v", err)
	}
	ws, err := wagate.NewWorkspaceID(strings.NewReader("12345678"))
	if err != nil || ws != "ws_3132333435363738" {
		t.Errorf("NewWorkspaceID = %q, %v", ws, err)
	}
}
