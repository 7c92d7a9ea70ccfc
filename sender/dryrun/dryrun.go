// Package dryrun is the transport that sends nothing: it appends one JSON
// line per message to an outbox file ({data}/dryrun-outbox.jsonl), so a user
// trying wagate, and a test, can see what would have been sent, and when,
// without a WhatsApp account or a network. It is every account's default
// transport.
package dryrun

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// FileName is the outbox's name inside the data folder.
const FileName = "dryrun-outbox.jsonl"

// ProviderIDPrefix starts the provider id Send returns: "dryrun:" and the
// message id, so a sent message's try says which transport took it.
const ProviderIDPrefix = "dryrun:"

var _ sender.Transport = (*Transport)(nil)

// Transport appends each sent message to the outbox file. It is safe for
// concurrent use: sends of different accounts happen at the same time, and
// each line is written whole.
type Transport struct {
	mu  sync.Mutex
	f   *os.File // nil once closed
	now func() time.Time
}

// Line is one outbox line: SPEC §2's fields, plus file_url and the sniffed
// file_type. FileBytes and FileSHA256 describe the downloaded attachment
// (0 and "" without one), so a test can prove which bytes would be sent.
type Line struct {
	At         time.Time `json:"at"` // RFC 3339 with nanoseconds, UTC
	Account    string    `json:"account"`
	To         string    `json:"to"`
	MessageID  string    `json:"message_id"`
	Text       string    `json:"text"`
	FileName   string    `json:"file_name"`
	FileURL    string    `json:"file_url"`
	FileType   string    `json:"file_type"`
	FileBytes  int64     `json:"file_bytes"`
	FileSHA256 string    `json:"file_sha256"`
}

// New opens (or creates, mode 0600: the lines hold message texts) the outbox
// at path for appending. Lines already there are kept.
func New(path string) (*Transport, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dryrun: open outbox: %w", err)
	}
	return &Transport{f: f, now: time.Now}, nil
}

// Send appends m as one line and syncs the file before it returns: a line in
// the outbox means the message was "sent", so it must not be lost in a crash
// after the sender recorded it sent. The provider id is ProviderIDPrefix +
// m.ID. Errors (a full disk, a closed outbox) are transient: nothing about
// the message is wrong.
func (t *Transport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return "", errors.New("dryrun: the outbox is closed")
	}
	line := Line{
		At:        t.now().UTC(),
		Account:   acct.Phone,
		To:        m.JID,
		MessageID: m.ID,
		Text:      m.Text,
		FileName:  m.FileName,
		FileURL:   m.FileURL,
	}
	if file != nil {
		sum := sha256.Sum256(file.Data)
		line.FileType = file.ContentType
		line.FileBytes = int64(len(file.Data))
		line.FileSHA256 = hex.EncodeToString(sum[:])
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the file is read by people: keep <, > and & as they are
	if err := enc.Encode(line); err != nil {
		return "", fmt.Errorf("dryrun: encode line: %w", err)
	}
	// One write call per line (Encode ended it with '\n'): with O_APPEND
	// the line lands whole at the end, even if another process appends too.
	if _, err := t.f.Write(buf.Bytes()); err != nil {
		return "", fmt.Errorf("dryrun: append to outbox: %w", err)
	}
	if err := t.f.Sync(); err != nil {
		return "", fmt.Errorf("dryrun: sync outbox: %w", err)
	}
	return ProviderIDPrefix + m.ID, nil
}

// Close closes the outbox. Sends after it fail; closing twice is harmless.
// Close it after the sender's Run has returned, so no send is under way.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}
