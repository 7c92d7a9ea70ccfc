package wagate

import "context"

// MaxBatch is how many requests one POST /inbound/{token}/batch may carry
// (SPEC §2).
const MaxBatch = 1000

// AcceptBatch is a batch of inbound requests, validated and resolved one
// by one by the gateway, to be committed by BatchAccepter.AcceptBatch.
type AcceptBatch struct {
	WorkspaceID    string
	InboundToken   string   // as Accept.InboundToken, for the whole batch
	IdempotencyKey string   // covers the whole batch; "" for none
	BodyHash       [32]byte // of the whole body
	// Items are the batch's requests in order. An item the gateway already
	// refused has Refused set and only its Attempt; the others have their
	// Message (and ChatName) as for Accept. Their IdempotencyKey,
	// InboundToken and BodyHash are not read.
	Items []*Accept
	// Refused is, per item, the error the gateway refused it with (nil
	// for the items to accept).
	Refused []error
}

// BatchItem is the outcome of one item: MessageID when accepted, else the
// error's Code and Message (as on the inbound URL alone).
type BatchItem struct {
	MessageID string
	Credits   int64
	Code      string
	Message   string
}

// BatchResult is the outcome of a committed batch.
type BatchResult struct {
	Items    []BatchItem
	Replayed bool // an Idempotency-Key replay: nothing was charged
}

// BatchAccepter commits batches of inbound requests. It is apart from
// MessageService so that a backend may add it later; the gateway answers
// batches only when the store has it.
type BatchAccepter interface {
	// AcceptBatch commits, in ONE durable write, every item that passes:
	// each is checked and charged as if sent alone, in order, so credits
	// run out item by item (ECREDITS for the items that no longer fit);
	// each item, accepted or not, gets its own attempt record; with an
	// Idempotency-Key the results are kept 24 h for replays. The whole
	// batch is refused (an *Error, no item written) when the workspace is
	// gone or its token regenerated (ENOTFOUND), or the URL disabled
	// (EDISABLED). A replay of the key with the same body returns the
	// first results with Replayed set; with another body, or a key of a
	// single request, EIDEMPOTENCY.
	AcceptBatch(ctx context.Context, b *AcceptBatch) (*BatchResult, error)
	// ReplayBatch looks the Idempotency-Key up before the batch is
	// validated: the first results when bodyHash matches, EIDEMPOTENCY
	// when it does not or the key is a single request's, (nil, nil) when
	// the key is new or expired.
	ReplayBatch(ctx context.Context, workspaceID, key string, bodyHash [32]byte) (*BatchResult, error)
}
