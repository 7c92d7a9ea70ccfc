package store

import (
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Batches (SPEC §2): many inbound requests in one durable write.
//
//	batches   ws id \x00 key -> the results of the batch first accepted with
//	          that Idempotency-Key (JSON); its idempotency record, in the
//	          idempotency bucket, has MessageID batchMarker and expires (and
//	          is pruned, with this entry) as any other
var bucketBatches = []byte("batches")

// batchMarker is the MessageID of a batch's idempotency record: the key
// names a batch, whose results are in bucketBatches.
const batchMarker = "batch"

var _ wagate.BatchAccepter = (*DB)(nil)

// AcceptBatch implements wagate.BatchAccepter: one write (through the group
// commit) for the whole batch. Each item runs the same checks and writes
// as Accept (acceptMessage), in order, against the balance the items
// before it left.
func (db *DB) AcceptBatch(ctx context.Context, b *wagate.AcceptBatch) (*wagate.BatchResult, error) {
	if len(b.Refused) != len(b.Items) {
		return nil, wagate.Errorf(wagate.EINTERNAL, "store: AcceptBatch needs one Refused entry per item")
	}
	now := db.now()
	ch := db.change(wagate.SourceInbound, now)
	var res *wagate.BatchResult
	outcome, fault := db.runBatch(ctx, "accept batch", func(tx *bolt.Tx) (outcome, err error) {
		res = nil
		ws, err := getWorkspace(tx, b.WorkspaceID)
		if err != nil {
			return nil, err
		}
		if ws == nil || (b.InboundToken != "" && !tokenMatches(b.InboundToken, ws.Token)) {
			return wagate.ErrWebhookNotFound(), nil
		}
		if b.InboundToken != "" && !ws.Enabled {
			return wagate.ErrWebhookDisabled(), nil
		}
		if err := pruneIdempotency(tx, now, idempotencyPruneMax); err != nil {
			return nil, err
		}
		var idemKey []byte
		var expired *idempotencyRecord
		if b.IdempotencyKey != "" {
			idemKey = join(ws.ID, b.IdempotencyKey)
			first, old, outcome, err := findBatch(tx, ws.ID, b.IdempotencyKey, b.BodyHash, now)
			switch {
			case err != nil || outcome != nil:
				return outcome, err
			case first != nil:
				res = first
				return nil, nil
			}
			expired = old
		}
		out := &wagate.BatchResult{Items: make([]wagate.BatchItem, len(b.Items))}
		for i, a := range b.Items {
			item := &out.Items[i]
			var (
				r       *wagate.AcceptResult
				refused = b.Refused[i]
			)
			if refused == nil {
				a.IdempotencyKey, a.InboundToken = "", "" // the batch's, checked above
				r, refused, err = acceptMessage(tx, ws, a, now, db.limits, ch)
				if err != nil {
					return nil, err
				}
			}
			if _, err := putAcceptAttempt(tx, ws.ID, a.Attempt, r, refused, now, ch); err != nil {
				return nil, err
			}
			if refused != nil {
				item.Code, item.Message = wagate.ErrorCode(refused), wagate.ErrorMessage(refused)
				continue
			}
			item.MessageID, item.Credits = r.Message.ID, r.Message.Credits
		}
		if idemKey != nil {
			blob, err := json.Marshal(out.Items)
			if err != nil {
				return nil, err
			}
			if err := bucket(tx, bucketBatches).Put(idemKey, blob); err != nil {
				return nil, err
			}
			if err := putIdempotency(tx, idemKey, expired, &idempotencyRecord{BodyHash: b.BodyHash[:], MessageID: batchMarker, At: now}); err != nil {
				return nil, err
			}
		}
		res = out
		return nil, nil
	})
	if fault != nil {
		return nil, fault
	}
	if outcome != nil {
		return nil, outcome
	}
	return res, nil
}

// ReplayBatch implements wagate.BatchAccepter.
func (db *DB) ReplayBatch(ctx context.Context, workspaceID, key string, bodyHash [32]byte) (*wagate.BatchResult, error) {
	var res *wagate.BatchResult
	var outcome error
	err := db.view(ctx, "replay batch", func(tx *bolt.Tx) error {
		var err error
		res, _, outcome, err = findBatch(tx, workspaceID, key, bodyHash, db.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, outcome
}

// findBatch is findIdempotent for a batch's key: the first results, an
// EIDEMPOTENCY outcome for another body (or a key first used by a single
// request), or the expired record to replace.
func findBatch(tx *bolt.Tx, workspaceID, key string, bodyHash [32]byte, now time.Time) (*wagate.BatchResult, *idempotencyRecord, error, error) {
	rec, err := getIdempotency(tx, workspaceID, key)
	if err != nil || rec == nil {
		return nil, nil, nil, err
	}
	replay, outcome := rec.judge().Replays(key, true, bodyHash, now)
	switch {
	case outcome != nil:
		return nil, nil, outcome, nil
	case !replay:
		return nil, rec, nil, nil // expired
	}
	var items []wagate.BatchItem
	if err := json.Unmarshal(bucket(tx, bucketBatches).Get(join(workspaceID, key)), &items); err != nil {
		return nil, nil, nil, err
	}
	return &wagate.BatchResult{Items: items, Replayed: true}, nil, nil, nil
}
