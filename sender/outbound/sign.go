package outbound

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate"
)

// SecretPrefix starts every endpoint secret, as Standard Webhooks writes
// them, so a secret pasted into the wrong place is recognisable.
const SecretPrefix = "whsec_"

// secretBytes is the key length of a new secret: 192 bits, SPEC §9.
const secretBytes = 24

// The Standard Webhooks headers every delivery carries.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// NewSecret returns a new endpoint secret: "whsec_" + base64 of 24 bytes
// read from r (crypto/rand.Reader when r is nil, which tests replace to
// get a known secret).
func NewSecret(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("outbound: read random bytes for a secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// secretKey decodes a secret into its HMAC key. The prefix is optional, as
// Standard Webhooks' libraries accept both forms. The error never quotes
// the secret.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, wagate.Errorf(wagate.EINVALID, "the endpoint secret is not %s followed by base64; rotate the secret to get a valid one", SecretPrefix)
	}
	return key, nil
}

// Sign returns one Standard Webhooks signature, "v1," + base64 of
// HMAC-SHA256 over id + "." + timestamp + "." + body, keyed with the
// base64-decoded secret.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Signature returns the webhook-signature header value of a delivery of
// e at now: the signature with e's secret, followed after a space by the
// one with its previous secret while a rotation overlaps (until
// PreviousUntil), so a receiver still holding the old secret verifies it
// and one holding the new secret does too.
func Signature(e *wagate.Endpoint, now time.Time, id string, timestamp int64, body []byte) (string, error) {
	sig, err := Sign(e.Secret, id, timestamp, body)
	if err != nil {
		return "", err
	}
	if e.PreviousSecret != "" && now.Before(e.PreviousUntil) {
		old, err := Sign(e.PreviousSecret, id, timestamp, body)
		if err != nil {
			return "", err
		}
		sig += " " + old
	}
	return sig, nil
}
