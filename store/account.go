package store

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

// ErrorAccountDeleted is the error of the queued messages failed by
// DeleteAccount.
const ErrorAccountDeleted = wagate.ErrorAccountDeleted

// CreateAccount stores a (settings included); a zero ConnectedAt is set to
// now. ENOTFOUND for an unknown workspace, ECONFLICT if the workspace
// already has the phone or has Options.MaxAccounts accounts.
func (db *DB) CreateAccount(ctx context.Context, a *wagate.Account) error {
	if err := wagate.CheckAccountPhone(a.Phone); err != nil {
		return err
	}
	rec := newAccountRecord(a)
	rec.ConnectedAt = orNow(a.ConnectedAt, db.now())
	err := db.update(ctx, "create account", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, a.WorkspaceID); err != nil {
			return err
		}
		b := bucket(tx, bucketAccounts)
		key := join(a.WorkspaceID, a.Phone)
		if b.Get(key) != nil {
			return wagate.ErrAccountTaken(a.Phone)
		}
		if err := db.limits.checkAccounts(tx, a.WorkspaceID); err != nil {
			return err
		}
		return put(b, key, rec)
	})
	if err == nil {
		a.ConnectedAt = rec.ConnectedAt
	}
	return err
}

// FindAccount returns one account or ENOTFOUND.
func (db *DB) FindAccount(ctx context.Context, ref wagate.AccountRef) (*wagate.Account, error) {
	var a *wagate.Account
	err := db.view(ctx, "find account", func(tx *bolt.Tx) error {
		rec, err := mustAccount(tx, ref)
		if err != nil {
			return err
		}
		a = rec.domain(ref.WorkspaceID)
		return nil
	})
	return a, err
}

// Account is FindAccount for the sender (sender.Queue): the transport and
// settings of the account a queue belongs to, or ENOTFOUND once deleted.
func (db *DB) Account(ctx context.Context, ref wagate.AccountRef) (*wagate.Account, error) {
	return db.FindAccount(ctx, ref)
}

// ListAccounts returns a workspace's accounts, most recently connected
// first (the default sender of an inbound request is the first active one),
// or ENOTFOUND for an unknown workspace.
func (db *DB) ListAccounts(ctx context.Context, workspaceID string) ([]*wagate.Account, error) {
	var list []*wagate.Account
	err := db.view(ctx, "list accounts", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, workspaceID); err != nil {
			return err
		}
		var err error
		list, err = listAccounts(tx, workspaceID)
		return err
	})
	return list, err
}

// listAccounts reads the accounts of a workspace, most recently connected
// first, ties by phone.
func listAccounts(tx *bolt.Tx, workspaceID string) ([]*wagate.Account, error) {
	var list []*wagate.Account
	prefix := join(workspaceID, "")
	c := bucket(tx, bucketAccounts).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var rec accountRecord
		if err := decode(k, v, &rec); err != nil {
			return nil, err
		}
		list = append(list, rec.domain(workspaceID))
	}
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].ConnectedAt.Equal(list[j].ConnectedAt) {
			return list[i].ConnectedAt.After(list[j].ConnectedAt)
		}
		return list[i].Phone < list[j].Phone
	})
	return list, nil
}

// SetAccountActive switches an account on or off. An inactive account's
// queue is kept; Accept refuses new messages for it.
func (db *DB) SetAccountActive(ctx context.Context, ref wagate.AccountRef, active bool) (*wagate.Account, error) {
	var a *wagate.Account
	err := db.update(ctx, "set account active", func(tx *bolt.Tx) error {
		rec, err := mustAccount(tx, ref)
		if err != nil {
			return err
		}
		rec.Active = active
		if err := put(bucket(tx, bucketAccounts), join(ref.WorkspaceID, ref.Phone), rec); err != nil {
			return err
		}
		a = rec.domain(ref.WorkspaceID)
		return nil
	})
	return a, err
}

