package store

import (
	"bytes"
	"context"
	"encoding/base64"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Pages of lists that grow (SPEC §4: messages and chats take limit and
// cursor and answer next_cursor).
//
// A cursor is the base64url (no padding) of the 8-byte key of the last item
// a page returned: the sequence key in ws_messages for messages, the chat
// id for chats. The next page starts strictly past that key, so an item is
// never returned twice, and one deleted meanwhile (retention) does not
// break the walk: Seek lands on its neighbour.

// pageScanMax bounds how many entries one page reads. A filter that few
// items match (status=sending in a long history) would otherwise read the
// whole list inside one read transaction; instead the page ends early,
// perhaps with fewer than limit items, and next names where to go on.
const pageScanMax = 10_000

// encodeCursor returns the cursor of a key.
func encodeCursor(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

// decodeCursor reads a cursor; "" is nil (the first page). Anything that is
// not a cursor encodeCursor made is EINVALID naming the field.
func decodeCursor(cursor string) ([]byte, error) {
	if cursor == "" {
		return nil, nil
	}
	k, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(k) != 8 {
		return nil, wagate.Errorf(wagate.EINVALID, "cursor %q is not a cursor of this list; pass the next_cursor of the previous page as it is, or leave cursor out for the first page", cutUTF8(cursor, 40))
	}
	return k, nil
}

// PageMessages returns a page of a workspace's messages, newest first; see
// wagate.MessageService. ENOTFOUND for an unknown workspace, EINVALID for
// an unknown status or a bad cursor.
func (db *DB) PageMessages(ctx context.Context, workspaceID string, status wagate.MessageStatus, limit int, cursor string) ([]*wagate.Message, string, error) {
	if err := wagate.CheckStatusFilter(status); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	now := db.now()
	var (
		list []*wagate.Message
		next string
	)
	err = db.view(ctx, "page messages", func(tx *bolt.Tx) error {
		list, next = nil, ""
		if _, err := mustWorkspace(tx, workspaceID); err != nil {
			return err
		}
		b := bucket(tx, bucketWsMessages).Bucket([]byte(workspaceID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if after == nil {
			k, v = c.Last()
		} else if k, _ = c.Seek(after); k == nil {
			k, v = c.Last() // every key is before the cursor
		} else {
			k, v = c.Prev() // the largest key before the cursor
		}
		var (
			recs []*messageRecord
			last []byte // key of the last item taken
		)
		for scanned := 0; k != nil; k, v = c.Prev() {
			rec, err := getMessage(tx, string(v))
			if err != nil {
				return err
			}
			if rec != nil && (status == "" || rec.Status == status) {
				if len(recs) == limit {
					next = encodeCursor(last) // one more exists: a next page
					break
				}
				recs = append(recs, rec)
				last = copyBytes(k)
			}
			if scanned++; scanned >= pageScanMax {
				if pk, _ := c.Prev(); pk != nil {
					next = encodeCursor(k) // the budget ended the page, not the list
				}
				break
			}
		}
		waiting, err := waitingFor(tx, recs, now)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			m := rec.domain()
			m.WaitingFor = waiting[rec.ID]
			list = append(list, m)
		}
		return nil
	})
	return list, next, err
}

// PageChats returns a page of a workspace's chats by id; see
// wagate.ChatService. ENOTFOUND for an unknown workspace, EINVALID for a
// bad cursor.
func (db *DB) PageChats(ctx context.Context, workspaceID, name string, limit int, cursor string) ([]*wagate.Chat, string, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var (
		list []*wagate.Chat
		next string
	)
	err = db.view(ctx, "page chats", func(tx *bolt.Tx) error {
		list, next = nil, ""
		if _, err := mustWorkspace(tx, workspaceID); err != nil {
			return err
		}
		b := bucket(tx, bucketChats).Bucket([]byte(workspaceID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if after == nil {
			k, v = c.First()
		} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
		var last []byte
		for scanned := 0; k != nil; k, v = c.Next() {
			var rec chatRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			if name == "" || rec.Name == name {
				if len(list) == limit {
					next = encodeCursor(last)
					break
				}
				list = append(list, rec.domain(workspaceID))
				last = copyBytes(k)
			}
			if scanned++; scanned >= pageScanMax {
				if nk, _ := c.Next(); nk != nil {
					next = encodeCursor(k)
				}
				break
			}
		}
		return nil
	})
	return list, next, err
}
