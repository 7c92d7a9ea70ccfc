package wagate

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// MessageIDPrefix starts every message id, as in the reference product.
const MessageIDPrefix = "wa_backend:"

// MessageIDs hands out message ids. An id is "wa_backend:" followed by 20
// upper-case hex characters (SPEC §1): 12 for the Unix millisecond it was
// made in, then 8 for a number drawn at random for each new millisecond and
// counted up within one.
//
// Why time first: the store keys messages by id, and ids that grow with
// time put every new message at the end of that index, so a group commit
// dirties a few pages at its right edge instead of one random page per
// message, which is what made accepts slower as the store grew. Ids from
// one MessageIDs are strictly increasing (a clock that steps back keeps
// the last millisecond), so they never repeat within a process; across
// processes and restarts, two ids of the same millisecond differ unless
// 32 random bits collide, and the store refuses a taken id anyway.
//
// Ids are not secrets: they show when a message was accepted, which the
// message's created_at shows too, and every read of a message needs a
// token of its workspace. Two ids of the same millisecond also show how
// many ids this process made between them, a glimpse of its load in that
// millisecond; we accept that for ids that sort.
type MessageIDs struct {
	rand io.Reader

	mu     sync.Mutex
	lastMS int64  // the millisecond of the last id
	count  uint32 // the number of the last id within lastMS
}

// NewMessageIDs returns a source of message ids drawing its random part
// from r (crypto/rand in production).
func NewMessageIDs(r io.Reader) *MessageIDs {
	return &MessageIDs{rand: r, lastMS: math.MinInt64} // the first id draws
}

// Next returns a new id for a message accepted at now.
func (g *MessageIDs) Next(now time.Time) (string, error) {
	ms := now.UnixMilli()
	g.mu.Lock()
	defer g.mu.Unlock()
	if ms <= g.lastMS && g.count < math.MaxUint32 {
		g.count++
	} else {
		var b [4]byte
		if _, err := io.ReadFull(g.rand, b[:]); err != nil {
			return "", fmt.Errorf("message id: %w", err)
		}
		g.lastMS = max(ms, g.lastMS+1)
		// The top bit stays clear, so counting up from the draw has
		// 2^31 ids of room before it spills into the next millisecond.
		g.count = binary.BigEndian.Uint32(b[:]) >> 1
	}
	var id [10]byte
	binary.BigEndian.PutUint16(id[0:2], uint16(uint64(g.lastMS)>>32))
	binary.BigEndian.PutUint32(id[2:6], uint32(g.lastMS))
	binary.BigEndian.PutUint32(id[6:10], g.count)
	return MessageIDPrefix + strings.ToUpper(hex.EncodeToString(id[:])), nil
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

// TokenID is the public id of the token with that hash: "tok_" and 16 hex
// characters of a second hash, so the id reveals neither the token nor its
// stored hash, and every stored token has one, however old.
func TokenID(hash [32]byte) string {
	h := sha256.Sum256(append([]byte("wagate token id\x00"), hash[:]...))
	return "tok_" + hex.EncodeToString(h[:8])
}
