package wagate

import (
	"bytes"
	"time"
)

// The Idempotency-Key rules (SPEC §1), one copy for every backend: how
// long a key is remembered, what a stored record of a key means for a new
// request, and how many expired records one accept cleans up. A backend
// reads the record in its transaction and asks IdempotencyRecord.Replays;
// it stores a record per key and deletes the expired ones, at most
// IdempotencyPruneMax an accept (or a batch of accepts), oldest first.

// IdempotencyWindow is how long an Idempotency-Key is remembered. An older
// record counts as absent: the key is fresh again and its record is
// overwritten.
const IdempotencyWindow = 24 * time.Hour

// IdempotencyPruneMax bounds how many expired idempotency records one
// accept deletes, so the cleanup never makes one request slow; a steady
// stream of accepts still removes them faster than they expire.
const IdempotencyPruneMax = 8

// IdempotencyCutoff is the newest time of a record that has expired at
// now: a backend prunes the records written at or before it.
func IdempotencyCutoff(now time.Time) time.Time { return now.Add(-IdempotencyWindow) }

// IdempotencyRecord is what a backend read of a used key: the hash of the
// first request's body, when it was accepted, and whether that request was
// a batch. Single requests and batches share one key space (a key names one
// request), but their answers differ, so a key never replays across kinds.
type IdempotencyRecord struct {
	BodyHash []byte
	At       time.Time
	Batch    bool
}

// Expired reports whether the record counts as absent at now: it is
// IdempotencyWindow old or older.
func (r *IdempotencyRecord) Expired(now time.Time) bool {
	return now.Sub(r.At) >= IdempotencyWindow
}

// Replays says what r, the record of key (nil when the backend has none),
// means for a request (a batch when batch is set) whose body hashes to
// bodyHash at now: true when the request replays the first one (the same
// kind and body within the window), so it gets the first answer and is not
// charged again; EIDEMPOTENCY when it reuses the key within the window for
// the other kind of request (ErrIdempotencyKeyOfBatch,
// ErrIdempotencyKeyOfSingle: the body does not matter, the first answer
// cannot be given in this one's shape) or with another body
// (ErrIdempotencyReused); neither when the key is fresh (no record, or an
// expired one, which the accept overwrites).
func (r *IdempotencyRecord) Replays(key string, batch bool, bodyHash [32]byte, now time.Time) (bool, error) {
	switch {
	case r == nil || r.Expired(now):
		return false, nil
	case r.Batch && !batch:
		return false, ErrIdempotencyKeyOfBatch(key)
	case !r.Batch && batch:
		return false, ErrIdempotencyKeyOfSingle(key)
	case !bytes.Equal(r.BodyHash, bodyHash[:]):
		return false, ErrIdempotencyReused(key)
	}
	return true, nil
}
