package whatsapp

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// webIDPrefix starts the ids WhatsApp Web gives its messages: ours look
// like any other companion's.
const webIDPrefix = "3EB0"

// MessageID is the WhatsApp message id of the wagate message with id
// wagateID: "3EB0" and 18 upper-case hex digits of SHA-256 over the id, the
// shape WhatsApp Web's own ids have. Being a function of the wagate id, a
// receipt that comes after a crash names a message wagate can find again
// (Confirm), and no table is needed to map one to the other.
func MessageID(wagateID string) string {
	sum := sha256.Sum256([]byte("wagate/whatsapp/v1:" + wagateID))
	return webIDPrefix + strings.ToUpper(hex.EncodeToString(sum[:9]))
}
