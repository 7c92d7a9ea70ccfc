// Package dryrun is the transport that sends nothing: it appends one JSON
// line per message to an outbox file ({data}/dryrun-outbox.jsonl), so a user
// trying wagate, and a test, can see what would have been sent, and when,
// without a WhatsApp account or a network. It is every account's default
// transport.
package dryrun

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

var (
	_ sender.Transport       = (*Transport)(nil)
	_ sender.SharedConfirmer = (*Transport)(nil)
)

// Transport appends each sent message to the outbox file. It is safe for
// concurrent use: sends of different accounts happen at the same time, and
// each line is written whole.
//
// Lines are written one at a time under a mutex, each with its own "at", but
// fsynced in groups: a Send waits for an fsync that began after its line was
// written, and one fsync covers every line written before it (group commit).
// Syncing each line under the mutex made 10,000 accounts queue behind each
// other's fsyncs, which put hundreds of milliseconds between a send's turn
// and its line; a group fsync costs each Send one fsync at most, whatever
// the number of senders.
type Transport struct {
	mu      sync.Mutex
	synced  *sync.Cond // signalled (with mu) when an fsync ends
	f       *os.File   // nil once closed
	path    string
	now     func() time.Time
	written uint64               // lines appended so far (this process); guarded by mu
	durable uint64               // lines covered by a successful fsync; guarded by mu
	syncing bool                 // an fsync runs (outside mu); guarded by mu
	syncErr error                // a failed fsync: sticky, see waitSynced; guarded by mu
	fsync   func(*os.File) error // (*os.File).Sync; a test hook

	delay      time.Duration // test only: see WithTestDelay
	delayAfter bool
	shared     bool // see Shared
}

// Option configures a Transport at New.
type Option func(*Transport)

// WithTestDelay makes every Send wait d before it writes its line, or, with
// after set, after it has written and synced it, before it returns. It is
// for crash tests only (`WAGATE_TEST_SEND_DELAY`): it holds a message in
// sending long enough for a test to kill wagate at either side of the
// write, which a real send does in milliseconds.
func WithTestDelay(d time.Duration, after bool) Option {
	return func(t *Transport) { t.delay, t.delayAfter = d, after }
}

// Shared says that every replica of the database appends to this same
// outbox file (wagate serve --dryrun-shared-outbox): a replica taking an
// account over can then read in it what another replica's send did, and
// the sender asks Confirm at a takeover (ConfirmsAcrossReplicas). The file
// must be one file for all of them, on a filesystem whose O_APPEND writes
// land whole (a local disk: replicas on one machine); a line is one write.
func Shared() Option {
	return func(t *Transport) { t.shared = true }
}

// ConfirmsAcrossReplicas reports whether the outbox is shared by every
// replica (Shared): only then can Confirm's NotDelivered (no line) be
// trusted for a send another replica made.
func (t *Transport) ConfirmsAcrossReplicas() bool { return t.shared }

// Line is one outbox line: SPEC §2's fields, plus file_url and the sniffed
// file_type. FileBytes and FileSHA256 describe the downloaded attachment
// (0 and "" without one), so a test can prove which bytes would be sent.
type Line struct {
	At         time.Time `json:"at"` // when the send began writing its line, before any wait for the outbox lock; RFC 3339 with nanoseconds, UTC
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
// at path for appending. Lines already there are kept. A last line that a
// crash cut in the middle of its write is ended with a newline, so the next
// line starts on its own.
func New(path string, opts ...Option) (*Transport, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dryrun: open outbox: %w", err)
	}
	if err := endLastLine(f, path); err != nil {
		f.Close()
		return nil, fmt.Errorf("dryrun: repair outbox: %w", err)
	}
	// Lines a killed process wrote but had not synced may still be only in
	// the page cache; Confirm vouches for what it reads, so make it durable
	// before anyone asks.
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("dryrun: sync outbox: %w", err)
	}
	t := &Transport{f: f, path: path, now: time.Now, fsync: (*os.File).Sync}
	t.synced = sync.NewCond(&t.mu)
	for _, o := range opts {
		o(t)
	}
	return t, nil
}

// endLastLine appends a newline to the outbox when its last byte is not one.
func endLastLine(f *os.File, path string) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	fi, err := r.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := r.ReadAt(last, fi.Size()-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	_, err = f.Write([]byte{'\n'})
	return err // New syncs the file
}

