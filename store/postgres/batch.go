package postgres

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// Batches (SPEC §2, POST /inbound/{token}/batch), the twin of
// store/batch.go: many inbound requests in one transaction. With an
// Idempotency-Key the results are kept in the key's record (message_id
// batchMarker, the column batch), so they expire and are pruned with it.

// batchMarker is the message_id of a batch's idempotency record.
const batchMarker = "batch"

var _ wagate.BatchAccepter = (*DB)(nil)

// batchItemRecord is how a batch item's result is stored: names of its
// own, as tryRecord's.
type batchItemRecord struct {
	MessageID string `json:"message_id,omitempty"`
	Credits   int64  `json:"credits,omitempty"`
	Code      string `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
}

// AcceptBatch implements wagate.BatchAccepter: one transaction for the
// whole batch, the workspace's row locked first. Each item runs the same
// checks and writes as Accept (acceptMessage), in order, against the
// balance the items before it left, and gets its attempt.
func (db *DB) AcceptBatch(ctx context.Context, b *wagate.AcceptBatch) (*wagate.BatchResult, error) {
	if len(b.Refused) != len(b.Items) {
		return nil, wagate.Errorf(wagate.EINTERNAL, "store: AcceptBatch needs one Refused entry per item")
	}
	now := db.now()
	var res *wagate.BatchResult
	err := db.update(ctx, "accept batch", func(ptx pgx.Tx) error {
		res = nil
		tx := newAcceptTx(ptx)
		lw, err := tx.lockWorkspace(ctx, b.WorkspaceID)
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return wagate.ErrWebhookNotFound()
		}
		if err != nil {
			return err
		}
		ws := lw.ws
		if b.InboundToken != "" && subtle.ConstantTimeCompare([]byte(b.InboundToken), []byte(ws.Webhook.Token)) != 1 {
			return wagate.ErrWebhookNotFound()
		}
		if b.InboundToken != "" && !ws.Webhook.Enabled {
			return wagate.ErrWebhookDisabled()
		}
		if err := pruneIdempotency(ctx, tx, now, idempotencyPruneMax); err != nil {
			return err
		}
		if b.IdempotencyKey != "" {
			first, err := findBatch(ctx, tx, ws.ID, b.IdempotencyKey, b.BodyHash, now)
			if err != nil || first != nil {
				res = first
				return err
			}
		}
		out := &wagate.BatchResult{Items: make([]wagate.BatchItem, len(b.Items))}
		recs := make([]batchItemRecord, len(b.Items))
		var queued []wagate.AccountRef // for the batch's one NOTIFY (notify.go)
		for i, a := range b.Items {
			var (
				r       *wagate.AcceptResult
				refused = b.Refused[i]
			)
			if refused == nil {
				item := *a
				item.IdempotencyKey, item.InboundToken = "", "" // the batch's, checked above
				item.Source = wagate.SourceInbound
				r, refused, err = db.acceptMessage(ctx, tx, lw, &item, now) // the next item is charged from its balance
				if err != nil {
					return err
				}
			}
			att, phone := acceptAttempt(a.Attempt, r, refused, now), ""
			if r != nil {
				phone = r.Message.AccountPhone
			}
			if err := tx.putAttempt(ctx, lw, att, phone, change{source: wagate.SourceInbound, at: att.At}); err != nil {
				return err
			}
			if refused != nil {
				recs[i].Code, recs[i].Message = wagate.ErrorCode(refused), wagate.ErrorMessage(refused)
			} else {
				recs[i].MessageID, recs[i].Credits = r.Message.ID, r.Message.Credits
				queued = append(queued, r.Message.Account())
			}
			out.Items[i] = wagate.BatchItem(recs[i])
		}
		if b.IdempotencyKey != "" {
			blob, err := json.Marshal(recs)
			if err != nil {
				return err
			}
			// An expired record of the key is replaced.
			tx.exec(nil, `INSERT INTO idempotency (workspace_id, key, body_hash, message_id, at, batch) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (workspace_id, key) DO UPDATE SET body_hash = excluded.body_hash, message_id = excluded.message_id, at = excluded.at, batch = excluded.batch`,
				ws.ID, b.IdempotencyKey, b.BodyHash[:], batchMarker, now, string(blob))
		}
		queueNotify(tx, queued)
		if err := tx.flush(ctx); err != nil {
			return err
		}
		res = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// ReplayBatch implements wagate.BatchAccepter.
func (db *DB) ReplayBatch(ctx context.Context, workspaceID, key string, bodyHash [32]byte) (*wagate.BatchResult, error) {
	var res *wagate.BatchResult
	err := db.read(ctx, "replay batch", func(q querier) error {
		var err error
		res, err = findBatch(ctx, q, workspaceID, key, bodyHash, db.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// findBatch is findIdempotent for a batch's key: the first results (with
// Replayed set), EIDEMPOTENCY for another body or a key first used by a
// single request, and neither when the key is new or its record expired.
func findBatch(ctx context.Context, q querier, workspaceID, key string, bodyHash [32]byte, now time.Time) (*wagate.BatchResult, error) {
	var (
		hash, items []byte
		id          string
		at          time.Time
	)
	err := q.QueryRow(ctx, `SELECT body_hash, message_id, at, batch FROM idempotency WHERE workspace_id = $1 AND key = $2`, workspaceID, key).Scan(&hash, &id, &at, &items)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	replay, outcome := (&wagate.IdempotencyRecord{BodyHash: hash, At: at, Batch: id == batchMarker}).Replays(key, true, bodyHash, now)
	switch {
	case outcome != nil:
		return nil, outcome
	case !replay:
		return nil, nil // expired
	}
	var recs []batchItemRecord
	if err := json.Unmarshal(items, &recs); err != nil {
		return nil, fmt.Errorf("idempotency key %q: batch results: %w", key, err)
	}
	res := &wagate.BatchResult{Items: make([]wagate.BatchItem, len(recs)), Replayed: true}
	for i, r := range recs {
		res.Items[i] = wagate.BatchItem(r)
	}
	return res, nil
}