// UpdateAccount applies edit to the account in one write: edit sees the
// stored account and changes it (Active, Rules; other fields are kept as
// stored), or returns an error that is passed on with nothing written. So
// two owners changing different rules at once both keep their change.
// When the rules change, the holds of the old rules end in the same write
// (releaseHolds): the sender asks the new rules at once, instead of the
// messages waiting out a limit the owner just lifted. ENOTFOUND for an
// unknown account.
func (db *DB) UpdateAccount(ctx context.Context, ref wagate.AccountRef, edit func(*wagate.Account) error) (*wagate.Account, error) {
	var a *wagate.Account
	err := db.update(ctx, "update account", func(tx *bolt.Tx) error {
		rec, err := mustAccount(tx, ref)
		if err != nil {
			return err
		}
		cur := rec.domain(ref.WorkspaceID)
		if err := edit(cur); err != nil {
			return err
		}
		changed := rec.Rules != cur.Rules
		rec.Active, rec.Rules = cur.Active, cur.Rules
		if err := put(bucket(tx, bucketAccounts), join(ref.WorkspaceID, ref.Phone), rec); err != nil {
			return err
		}
		if changed {
			if err := releaseHolds(tx, ref, db.change(wagate.SourceSystem, db.now())); err != nil {
				return err
			}
		}
		a = rec.domain(ref.WorkspaceID)
		return nil
	})
	return a, err
}

// DeleteAccount removes the account and, in the same commit, fails each of
// its queued messages (error ErrorAccountDeleted, with a failed try at at)
// with a refund and drops its queue: credits are never held by messages
// that can no longer be sent. Messages the sender is sending right now are
// left to it. The chats stay, so their ids keep resolving to a clear error.
// The failed messages' events carry source (who deleted the account), so an
// endpoint filtered on "api" or "console" gets them.
func (db *DB) DeleteAccount(ctx context.Context, ref wagate.AccountRef, source string, at time.Time) error {
	at = orNow(at, db.now())
	ch := db.change(source, at)
	return db.update(ctx, "delete account", func(tx *bolt.Tx) error {
		if _, err := mustAccount(tx, ref); err != nil {
			return err
		}
		qkey := join(ref.WorkspaceID, ref.Phone)
		if q := bucket(tx, bucketQueues).Bucket(qkey); q != nil {
			var ids []string
			if err := q.ForEach(func(_, v []byte) error {
				ids = append(ids, string(v))
				return nil
			}); err != nil {
				return err
			}
			for _, id := range ids {
				m, err := getMessage(tx, id)
				if err != nil {
					return err
				}
				if m == nil || m.Status != wagate.StatusQueued {
					continue // a stale entry; the bucket goes anyway
				}
				// Not a send, but the try records when and why it failed.
				try := wagate.DeleteAccountTry(at)
				m.Tries = append(m.Tries, tryRecord(try))
				m.Error = try.Error
				if err := fail(tx, m, ch); err != nil {
					return err
				}
			}
			if err := bucket(tx, bucketQueues).DeleteBucket(qkey); err != nil {
				return err
			}
		}
		if err := failScheduled(tx, qkey, at, ch); err != nil {
			return err
		}
		return bucket(tx, bucketAccounts).Delete(qkey)
	})
}

// getAccount returns the account record or nil.
func getAccount(tx *bolt.Tx, ref wagate.AccountRef) (*accountRecord, error) {
	var rec accountRecord
	ok, err := get(bucket(tx, bucketAccounts), join(ref.WorkspaceID, ref.Phone), &rec)
	if !ok || err != nil {
		return nil, err
	}
	return &rec, nil
}

// mustAccount is getAccount with ENOTFOUND for a missing account.
func mustAccount(tx *bolt.Tx, ref wagate.AccountRef) (*accountRecord, error) {
	rec, err := getAccount(tx, ref)
	if err == nil && rec == nil {
		err = wagate.Errorf(wagate.ENOTFOUND, "account %s not found in this workspace", ref.Phone)
	}
	return rec, err
}

// fail sets a message (queued or sending) failed with its current Error,
// takes it out of the queue and of the sending index, and refunds its
// credits: the one place where credits come back, so every path refunds
// exactly once (callers never call it for a failed message). Its event
// (message.failed or .cancelled, with the refund) is written as ch says.
func fail(tx *bolt.Tx, m *messageRecord, ch change) error {
	if err := unqueue(tx, m); err != nil {
		return err
	}
	if err := bucket(tx, bucketSending).Delete([]byte(m.ID)); err != nil {
		return err
	}
	m.Status = wagate.StatusFailed
	if err := putMessage(tx, m, ch); err != nil {
		return err
	}
	ws, err := getWorkspace(tx, m.WorkspaceID)
	if err != nil || ws == nil {
		return err // workspaces are never deleted; the audit reports it
	}
	ws.Balance = quota.Refund(ws.Balance, m.Credits)
	return putWorkspace(tx, ws)
}

