package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

// Audit checks the store's invariants and returns one human-readable line
// per problem (none when all is well); the error is for a store that cannot
// be read at all. It is what `wagate check` runs on a stopped server:
//   - bbolt's own consistency check (pages, freelist);
//   - per workspace, credits add up: granted == balance + credits of the
//     messages queued, sending or sent (those sent and since deleted by
//     retention included, from their counter: retain.go), and the balance
//     is not negative;
//   - every queue entry points at a queued message of that account at that
//     position, and every queued message has its queue entry;
//   - the sending index and the messages in sending match;
//   - each workspace's inbound token is indexed, and each index entry
//     points at the workspace whose token it is.
//   - each workspace token is indexed under its workspace and id, and
//     each console session's index entries match it (auditTokens).
//   - each workspace's subscriptions match its endpoints, and each
//     endpoint's outbox is whole: every pending delivery has its due
//     entry and every finished one its entry, and the counts are right
//     (auditOutbox).
//
// It reads everything in one read transaction, so it sees one consistent
// state even while a server writes, but it is meant for a stopped server.
func (db *DB) Audit(ctx context.Context) ([]string, error) {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	err := db.view(ctx, "audit", func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			report("bbolt: %v", err)
		}
		// A store opened read-only was not completed on the way in: a
		// missing bucket is a finding, and the checks below need them all.
		missing := false
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil && !addedByOpen(name) {
				report("bucket %q is missing: this is not a complete wagate store", name)
				missing = true
			}
		}
		if missing {
			return nil
		}
		if v := tx.Bucket(bucketMeta).Get(keySchema); len(v) != 8 || binary.BigEndian.Uint64(v) > SchemaVersion {
			report("schema version %x is not one this wagate understands (%d)", v, SchemaVersion)
		}
		return audit(tx, report)
	})
	return problems, err
}