// Send appends m as one line and returns only after an fsync that covers it
// (a group fsync, see Transport): a line in
// the outbox means the message was "sent", so it must not be lost in a crash
// after the sender recorded it sent. The provider id is ProviderIDPrefix +
// m.ID. Errors before anything is written (a full disk, a closed outbox)
// are transient, since nothing about the message is wrong; once part of the
// line is written they are permanent (see below).
func (t *Transport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (sender.Result, error) {
	if err := ctx.Err(); err != nil {
		return sender.Result{}, err
	}
	if t.delay > 0 && !t.delayAfter {
		if err := sleep(ctx, t.delay); err != nil {
			return sender.Result{}, err
		}
	}
	id, err := t.write(acct, m, file)
	if err == nil && t.delay > 0 && t.delayAfter {
		// The line is written: the message is sent whatever ctx says.
		_ = sleep(ctx, t.delay)
	}
	return sender.Result{ProviderID: id}, err
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// write appends m's line and returns once an fsync covers it.
func (t *Transport) write(acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (string, error) {
	// The line's time is when the sender handed the message over, not when
	// this send got the outbox lock: at thousands of sends a second the
	// lock's queue would add its wait to the gaps a reader of the outbox
	// measures. Lines of different accounts may therefore be a little out
	// of time order; one account's are not (its sends follow each other).
	at := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return "", errors.New("dryrun: the outbox is closed")
	}
	if t.syncErr != nil {
		// Nothing is written: the message can be tried again later.
		return "", fmt.Errorf("dryrun: an earlier fsync of the outbox failed (%v); fix the disk and restart wagate", t.syncErr)
	}
	line := Line{
		At:        at,
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
	// Once any byte of the line is written, the message may count as sent:
	// a retry could append it a second time, so a failure from there on is
	// permanent (like a network send that got no answer).
	if n, err := t.f.Write(buf.Bytes()); err != nil {
		if n > 0 {
			return "", sender.Permanent(fmt.Errorf("dryrun: the outbox line was written in part (%w); it may count as sent, so it is not written again", err))
		}
		return "", fmt.Errorf("dryrun: append to outbox: %w", err)
	}
	t.written++
	if err := t.waitSynced(t.written); err != nil {
		return "", sender.Permanent(fmt.Errorf("dryrun: the outbox line was written but not synced (%w); it may count as sent, so it is not written again", err))
	}
	return ProviderIDPrefix + m.ID, nil
}

// waitSynced returns once line n (counted by t.written) is covered by an
// fsync, running that fsync itself when none is under way. t.mu is held;
// it is released during the fsync and the waits, so other sends append
// their lines meanwhile and the next fsync covers them all. An fsync that
// fails is sticky: after it the kernel may have dropped the dirty pages and
// a later fsync could succeed without them, so no line not yet durable is
// ever reported synced again.
func (t *Transport) waitSynced(n uint64) error {
	for t.durable < n {
		if t.syncErr != nil {
			return t.syncErr
		}
		if t.syncing {
			t.synced.Wait()
			continue
		}
		t.syncing = true
		upTo, f := t.written, t.f
		t.mu.Unlock()
		err := t.fsync(f)
		t.mu.Lock()
		t.syncing = false
		if err != nil {
			t.syncErr = err
		} else {
			t.durable = max(t.durable, upTo)
		}
		t.synced.Broadcast()
	}
	return nil
}

// Confirm tells, after a crash, whether m went out: it did if the outbox
// holds a whole line with its id (Send syncs the line before it returns, so
// a line that is there survived the crash), and certainly did not if no
// line mentions the id. A line cut by the crash that mentions it is
// DeliveryUnknown. It reads the whole outbox, which is fine for the
// development transport and runs only for messages a crash caught.
func (t *Transport) Confirm(ctx context.Context, acct *wagate.Account, m *wagate.Message) (sender.Delivery, string, error) {
	f, err := os.Open(t.path)
	if err != nil {
		return sender.DeliveryUnknown, "", fmt.Errorf("dryrun: read outbox: %w", err)
	}
	defer f.Close()
	id := []byte(m.ID)
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return sender.DeliveryUnknown, "", err
		}
		line, err := r.ReadBytes('\n')
		if bytes.Contains(line, id) {
			var l Line
			switch {
			case json.Unmarshal(line, &l) != nil:
				return sender.DeliveryUnknown, "", nil // a line cut by the crash
			case l.MessageID == m.ID:
				return sender.Delivered, ProviderIDPrefix + m.ID, nil
			}
			// The id in another message's text: read on.
		}
		if errors.Is(err, io.EOF) {
			return sender.NotDelivered, "", nil
		}
		if err != nil {
			return sender.DeliveryUnknown, "", fmt.Errorf("dryrun: read outbox: %w", err)
		}
	}
}

// Close closes the outbox. Sends after it fail; closing twice is harmless.
// Close it after the sender's Run has returned, so no send is under way.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.syncing { // let the fsync under way end on an open file
		t.synced.Wait()
	}
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}