// CreateChat assigns c.ID, the next id of the workspace (from 1), and
// stores c. EINVALID when the account is not in the workspace, ECONFLICT if
// the account already has a chat with c.JID or the workspace has
// Options.MaxChats chats.
func (db *DB) CreateChat(ctx context.Context, c *wagate.Chat) error {
	if c.JID == "" || strings.ContainsRune(c.JID, 0) {
		return wagate.ErrChatNeedsJID()
	}
	rec := newChatRecord(c)
	rec.CreatedAt = orNow(c.CreatedAt, db.now())
	err := db.update(ctx, "create chat", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, c.WorkspaceID); err != nil {
			return err
		}
		acct, err := getAccount(tx, wagate.AccountRef{WorkspaceID: c.WorkspaceID, Phone: c.AccountPhone})
		if err != nil {
			return err
		}
		if acct == nil {
			return wagate.ErrAccountNotInWorkspace(c.AccountPhone)
		}
		if id, err := findChatID(tx, c.WorkspaceID, c.AccountPhone, c.JID); err != nil {
			return err
		} else if id != 0 {
			return wagate.ErrChatTaken(c.AccountPhone, c.JID, id)
		}
		if err := db.limits.checkChats(tx, c.WorkspaceID); err != nil {
			return err
		}
		return createChat(tx, c.WorkspaceID, rec)
	})
	if err == nil {
		c.ID = rec.ID
		c.CreatedAt = rec.CreatedAt
	}
	return err
}

// createChat numbers and stores a chat and its (account, JID) index entry.
// The caller has checked that the pair is new.
func createChat(tx *bolt.Tx, workspaceID string, rec *chatRecord) error {
	b, err := bucket(tx, bucketChats).CreateBucketIfNotExists([]byte(workspaceID))
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	rec.ID = int64(seq)
	if err := put(b, u64(seq), rec); err != nil {
		return err
	}
	return bucket(tx, bucketChatJIDs).Put(join(workspaceID, rec.AccountPhone, rec.JID), u64(seq))
}

// findChatID returns the id of the account's chat with jid, or 0.
func findChatID(tx *bolt.Tx, workspaceID, phone, jid string) (int64, error) {
	v := bucket(tx, bucketChatJIDs).Get(join(workspaceID, phone, jid))
	if v == nil {
		return 0, nil
	}
	id, err := seqOf(v)
	return int64(id), err
}

// getChat returns the chat record or nil.
func getChat(tx *bolt.Tx, workspaceID string, id int64) (*chatRecord, error) {
	b := bucket(tx, bucketChats).Bucket([]byte(workspaceID))
	if b == nil || id <= 0 {
		return nil, nil
	}
	var rec chatRecord
	ok, err := get(b, u64(uint64(id)), &rec)
	if !ok || err != nil {
		return nil, err
	}
	return &rec, nil
}

// FindChat returns one chat or ENOTFOUND.
func (db *DB) FindChat(ctx context.Context, workspaceID string, id int64) (*wagate.Chat, error) {
	var c *wagate.Chat
	err := db.view(ctx, "find chat", func(tx *bolt.Tx) error {
		rec, err := getChat(tx, workspaceID, id)
		if err != nil {
			return err
		}
		if rec == nil {
			return wagate.ErrChatNotFound(id)
		}
		c = rec.domain(workspaceID)
		return nil
	})
	return c, err
}

// ListChats returns a workspace's chats by id; name != "" keeps only the
// chats with exactly that name (the inbound chat_name lookup, which must
// tell "none" from "several"). ENOTFOUND for an unknown workspace.
func (db *DB) ListChats(ctx context.Context, workspaceID, name string) ([]*wagate.Chat, error) {
	var list []*wagate.Chat
	err := db.view(ctx, "list chats", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, workspaceID); err != nil {
			return err
		}
		b := bucket(tx, bucketChats).Bucket([]byte(workspaceID))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec chatRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			if name == "" || rec.Name == name {
				list = append(list, rec.domain(workspaceID))
			}
			return nil
		})
	})
	return list, err
}