func audit(tx *bolt.Tx, report func(format string, args ...any)) error {
	// Workspaces and their inbound tokens.
	workspaces := map[string]*workspaceRecord{}
	if err := bucket(tx, bucketWorkspaces).ForEach(func(k, v []byte) error {
		var rec workspaceRecord
		if err := decode(k, v, &rec); err != nil {
			report("workspace %q: %v", k, err)
			return nil
		}
		workspaces[string(k)] = &rec
		h := wagate.HashToken(rec.Token)
		if id := bucket(tx, bucketInbound).Get(h[:]); string(id) != rec.ID {
			report("workspace %s: its inbound token is not indexed", rec.ID)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := bucket(tx, bucketInbound).ForEach(func(k, v []byte) error {
		ws := workspaces[string(v)]
		if ws == nil {
			report("inbound token index points at unknown workspace %q", v)
			return nil
		}
		if h := wagate.HashToken(ws.Token); string(h[:]) != string(k) {
			report("workspace %s: an old inbound token is still indexed", ws.ID)
		}
		return nil
	}); err != nil {
		return err
	}

	// Messages: credits held per workspace, and their queue and sending
	// index entries.
	held := map[string]int64{}
	heldFor := map[string]int{} // queued messages a careful-sending rule holds, by reason
	queues := bucket(tx, bucketQueues)
	sending := bucket(tx, bucketSending)
	if err := bucket(tx, bucketMessages).ForEach(func(k, v []byte) error {
		var m messageRecord
		if err := decode(k, v, &m); err != nil {
			report("message %q: %v", k, err)
			return nil
		}
		if workspaces[m.WorkspaceID] == nil {
			report("message %s: unknown workspace %q", m.ID, m.WorkspaceID)
		}
		if m.holdsCredits() {
			held[m.WorkspaceID] += m.Credits
		}
		if m.WaitingReason != "" && m.Status == wagate.StatusQueued {
			heldFor[m.WaitingReason]++
		}
		switch m.Status {
		case wagate.StatusQueued:
			q := queues.Bucket(join(m.WorkspaceID, m.AccountPhone))
			if m.scheduled() {
				if s := bucket(tx, bucketScheduled).Bucket(join(m.WorkspaceID, m.AccountPhone)); s == nil || s.Get(timeKey(m.SendAt, m.ID)) == nil {
					report("message %s is scheduled but not in its account's schedule index (account %s)", m.ID, m.AccountPhone)
				}
			} else if q == nil || m.QueueSeq == 0 || string(q.Get(u64(m.QueueSeq))) != m.ID {
				report("message %s is queued but has no queue entry (account %s)", m.ID, m.AccountPhone)
			}
		case wagate.StatusSending:
			if sending.Get([]byte(m.ID)) == nil {
				report("message %s is sending but not in the sending index", m.ID)
			}
		case wagate.StatusSent, wagate.StatusFailed:
		default:
			report("message %s has unknown status %q", m.ID, m.Status)
		}
		return nil
	}); err != nil {
		return err
	}
	ids := make([]string, 0, len(workspaces))
	for id := range workspaces {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ws := workspaces[id]
		if ws.Balance < 0 {
			report("workspace %s: negative balance %d", id, ws.Balance)
		}
		// Sent messages that retention deleted still spent their credits
		// (retain.go keeps their sum).
		if err := quota.Check(ws.Granted, ws.Balance, held[id]+prunedCredits(tx, id)); err != nil {
			report("workspace %s: %v", id, err)
		}
	}

	// Queue entries and the sending index, from their side.
	if err := queues.ForEachBucket(func(name []byte) error {
		parts := split(name)
		if len(parts) != 2 {
			report("queue %q: malformed name", name)
			return nil
		}
		ref := wagate.AccountRef{WorkspaceID: parts[0], Phone: parts[1]}
		return queues.Bucket(name).ForEach(func(k, v []byte) error {
			m, err := getMessage(tx, string(v))
			if err != nil {
				report("queue of %s %s: %v", ref.WorkspaceID, ref.Phone, err)
				return nil
			}
			switch {
			case m == nil:
				report("queue of %s %s: entry %x points at missing message %s", ref.WorkspaceID, ref.Phone, k, v)
			case !queuedAt(m, ref, k):
				report("queue of %s %s: entry %x points at message %s, which is %s", ref.WorkspaceID, ref.Phone, k, v, describeQueued(m))
			}
			return nil
		})
	}); err != nil {
		return err
	}
	for _, reason := range []string{wagate.WaitingDailyLimit, wagate.WaitingQuietHours} {
		var n int
		if v := bucket(tx, bucketMeta).Get(waitingKey(reason)); len(v) == 8 {
			n = int(binary.BigEndian.Uint64(v))
		}
		if n != heldFor[reason] {
			report("%d messages are held for %s but the count says %d", heldFor[reason], reason, n)
		}
	}
	sched := bucket(tx, bucketScheduled)
	if err := sched.ForEachBucket(func(name []byte) error {
		return sched.Bucket(name).ForEach(func(k, _ []byte) error {
			if len(k) <= 8 {
				report("schedule of %q: malformed entry %x", name, k)
				return nil
			}
			m, err := getMessage(tx, string(k[8:]))
			switch {
			case err != nil:
				report("schedule of %q: %v", name, err)
			case m == nil:
				report("schedule of %q: entry points at missing message %s", name, k[8:])
			case !m.scheduled() || !m.SendAt.Equal(keyTime(k)) || !bytes.Equal(join(m.WorkspaceID, m.AccountPhone), name):
				report("schedule of %q: entry points at message %s, which is %s", name, m.ID, describeQueued(m))
			}
			return nil
		})
	}); err != nil {
		return err
	}
	if err := auditTokens(tx, report); err != nil {
		return err
	}
	if err := auditOutbox(tx, report); err != nil {
		return err
	}
	return sending.ForEach(func(k, _ []byte) error {
		m, err := getMessage(tx, string(k))
		switch {
		case err != nil:
			report("sending index: %v", err)
		case m == nil:
			report("sending index: message %s is missing", k)
		case m.Status != wagate.StatusSending:
			report("sending index: message %s is %s, not sending", k, m.Status)
		}
		return nil
	})
}

// describeQueued says why a queue entry does not match its message.
func describeQueued(m *messageRecord) string {
	if m.Status != wagate.StatusQueued {
		return string(m.Status)
	}
	return fmt.Sprintf("queued elsewhere (account %s, position %d)", m.AccountPhone, m.QueueSeq)
}
