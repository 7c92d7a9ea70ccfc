package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// waitScanMax bounds how many queue entries waitingFor reads per account.
// A retrying message sits near the front of its queue (the sender takes
// messages in queue order, and a retry keeps its place), so the walk finds
// it early; past this many entries of a huge backlog, waiting_for is left
// out rather than make one read of the API slow.
const waitScanMax = 10_000

// waitingFor works out, at read time, which of recs (any status) wait
// behind an earlier message to the same recipient whose retry is due after
// now: Queue.Next's order rule seen from the waiting message. It returns
// message id -> the id of the first such message in queue order. Only
// queued messages cost anything: one walk of the front of each account's
// queue that recs touch, up to the furthest of them.
func waitingFor(tx *bolt.Tx, recs []*messageRecord, now time.Time) (map[string]string, error) {
	upto := map[wagate.AccountRef]uint64{}
	for _, m := range recs {
		if m.Status == wagate.StatusQueued && m.QueueSeq != 0 {
			ref := wagate.AccountRef{WorkspaceID: m.WorkspaceID, Phone: m.AccountPhone}
			upto[ref] = max(upto[ref], m.QueueSeq)
		}
	}
	if len(upto) == 0 {
		return nil, nil
	}
	type blocker struct {
		seq uint64
		id  string
	}
	first := map[wagate.AccountRef]map[string]blocker{} // per account: JID -> first retrying message
	for ref, last := range upto {
		q := bucket(tx, bucketQueues).Bucket(join(ref.WorkspaceID, ref.Phone))
		if q == nil {
			continue
		}
		byJID := map[string]blocker{}
		first[ref] = byJID
		c := q.Cursor()
		n := 0
		for k, v := c.First(); k != nil && n < waitScanMax; k, v = c.Next() {
			n++
			seq, err := seqOf(k)
			if err != nil || seq >= last {
				break
			}
			m, err := getMessage(tx, string(v))
			if err != nil {
				return nil, err
			}
			if m == nil || !queuedAt(m, ref, k) || !m.NextTryAt.After(now) {
				continue
			}
			if _, ok := byJID[m.JID]; !ok {
				byJID[m.JID] = blocker{seq: seq, id: m.ID}
			}
		}
	}
	out := map[string]string{}
	for _, m := range recs {
		if m.Status != wagate.StatusQueued || m.QueueSeq == 0 {
			continue
		}
		b, ok := first[wagate.AccountRef{WorkspaceID: m.WorkspaceID, Phone: m.AccountPhone}][m.JID]
		if ok && b.seq < m.QueueSeq {
			out[m.ID] = b.id
		}
	}
	return out, nil
}

// CancelMessage cancels a queued message of the workspace; see
// wagate.MessageService. It goes through fail, the one refund path, in one
// group commit: the message becomes failed with wagate.ErrorCancelled and
// a cancelled try, leaves its queue and gets its credits back. The sender
// may hold the message in its plan (its file downloaded, its worker parked
// until its turn): MarkSending, which must come before any send, refuses
// it then, since it is no longer queued.
func (db *DB) CancelMessage(ctx context.Context, workspaceID, id, source string, at time.Time) (*wagate.Message, error) {
	at = orNow(at, db.now())
	ch := db.change(source, at)
	var out *wagate.Message
	err := db.batch(ctx, "cancel message", func(tx *bolt.Tx) (error, error) {
		out = nil
		m, err := getMessage(tx, id)
		if err != nil {
			return nil, err
		}
		if m == nil || m.WorkspaceID != workspaceID {
			return wagate.ErrMessageNotInWorkspace(id), nil
		}
		if err := wagate.CheckCancel(id, m.Status, m.Error); err != nil {
			return err, nil
		}
		try := wagate.CancelledTry(at)
		m.Tries = append(m.Tries, tryRecord(try))
		m.Error = try.Error
		m.NextTryAt = time.Time{}
		if err := fail(tx, m, ch); err != nil {
			return nil, err
		}
		out = m.domain()
		return nil, nil
	})
	return out, err
}
