package postgres

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// DefaultListLimit is the page size when a caller passes 0 or less (as
// store.DefaultListLimit).
const DefaultListLimit = 100

// chatColumns are read by scanChat, in its order.
const chatColumns = `workspace_id, id, account_phone, jid, name, is_group, created_at`

func scanChat(row pgx.Row) (*wagate.Chat, error) {
	var c wagate.Chat
	err := row.Scan(&c.WorkspaceID, &c.ID, &c.AccountPhone, &c.JID, &c.Name, &c.Group, &c.CreatedAt)
	return &c, err
}

func collectChats(rows pgx.Rows, err error) ([]*wagate.Chat, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Chat, error) { return scanChat(r) })
}

// CreateChat assigns c.ID, the next id of the workspace (from 1), and
// stores c. EINVALID when the account is not in the workspace, ECONFLICT if
// the account already has a chat with c.JID or the workspace has
// Options.MaxChats chats.
func (db *DB) CreateChat(ctx context.Context, c *wagate.Chat) error {
	if c.JID == "" || strings.ContainsRune(c.JID, 0) {
		return wagate.ErrChatNeedsJID()
	}
	created := orNow(c.CreatedAt, db.now())
	var id int64
	err := db.update(ctx, "create chat", func(tx pgx.Tx) error {
		var err error
		id, err = db.createChat(ctx, tx, c, created)
		return err
	})
	if err == nil {
		c.ID, c.CreatedAt = id, created
	}
	return err
}

// createChat checks and stores a chat in tx and returns its id. It locks
// the workspace's row to take the next chat id, which serialises the
// creates of one workspace: the (account, JID) check and the --max-chats
// check cannot race. The accept path will call it for a send to a new JID.
func (db *DB) createChat(ctx context.Context, tx pgx.Tx, c *wagate.Chat, created time.Time) (int64, error) {
	var seq int64
	err := tx.QueryRow(ctx, `SELECT chat_seq FROM workspaces WHERE id = $1 FOR UPDATE`, c.WorkspaceID).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, wagate.ErrWorkspaceNotFound(c.WorkspaceID)
	}
	if err != nil {
		return 0, err
	}
	if _, err := findAccount(ctx, tx, wagate.AccountRef{WorkspaceID: c.WorkspaceID, Phone: c.AccountPhone}); err != nil {
		if wagate.ErrorCode(err) == wagate.ENOTFOUND {
			return 0, wagate.ErrAccountNotInWorkspace(c.AccountPhone)
		}
		return 0, err
	}
	var taken int64
	err = tx.QueryRow(ctx, `SELECT id FROM chats WHERE workspace_id = $1 AND account_phone = $2 AND jid = $3`, c.WorkspaceID, c.AccountPhone, c.JID).Scan(&taken)
	switch {
	case err == nil:
		return 0, wagate.ErrChatTaken(c.AccountPhone, c.JID, taken)
	case !errors.Is(err, pgx.ErrNoRows):
		return 0, err
	}
	if db.maxChats > 0 && seq >= int64(db.maxChats) {
		return 0, wagate.ErrChatLimit(seq, db.maxChats)
	}
	seq++
	if _, err := tx.Exec(ctx, `UPDATE workspaces SET chat_seq = $2 WHERE id = $1`, c.WorkspaceID, seq); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO chats (`+chatColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.WorkspaceID, seq, c.AccountPhone, c.JID, c.Name, c.Group, created); err != nil {
		return 0, err
	}
	return seq, nil
}

// FindChat returns one chat or ENOTFOUND.
func (db *DB) FindChat(ctx context.Context, workspaceID string, id int64) (*wagate.Chat, error) {
	var c *wagate.Chat
	err := db.read(ctx, "find chat", func(q querier) error {
		var err error
		c, err = scanChat(q.QueryRow(ctx, `SELECT `+chatColumns+` FROM chats WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return wagate.ErrChatNotFound(id)
		}
		return err
	})
	return c, err
}

// ListChats returns a workspace's chats by id; name != "" keeps only the
// chats with exactly that name (the inbound chat_name lookup, which must
// tell "none" from "several"). ENOTFOUND for an unknown workspace.
func (db *DB) ListChats(ctx context.Context, workspaceID, name string) ([]*wagate.Chat, error) {
	var list []*wagate.Chat
	err := db.view(ctx, "list chats", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, false); err != nil {
			return err
		}
		var err error
		list, err = collectChats(tx.Query(ctx, `SELECT `+chatColumns+` FROM chats
			WHERE workspace_id = $1 AND ($2 = '' OR name = $2) ORDER BY id`, workspaceID, name))
		return err
	})
	return list, err
}

// PageChats returns at most limit chats by id after the cursor; see
// wagate.ChatService. A cursor is the last id of the previous page, 8
// bytes big-endian in unpadded base64url (the form store/ uses too).
// ENOTFOUND for an unknown workspace, EINVALID for a bad cursor.
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
	err = db.view(ctx, "page chats", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, workspaceID, false); err != nil {
			return err
		}
		var err error
		// One more than the page tells whether another page follows.
		list, err = collectChats(tx.Query(ctx, `SELECT `+chatColumns+` FROM chats
			WHERE workspace_id = $1 AND ($2 = '' OR name = $2) AND id > $3 ORDER BY id LIMIT $4`, workspaceID, name, after, limit+1))
		if err != nil {
			return err
		}
		if len(list) > limit {
			list = list[:limit]
			next = encodeCursor(uint64(list[limit-1].ID))
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return list, next, nil
}

// encodeCursor names the position after the key k.
func encodeCursor(k uint64) string {
	return base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, k))
}

// decodeCursor reads a cursor; "" is 0 (the first page). Anything that is
// not a cursor encodeCursor made is EINVALID naming the field.
func decodeCursor(cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	k, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(k) != 8 || binary.BigEndian.Uint64(k) > 1<<62 {
		return 0, wagate.Errorf(wagate.EINVALID, "cursor %q is not a cursor of this list; pass the next_cursor of the previous page as it is, or leave cursor out for the first page", cursorText(cursor))
	}
	return int64(binary.BigEndian.Uint64(k)), nil
}
