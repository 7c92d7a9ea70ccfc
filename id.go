package wagate

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// MessageIDPrefix starts every message id, as in the reference product.
const MessageIDPrefix = "wa_backend:"

// NewMessageID reads 10 random bytes from r and returns
// "wa_backend:" + 20 upper-case hex characters.
func NewMessageID(r io.Reader) (string, error) {
	var b [10]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	return MessageIDPrefix + strings.ToUpper(hex.EncodeToString(b[:])), nil
}

// NewToken reads 32 random bytes from r (256 bits, crypto/rand in
// production) and returns them base64url-encoded without padding: the form
// of inbound URL tokens and admin tokens.
func NewToken(r io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// NewWorkspaceID reads 8 random bytes from r and returns "ws_" + 16 hex
// characters.
func NewWorkspaceID(r io.Reader) (string, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("workspace id: %w", err)
	}
	return "ws_" + hex.EncodeToString(b[:]), nil
}

// HashToken is how tokens are stored and looked up: SHA-256 of the token.
// Tokens carry 256 random bits, so a fast hash is enough.
func HashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }
