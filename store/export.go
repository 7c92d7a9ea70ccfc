package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Export walks the whole store in one read transaction and calls yield
// with every record, as the types of wagate's export.go and in their
// order, for `wagate migrate` (SPEC §12). It reads only: run it on a
// store opened with ReadOnly, whose server is stopped. A yield error
// stops the walk and is returned as it is.
//
// The buckets that only index others (inbound, chat_jids, queues,
// scheduled, sending, the token, session and idempotency indexes,
// endpoint_subs) are not yielded: what they hold travels with the records
// (a message's queue position, an endpoint's events) or is rebuilt by the
// importer. A message that no workspace lists is refused rather than left
// behind.
func (db *DB) Export(ctx context.Context, yield func(rec any) error) error {
	if err := begin(ctx, "export"); err != nil {
		return err
	}
	return db.bolt.View(func(tx *bolt.Tx) error {
		steps := []func(*bolt.Tx, func(any) error) error{
			exportWorkspaces, exportTokens, exportSessions, exportAccounts, exportChats,
			exportTemplates, exportAccountTemplates, exportMessages, exportIdempotency,
			exportAttempts, exportSends, exportWindows, exportEndpoints, exportDeliveries,
		}
		for _, step := range steps {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := step(tx, yield); err != nil {
				return err
			}
		}
		return nil
	})
}

// forEach walks a top-level bucket that a store from an older wagate may
// lack (a read-only open creates nothing).
func forEach(tx *bolt.Tx, name []byte, fn func(k, v []byte) error) error {
	b := tx.Bucket(name)
	if b == nil {
		return nil
	}
	return b.ForEach(fn)
}

