package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// limits are the operator's limits per workspace (SPEC §4). They are
// checked inside the write that would go past them, so two creates racing
// for the last place cannot both win.
type limits struct {
	maxAccounts int // 0: no limit
	maxChats    int // 0: no limit
}

// checkAccounts refuses one more account in the workspace when it has
// maxAccounts already. Creating an account is rare, so it counts the
// workspace's keys in the accounts bucket, stopping at the limit.
func (l limits) checkAccounts(tx *bolt.Tx, workspaceID string) error {
	if l.maxAccounts <= 0 {
		return nil
	}
	prefix := join(workspaceID, "")
	n := 0
	c := bucket(tx, bucketAccounts).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if n++; n >= l.maxAccounts {
			return wagate.ErrAccountLimit(n, l.maxAccounts)
		}
	}
	return nil
}

// checkChats refuses one more chat in the workspace when it has maxChats
// already. It runs on the accept path (a send to a new phone or JID makes
// a chat), so it must not scan: chat ids are the workspace's chats bucket
// sequence, from 1, and chats are never deleted, so the sequence is the
// number of chats. (Should chats ever be deleted, keep a count in the
// workspace record instead.)
func (l limits) checkChats(tx *bolt.Tx, workspaceID string) error {
	if l.maxChats <= 0 {
		return nil
	}
	var n uint64
	if b := bucket(tx, bucketChats).Bucket([]byte(workspaceID)); b != nil {
		n = b.Sequence()
	}
	if n >= uint64(l.maxChats) {
		return wagate.ErrChatLimit(int64(n), l.maxChats)
	}
	return nil
}
