package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Wake-ups across replicas (SPEC §12): a replica that commits new queued
// messages tells the others, so the account's lease holder sends them at
// once instead of at its next poll.
//
// A commit of accepts sends ONE notification on queuedChannel for the whole
// batch (a NOTIFY per accept halved the accept rate when measured for issue
// 15), in the batch's transaction, so PostgreSQL delivers it only if the
// batch commits. Its payload lists the batch's accounts, one per line as
// "workspace<TAB>phone"; a list too long for a payload is sent empty,
// which means "any account may have work".

// queuedChannel is the LISTEN/NOTIFY channel of new queued messages.
const queuedChannel = "wagate_queued"

// maxNotifyPayload keeps a payload under PostgreSQL's 8000-byte limit.
const maxNotifyPayload = 7000

// notifyQueued sends, in tx, the one notification of the accounts refs.
// No account, no notification.
func notifyQueued(ctx context.Context, tx pgx.Tx, refs []wagate.AccountRef) error {
	if len(refs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, queuedChannel, encodeRefs(refs))
	return err
}

// queueNotify queues notifyQueued's notification for tx's flush.
func queueNotify(tx *acceptTx, refs []wagate.AccountRef) {
	if len(refs) > 0 {
		tx.exec(nil, `SELECT pg_notify($1, $2)`, queuedChannel, encodeRefs(refs))
	}
}

// encodeRefs writes each account once, or "" when they do not fit.
func encodeRefs(refs []wagate.AccountRef) string {
	var b strings.Builder
	seen := make(map[wagate.AccountRef]bool, len(refs))
	for _, r := range refs {
		if seen[r] {
			continue
		}
		seen[r] = true
		if b.Len()+len(r.WorkspaceID)+len(r.Phone)+2 > maxNotifyPayload {
			return ""
		}
		b.WriteString(r.WorkspaceID)
		b.WriteByte('\t')
		b.WriteString(r.Phone)
		b.WriteByte('\n')
	}
	return b.String()
}

// decodeRefs reads a payload of encodeRefs; nil means "any account".
func decodeRefs(payload string) []wagate.AccountRef {
	var refs []wagate.AccountRef
	for line := range strings.Lines(payload) {
		ws, phone, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if ok && ws != "" && phone != "" {
			refs = append(refs, wagate.AccountRef{WorkspaceID: ws, Phone: phone})
		}
	}
	return refs
}

// acceptedRefs are the accounts of the messages a batch queued: replays
// and refused requests queue nothing.
func acceptedRefs(runs []acceptRun) []wagate.AccountRef {
	var refs []wagate.AccountRef
	for _, r := range runs {
		if r.outcome == nil && r.res != nil && !r.res.Replayed && r.res.Message != nil {
			refs = append(refs, r.res.Message.Account())
		}
	}
	return refs
}

// listenRetry bounds the pause before Listen connects again.
const (
	listenRetryMin = 500 * time.Millisecond
	listenRetryMax = 30 * time.Second
)

// Listen calls wake with the accounts of every committed batch of new
// queued messages, from any replica (this one included), until ctx ends;
// it returns nil then. It holds a connection of its own, outside the pool.
// Right after it starts listening, and again after each reconnection,
// it calls wake(nil): notifications sent while it was not listening are
// lost, so any account may have work. A lost connection is logged and
// made again with backoff; Listen never gives up while ctx lasts.
func (db *DB) Listen(ctx context.Context, wake func([]wagate.AccountRef)) error {
	return db.listen(ctx, queuedChannel, func(payload string) {
		refs := decodeRefs(payload)
		if len(refs) == 0 {
			refs = nil
		}
		wake(refs)
	}, func() { wake(nil) })
}

// listen calls heard with the payload of every notification on channel,
// and started right after it starts listening and after each
// reconnection, until ctx ends (see Listen).
func (db *DB) listen(ctx context.Context, channel string, heard func(payload string), started func()) error {
	cfg := db.pool.Config().ConnConfig.Copy()
	pause := listenRetryMin
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, cfg, channel, heard, func() { pause = listenRetryMin; started() })
		if ctx.Err() != nil {
			break
		}
		db.log.Warn("lost the wake-up channel of the other replicas; listening again", zap.String("channel", channel), zap.Error(err), zap.Duration("in", pause))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		pause = min(2*pause, listenRetryMax)
	}
	return nil
}

// listenOnce listens on one connection until it fails or ctx ends.
func (db *DB) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, channel string, heard func(string), listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		heard(n.Payload)
	}
}