// exportWorkspaces yields the workspaces in the order they were created,
// which ListWorkspaces shows.
func exportWorkspaces(tx *bolt.Tx, yield func(any) error) error {
	var recs []*workspaceRecord
	if err := forEach(tx, bucketWorkspaces, func(k, v []byte) error {
		var rec workspaceRecord
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		recs = append(recs, &rec)
		return nil
	}); err != nil {
		return err
	}
	slices.SortStableFunc(recs, func(a, b *workspaceRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	chats := tx.Bucket(bucketChats)
	for _, rec := range recs {
		out := &wagate.ExportedWorkspace{Workspace: *rec.domain(), PrunedCredits: prunedCredits(tx, rec.ID)}
		if chats != nil {
			if b := chats.Bucket([]byte(rec.ID)); b != nil {
				out.ChatSeq = int64(b.Sequence())
			}
		}
		if err := yield(out); err != nil {
			return err
		}
	}
	return nil
}

func exportTokens(tx *bolt.Tx, yield func(any) error) error {
	return forEach(tx, bucketTokens, func(k, _ []byte) error {
		t, err := getToken(tx, k)
		if err != nil {
			return fmt.Errorf("token %x: %w", k[:min(len(k), 4)], err)
		}
		return yield(t)
	})
}

func exportSessions(tx *bolt.Tx, yield func(any) error) error {
	return forEach(tx, bucketSessions, func(k, v []byte) error {
		var rec sessionRecord
		if err := decodeRecord(v, &rec); err != nil {
			return fmt.Errorf("a console session: %w", err)
		}
		if len(k) != 32 || len(rec.TokenHash) != 32 {
			return fmt.Errorf("a console session's key or token hash is not 32 bytes")
		}
		out := &wagate.ExportedSession{Key: [32]byte(k), Session: wagate.Session{
			TokenHash: [32]byte(rec.TokenHash), WorkspaceID: rec.WorkspaceID, Role: rec.Role,
			CSRF: rec.CSRF, CreatedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt}}
		return yield(out)
	})
}

func exportAccounts(tx *bolt.Tx, yield func(any) error) error {
	return forEach(tx, bucketAccounts, func(k, v []byte) error {
		var rec accountRecord
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		return yield(rec.domain(split(k)[0]))
	})
}

func exportChats(tx *bolt.Tx, yield func(any) error) error {
	chats := tx.Bucket(bucketChats)
	if chats == nil {
		return nil
	}
	return chats.ForEachBucket(func(ws []byte) error {
		return chats.Bucket(ws).ForEach(func(k, v []byte) error {
			var rec chatRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			return yield(rec.domain(string(ws)))
		})
	})
}

func exportTemplates(tx *bolt.Tx, yield func(any) error) error {
	return forEach(tx, bucketTemplates, func(k, v []byte) error {
		var rec templateRecord
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		return yield(rec.domain(split(k)[0]))
	})
}

func exportAccountTemplates(tx *bolt.Tx, yield func(any) error) error {
	return forEach(tx, bucketAccountTemplates, func(k, v []byte) error {
		var rec accountTemplatesRecord
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		parts := split(k)
		if len(parts) != 2 {
			return fmt.Errorf("account templates key %q is not workspace and phone", k)
		}
		out := &wagate.AccountTemplates{Account: wagate.AccountRef{WorkspaceID: parts[0], Phone: parts[1]},
			SyncedAt: rec.SyncedAt, Templates: make([]wagate.ProviderTemplate, 0, len(rec.Templates))}
		for _, p := range rec.Templates {
			out.Templates = append(out.Templates, wagate.ProviderTemplate(p))
		}
		return yield(out)
	})
}

// exportMessages yields each workspace's messages in the order they were
// accepted, so a backend that orders them by insertion lists them alike.
func exportMessages(tx *bolt.Tx, yield func(any) error) (err error) {
	yielded := 0
	providerIDs := map[string]string{}
	if err := forEach(tx, bucketProviderIDs, func(k, v []byte) error {
		providerIDs[string(v)] = string(k)
		return nil
	}); err != nil {
		return err
	}
	lists := tx.Bucket(bucketWsMessages)
	if lists == nil {
		return nil
	}
	// A message no workspace lists would be left behind: refuse instead.
	defer func() {
		if n := countKeys(tx.Bucket(bucketMessages)); err == nil && n != yielded {
			err = fmt.Errorf("the store has %d messages but its workspaces list %d: run wagate check on it and repair it first", n, yielded)
		}
	}()
	return lists.ForEachBucket(func(ws []byte) error {
		return lists.Bucket(ws).ForEach(func(_, id []byte) error {
			yielded++
			rec, err := getMessage(tx, string(id))
			if err != nil {
				return err
			}
			if rec == nil {
				return fmt.Errorf("workspace %s lists message %s, which is missing: run wagate check on the store and repair it first", ws, id)
			}
			m := rec.domain()
			m.NextTryAt, m.WaitingReason = rec.NextTryAt, rec.WaitingReason
			if err := loadMessageTemplate(tx, m); err != nil {
				return err
			}
			pos := rec.QueueSeq
			if pos == 0 {
				pos = rec.Pos
			}
			return yield(&wagate.ExportedMessage{Message: *m, AccountConnectedAt: rec.AccountConnectedAt,
				QueuePos: pos, SendingAt: rec.SendingAt, ProviderID: providerIDs[rec.ID]})
		})
	})
}

func exportIdempotency(tx *bolt.Tx, yield func(any) error) error {
	batches := tx.Bucket(bucketBatches)
	return forEach(tx, bucketIdempotency, func(k, v []byte) error {
		var rec idempotencyRecord
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		ws, key, ok := bytes.Cut(k, []byte{0})
		if !ok || len(rec.BodyHash) != 32 {
			return fmt.Errorf("idempotency record %q is damaged", k)
		}
		out := &wagate.ExportedIdempotency{WorkspaceID: string(ws), Key: string(key),
			BodyHash: [32]byte(rec.BodyHash), MessageID: rec.MessageID, At: rec.At}
		if rec.MessageID == batchMarker && batches != nil {
			if blob := batches.Get(k); blob != nil {
				if err := json.Unmarshal(blob, &out.Batch); err != nil {
					return fmt.Errorf("batch results of idempotency key %q: %w", key, err)
				}
			}
		}
		return yield(out)
	})
}

func exportAttempts(tx *bolt.Tx, yield func(any) error) error {
	rings := tx.Bucket(bucketAttempts)
	if rings == nil {
		return nil
	}
	return rings.ForEachBucket(func(ws []byte) error {
		return rings.Bucket(ws).ForEach(func(k, v []byte) error {
			var rec attemptRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			return yield(&wagate.ExportedAttempt{WorkspaceID: string(ws), Attempt: *rec.domain()})
		})
	})
}

// exportSends yields the send history of every account that has one: the
// accounts of first_sends (every account that ever sent) and those with
// sends in the window.
func exportSends(tx *bolt.Tx, yield func(any) error) error {
	histories := map[string]*wagate.ExportedSends{}
	var order []string
	history := func(key []byte) (*wagate.ExportedSends, error) {
		if h := histories[string(key)]; h != nil {
			return h, nil
		}
		parts := split(key)
		if len(parts) != 2 {
			return nil, fmt.Errorf("send history key %q is not workspace and phone", key)
		}
		h := &wagate.ExportedSends{Account: wagate.AccountRef{WorkspaceID: parts[0], Phone: parts[1]}}
		histories[string(key)] = h
		order = append(order, string(key))
		return h, nil
	}
	if err := forEach(tx, bucketFirstSends, func(k, v []byte) error {
		h, err := history(k)
		if err != nil {
			return err
		}
		if len(v) == 8 {
			h.First = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		}
		return nil
	}); err != nil {
		return err
	}
	if sends := tx.Bucket(bucketSends); sends != nil {
		if err := sends.ForEachBucket(func(acct []byte) error {
			h, err := history(acct)
			if err != nil {
				return err
			}
			return sends.Bucket(acct).ForEach(func(k, _ []byte) error {
				if len(k) < 8 {
					return fmt.Errorf("a send of %q has a short key", acct)
				}
				h.Sends = append(h.Sends, wagate.ExportedSend{At: keyTime(k), MessageID: string(k[8:])})
				return nil
			})
		}); err != nil {
			return err
		}
	}
	for _, key := range order {
		if err := yield(histories[key]); err != nil {
			return err
		}
	}
	return nil
}

func exportWindows(tx *bolt.Tx, yield func(any) error) error {
	return forEach(tx, bucketChatWindows, func(k, v []byte) error {
		parts := split(k)
		if len(parts) != 3 || len(v) != 8 {
			return fmt.Errorf("chat window %q is damaged", k)
		}
		return yield(&wagate.ExportedWindow{Key: wagate.ChatKey{Transport: parts[0], Sender: parts[1], Customer: parts[2]},
			LastAt: time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()})
	})
}

func exportEndpoints(tx *bolt.Tx, yield func(any) error) error {
	return forEach(tx, bucketEndpoints, func(k, v []byte) error {
		var rec endpointRecord
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		return yield(rec.domain(split(k)[0]))
	})
}

// exportDeliveries yields each endpoint's outbox, oldest first, with the
// events the deliveries carry.
func exportDeliveries(tx *bolt.Tx, yield func(any) error) error {
	outbox := tx.Bucket(bucketOutbox)
	if outbox == nil {
		return nil
	}
	return outbox.ForEachBucket(func(k []byte) error {
		parts := split(k)
		if len(parts) != 2 {
			return fmt.Errorf("outbox %q is not workspace and endpoint", k)
		}
		ref := wagate.EndpointRef{WorkspaceID: parts[0], ID: parts[1]}
		c := outbox.Bucket(k).Cursor()
		prefix := []byte{prefixDelivery}
		for dk, v := c.Seek(prefix); dk != nil && bytes.HasPrefix(dk, prefix); dk, v = c.Next() {
			var rec deliveryRecord
			if err := decode(dk, v, &rec); err != nil {
				return err
			}
			out := &wagate.ExportedDelivery{Delivery: *rec.domain(ref)}
			if rec.Event != nil {
				out.Event = rec.Event.domain()
			}
			if err := yield(out); err != nil {
				return err
			}
		}
		return nil
	})
}
