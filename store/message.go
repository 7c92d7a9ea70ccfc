package store

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/quota"
)

// appendFill is the FillPercent of buckets whose keys only grow.
const appendFill = 0.95

// IdempotencyWindow is how long an Idempotency-Key is remembered
// (wagate.IdempotencyWindow).
const IdempotencyWindow = wagate.IdempotencyWindow

// DefaultListLimit is the number of messages ListMessages returns when the
// caller gives no limit.
const DefaultListLimit = 100

// idempotencyPruneMax bounds how many expired idempotency records one
// Accept deletes (wagate.IdempotencyPruneMax).
const idempotencyPruneMax = wagate.IdempotencyPruneMax

// Accept commits an inbound request in ONE write transaction: the
// idempotency check, the account and chat checks, the credit charge, the
// message, its queue entry, the chat if new, the idempotency record and the
// attempt record. Outcomes that are the client's fault (EIDEMPOTENCY,
// ECREDITS, ENOTFOUND, EINVALID) commit only the attempt and are returned
// after the commit; a replay commits only the attempt (credits 0, pointing
// at the first message). Storage faults commit nothing and are EUNAVAILABLE.
//
// Accept is the hot path, so it goes through the store's group commit
// (commit.go): requests arriving together share one fsync. The committer
// may run the transaction function more than once, so it works on copies,
// touches nothing but the transaction, and returns client faults as
// outcomes rather than errors (an error would split the batch and rerun
// every call in it alone). The
// caller's Attempt is filled (Code, Message, MessageID, Credits) after the
// commit, from the run that committed.
func (db *DB) Accept(ctx context.Context, a *wagate.Accept) (*wagate.AcceptResult, error) {
	if a == nil || a.Message == nil || a.Message.ID == "" || a.Message.Credits < 0 {
		return nil, wagate.Errorf(wagate.EINTERNAL, "store: Accept needs a message with an id and credits >= 0")
	}
	now := db.now()
	var (
		res *wagate.AcceptResult
		att *attemptRecord
	)
	outcome, fault := db.runBatch(ctx, "accept", func(tx *bolt.Tx) (outcome, err error) {
		res, att = nil, nil
		r, at, outcome, err := accept(tx, a, now, db.limits, db.change(a.Source, now))
		if err != nil {
			return nil, err
		}
		res, att = r, at
		return outcome, nil
	})
	if fault != nil {
		return nil, fault // nothing was committed, not even the attempt
	}
	if att != nil && a.Attempt != nil {
		a.Attempt.Code = att.Code
		a.Attempt.Message = att.Message
		a.Attempt.MessageID = att.MessageID
		a.Attempt.Credits = att.Credits
	}
	if outcome != nil {
		return nil, outcome
	}
	return res, nil
}

// accept is one run of Accept's transaction. It returns the result and the
// attempt that were written, the client-fault outcome, or a storage fault.
func accept(tx *bolt.Tx, a *wagate.Accept, now time.Time, lim limits, ch change) (*wagate.AcceptResult, *attemptRecord, error, error) {
	ws, err := getWorkspace(tx, a.WorkspaceID)
	if err != nil {
		return nil, nil, nil, err
	}
	if ws == nil {
		// No workspace, no attempt log to write to.
		return nil, nil, wagate.ErrWebhookNotFound(), nil
	}
	if a.InboundToken != "" && subtle.ConstantTimeCompare([]byte(a.InboundToken), []byte(ws.Token)) != 1 {
		// Regenerated after the gateway read the workspace: the old URL
		// stops working at once, and an unknown token leaves no attempt.
		return nil, nil, wagate.ErrWebhookNotFound(), nil
	}
	if err := pruneIdempotency(tx, now, idempotencyPruneMax); err != nil {
		return nil, nil, nil, err
	}
	res, outcome, err := acceptMessage(tx, ws, a, now, lim, ch)
	if err != nil {
		return nil, nil, nil, err
	}
	att, err := putAcceptAttempt(tx, ws.ID, a.Attempt, res, outcome, now, ch)
	if err != nil {
		return nil, nil, nil, err
	}
	return res, att, outcome, nil
}

// putAcceptAttempt records the attempt of one accepted (res) or refused
// (outcome) request.
func putAcceptAttempt(tx *bolt.Tx, workspaceID string, in *wagate.Attempt, res *wagate.AcceptResult, outcome error, now time.Time, ch change) (*attemptRecord, error) {
	a := wagate.AcceptAttempt(in, res, outcome, now)
	att := newAttemptRecord(&a)
	phone := ""
	if res != nil {
		phone = res.Message.AccountPhone
	}
	ach := ch
	ach.at = att.At
	return att, putAttempt(tx, workspaceID, att, ach, phone)
}

// tokenMatches compares an inbound token with the stored one in constant
// time.
func tokenMatches(given, stored string) bool {
	return subtle.ConstantTimeCompare([]byte(given), []byte(stored)) == 1
}

// acceptMessage does the checks first and writes only when all pass, so a
// client fault leaves nothing behind but the attempt its caller writes.
func acceptMessage(tx *bolt.Tx, ws *workspaceRecord, a *wagate.Accept, now time.Time, lim limits, ch change) (*wagate.AcceptResult, error, error) {
	if a.InboundToken != "" && !ws.Enabled {
		return nil, wagate.ErrWebhookDisabled(), nil // disabled after the gateway looked
	}
	// Idempotency: same key and body within the window is a replay.
	var idemKey []byte
	var expired *idempotencyRecord
	if a.IdempotencyKey != "" {
		idemKey = join(ws.ID, a.IdempotencyKey)
		first, old, outcome, err := findIdempotent(tx, ws.ID, a.IdempotencyKey, a.BodyHash, now)
		switch {
		case err != nil || outcome != nil:
			return nil, outcome, err
		case first != nil:
			return &wagate.AcceptResult{Message: first.domain(), Replayed: true, Balance: ws.Balance}, nil, nil
		}
		expired = old
	}

	queued := wagate.QueuedMessage(a.Message, ws.ID, now) // a copy: this function may run twice
	m := newMessageRecord(&queued)
	if bucket(tx, bucketMessages).Get([]byte(m.ID)) != nil {
		return nil, wagate.Errorf(wagate.EINTERNAL, "message id %s is already taken", m.ID), nil
	}

	// A chat named by id decides the account and the recipient.
	if m.ChatID != 0 {
		chat, err := getChat(tx, ws.ID, m.ChatID)
		if err != nil {
			return nil, nil, err
		}
		if chat == nil {
			return nil, wagate.ErrChatNotInWorkspace(m.ChatID), nil
		}
		m.AccountPhone, m.JID = chat.AccountPhone, chat.JID
	}

	if m.AccountPhone == "" {
		return nil, wagate.ErrNoSendingAccount(), nil
	}
	acct, err := getAccount(tx, wagate.AccountRef{WorkspaceID: ws.ID, Phone: m.AccountPhone})
	if err != nil {
		return nil, nil, err
	}
	if err := wagate.CheckSendingAccount(m.AccountPhone, m.ChatID, acct != nil, acct != nil && acct.Active); err != nil {
		return nil, err, nil
	}
	m.AccountConnectedAt = acct.ConnectedAt // which connection of this phone, for Retry

	if err := wagate.CheckRecipient(m.JID); err != nil {
		return nil, err, nil
	}
	newChat := false
	if m.ChatID == 0 {
		id, err := findChatID(tx, ws.ID, m.AccountPhone, m.JID)
		if err != nil {
			return nil, nil, err
		}
		m.ChatID, newChat = id, id == 0
	}
	if newChat {
		if err := lim.checkChats(tx, ws.ID); err != nil {
			return nil, err, nil // a client fault: the attempt records it
		}
	}

	balance, err := quota.Charge(ws.Balance, m.Credits)
	if err != nil {
		return nil, err, nil // ECREDITS, with how many are needed and left
	}

	// Every check passed: write.
	if newChat {
		chat := &chatRecord{
			AccountPhone: m.AccountPhone,
			JID:          m.JID,
			Name:         a.ChatName,
			Group:        strings.HasSuffix(m.JID, "@"+wagate.ServerGroup),
			CreatedAt:    m.CreatedAt,
		}
		if err := createChat(tx, ws.ID, chat); err != nil {
			return nil, nil, err
		}
		m.ChatID = chat.ID
	}
	before := ws.Balance
	ws.Balance = balance
	if err := putWorkspace(tx, ws); err != nil {
		return nil, nil, err
	}
	if err := place(tx, m); err != nil {
		return nil, nil, err
	}
	if err := putMessage(tx, m, ch); err != nil {
		return nil, nil, err
	}
	if err := ch.charged(tx, ws, before, balance, m.AccountPhone); err != nil {
		return nil, nil, err
	}
	if err := indexMessage(tx, m); err != nil {
		return nil, nil, err
	}
	if err := putMessageTemplate(tx, a.Message); err != nil {
		return nil, nil, err
	}
	if idemKey != nil {
		if err := putIdempotency(tx, idemKey, expired, &idempotencyRecord{BodyHash: a.BodyHash[:], MessageID: m.ID, At: now}); err != nil {
			return nil, nil, err
		}
	}
	out := m.domain()
	out.TemplateName, out.Template = a.Message.TemplateName, a.Message.Template
	return &wagate.AcceptResult{Message: out, Balance: balance}, nil, nil
}

// Replay looks an Idempotency-Key up before the request is validated, so a
// retry gets the first answer even when things changed since (an account
// switched off, a chat name now shared). A new key costs one read; a known
// one also commits att, durably, before the answer. See
// wagate.MessageService.
func (db *DB) Replay(ctx context.Context, workspaceID, key string, bodyHash [32]byte, att *wagate.Attempt) (*wagate.Message, error) {
	now := db.now()
	var known bool
	err := db.view(ctx, "replay", func(tx *bolt.Tx) error {
		first, _, outcome, err := findIdempotent(tx, workspaceID, key, bodyHash, now)
		known = first != nil || outcome != nil
		return err
	})
	if err != nil || !known {
		return nil, err
	}
	var first *messageRecord
	outcome, fault := db.runBatch(ctx, "replay", func(tx *bolt.Tx) (error, error) {
		first = nil
		f, _, outcome, err := findIdempotent(tx, workspaceID, key, bodyHash, now)
		if err != nil {
			return nil, err
		}
		var res *wagate.AcceptResult
		phone := ""
		if f != nil {
			res, phone = &wagate.AcceptResult{Message: f.domain(), Replayed: true}, f.AccountPhone
		}
		a := wagate.AcceptAttempt(att, res, outcome, now)
		rec := newAttemptRecord(&a)
		first = f
		return outcome, putAttempt(tx, workspaceID, rec, db.change(wagate.SourceInbound, rec.At), phone)
	})
	switch {
	case fault != nil:
		return nil, fault
	case outcome != nil:
		return nil, outcome
	case first == nil:
		// The record expired between the read and the commit: a new key.
		return nil, nil
	}
	att.MessageID = first.ID
	return first.domain(), nil
}

// findIdempotent reads the record of key in the workspace and asks
// wagate's rule (IdempotencyRecord.Replays). It returns the first message
// of a replay, the EIDEMPOTENCY outcome of a key reused with another body
// or first used for a batch, and the expired record (to be replaced) when
// older than the window.
func findIdempotent(tx *bolt.Tx, workspaceID, key string, bodyHash [32]byte, now time.Time) (first *messageRecord, expired *idempotencyRecord, outcome, err error) {
	rec, err := getIdempotency(tx, workspaceID, key)
	if err != nil || rec == nil {
		return nil, nil, nil, err
	}
	replay, outcome := rec.judge().Replays(key, false, bodyHash, now)
	switch {
	case outcome != nil:
		return nil, nil, outcome, nil
	case !replay:
		return nil, rec, nil, nil // expired
	}
	first, err = mustMessage(tx, rec.MessageID)
	return first, nil, nil, err
}

// getIdempotency returns the record of key in the workspace, or nil.
func getIdempotency(tx *bolt.Tx, workspaceID, key string) (*idempotencyRecord, error) {
	var rec idempotencyRecord
	ok, err := get(bucket(tx, bucketIdempotency), join(workspaceID, key), &rec)
	if err != nil || !ok {
		return nil, err
	}
	return &rec, nil
}

// judge is the record as wagate's rule reads it.
func (r *idempotencyRecord) judge() *wagate.IdempotencyRecord {
	return &wagate.IdempotencyRecord{BodyHash: r.BodyHash, At: r.At, Batch: r.MessageID == batchMarker}
}

// putIdempotency writes the record and its time-index entry, replacing the
// index entry of an expired record it overwrites.
func putIdempotency(tx *bolt.Tx, key []byte, expired, rec *idempotencyRecord) error {
	byTime := bucket(tx, bucketIdemByTime)
	if expired != nil {
		if err := byTime.Delete(idemTimeKey(expired.At, key)); err != nil {
			return err
		}
	}
	if err := put(bucket(tx, bucketIdempotency), key, rec); err != nil {
		return err
	}
	return byTime.Put(idemTimeKey(rec.At, key), []byte{})
}

func idemTimeKey(at time.Time, key []byte) []byte {
	return append(u64(uint64(at.UnixNano())), key...)
}

// pruneIdempotency deletes up to max expired idempotency records (written
// at or before wagate.IdempotencyCutoff), oldest first, so keys do not
// pile up forever.
func pruneIdempotency(tx *bolt.Tx, now time.Time, max int) error {
	byTime := bucket(tx, bucketIdemByTime)
	limit := uint64(wagate.IdempotencyCutoff(now).UnixNano())
	var old [][]byte
	c := byTime.Cursor()
	for k, _ := c.First(); k != nil && len(old) < max; k, _ = c.Next() {
		if len(k) < 8 || seqPrefix(k) > limit {
			break
		}
		old = append(old, copyBytes(k))
	}
	records := bucket(tx, bucketIdempotency)
	for _, k := range old {
		var rec idempotencyRecord
		ok, err := get(records, k[8:], &rec)
		if err != nil {
			return err
		}
		if ok && uint64(rec.At.UnixNano()) == seqPrefix(k) {
			if err := records.Delete(k[8:]); err != nil {
				return err
			}
			if err := bucket(tx, bucketBatches).Delete(k[8:]); err != nil { // a batch's results (batch.go)
				return err
			}
		}
		if err := byTime.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func seqPrefix(k []byte) uint64 {
	n, _ := seqOf(k[:8])
	return n
}

// enqueue appends the message to its account's FIFO and remembers the
// position in the message (the caller stores the message after).
func enqueue(tx *bolt.Tx, m *messageRecord) error {
	q, err := bucket(tx, bucketQueues).CreateBucketIfNotExists(join(m.WorkspaceID, m.AccountPhone))
	if err != nil {
		return err
	}
	q.FillPercent = appendFill
	seq, err := q.NextSequence()
	if err != nil {
		return err
	}
	m.QueueSeq = seq
	return q.Put(u64(seq), []byte(m.ID))
}

// unqueue removes the message's queue entry, if it still points at it.
func unqueue(tx *bolt.Tx, m *messageRecord) error {
	if err := clearHold(tx, m); err != nil {
		return err
	}
	if m.scheduled() {
		return unschedule(tx, m)
	}
	if m.QueueSeq == 0 {
		return nil
	}
	seq := m.QueueSeq
	m.QueueSeq = 0
	q := bucket(tx, bucketQueues).Bucket(join(m.WorkspaceID, m.AccountPhone))
	if q == nil {
		return nil
	}
	if v := q.Get(u64(seq)); v != nil && string(v) == m.ID {
		return q.Delete(u64(seq))
	}
	return nil
}

// indexMessage adds the message to its workspace's list, newest last.
func indexMessage(tx *bolt.Tx, m *messageRecord) error {
	b, err := bucket(tx, bucketWsMessages).CreateBucketIfNotExists([]byte(m.WorkspaceID))
	if err != nil {
		return err
	}
	b.FillPercent = appendFill
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(u64(seq), []byte(m.ID))
}

// getMessage returns the message record or nil.
func getMessage(tx *bolt.Tx, id string) (*messageRecord, error) {
	var rec messageRecord
	ok, err := get(bucket(tx, bucketMessages), []byte(id), &rec)
	if !ok || err != nil {
		return nil, err
	}
	rec.stored, rec.storedDelivery = rec.Status, rec.Delivery
	return &rec, nil
}

// mustMessage is getMessage with ENOTFOUND for a missing message.
func mustMessage(tx *bolt.Tx, id string) (*messageRecord, error) {
	rec, err := getMessage(tx, id)
	if err == nil && rec == nil {
		err = wagate.ErrMessageNotFound(id)
	}
	return rec, err
}

// putMessage is the one write of a message record, and so the funnel of
// every message state change: it writes the event of the transition m
// made since it was read or created, in the same transaction, as ch says
// who made it and when (event.go).
func putMessage(tx *bolt.Tx, m *messageRecord, ch change) error {
	b := bucket(tx, bucketMessages)
	b.FillPercent = appendFill
	if err := put(b, []byte(m.ID), m); err != nil {
		return err
	}
	return ch.messageChanged(tx, m)
}

// FindMessage returns a message of the workspace, or ENOTFOUND (also for
// another workspace's message: ids are not secrets, but data is per tenant).
func (db *DB) FindMessage(ctx context.Context, workspaceID, id string) (*wagate.Message, error) {
	now := db.now()
	var m *wagate.Message
	err := db.view(ctx, "find message", func(tx *bolt.Tx) error {
		rec, err := getMessage(tx, id)
		if err != nil {
			return err
		}
		if rec == nil || rec.WorkspaceID != workspaceID {
			return wagate.ErrMessageNotInWorkspace(id)
		}
		waiting, err := waitingFor(tx, []*messageRecord{rec}, now)
		if err != nil {
			return err
		}
		m = rec.domain()
		m.WaitingFor = waiting[rec.ID]
		return loadMessageTemplate(tx, m)
	})
	return m, err
}

// ListMessages returns a workspace's messages newest first, at most limit
// (DefaultListLimit when limit <= 0); status != "" keeps only that status.
// ENOTFOUND for an unknown workspace, EINVALID for an unknown status. It
// reads in one transaction without a bound: for tools and tests; the API
// pages with PageMessages.
func (db *DB) ListMessages(ctx context.Context, workspaceID string, status wagate.MessageStatus, limit int) ([]*wagate.Message, error) {
	if err := wagate.CheckStatusFilter(status); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	var list []*wagate.Message
	err := db.view(ctx, "list messages", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, workspaceID); err != nil {
			return err
		}
		b := bucket(tx, bucketWsMessages).Bucket([]byte(workspaceID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(list) < limit; k, v = c.Prev() {
			rec, err := getMessage(tx, string(v))
			if err != nil {
				return err
			}
			if rec == nil || (status != "" && rec.Status != status) {
				continue
			}
			list = append(list, rec.domain())
		}
		return nil
	})
	return list, err
}

// RecordAttempt appends an attempt that never reached Accept (bad JSON, a
// disabled URL…) to the workspace's log, keeping the last
// wagate.AttemptLimit. It goes through group commit like Accept: a flood of
// bad requests must not queue up behind one fsync each. ENOTFOUND for an
// unknown workspace.
func (db *DB) RecordAttempt(ctx context.Context, workspaceID string, a *wagate.Attempt) error {
	rec := newAttemptRecord(a)
	rec.At = orNow(rec.At, db.now())
	return db.batch(ctx, "record attempt", func(tx *bolt.Tx) (error, error) {
		ws, err := getWorkspace(tx, workspaceID)
		if err != nil {
			return nil, err
		}
		if ws == nil {
			return wagate.ErrWorkspaceNotFound(workspaceID), nil
		}
		return nil, putAttempt(tx, workspaceID, rec, db.change(wagate.SourceInbound, rec.At), "")
	})
}

// putAttempt appends an attempt and deletes the one that falls out of the
// last wagate.AttemptLimit. Keys come from NextSequence and only the oldest
// is ever deleted, so the kept keys are the contiguous last-Limit+1..last:
// the one to delete is known without a cursor (and deleting a key that was
// never there, while the log is not full yet, changes nothing).
//
// It is the funnel of attempt records: each writes its webhook.attempt
// event, as ch says who made it and when, from the account phone of its
// message ("" when none).
func putAttempt(tx *bolt.Tx, workspaceID string, rec *attemptRecord, ch change, phone string) error {
	b, err := bucket(tx, bucketAttempts).CreateBucketIfNotExists([]byte(workspaceID))
	if err != nil {
		return err
	}
	b.FillPercent = appendFill
	last, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := put(b, u64(last), rec); err != nil {
		return err
	}
	if last > wagate.AttemptLimit {
		if err := b.Delete(u64(last - wagate.AttemptLimit)); err != nil {
			return err
		}
	}
	return ch.attemptRecorded(tx, workspaceID, rec, phone)
}

// ListAttempts returns up to limit attempts (all kept, at most
// wagate.AttemptLimit, when limit <= 0), newest first, with SendStatus and
// SendError read from their messages at the time of the call. ENOTFOUND for
// an unknown workspace.
func (db *DB) ListAttempts(ctx context.Context, workspaceID string, limit int) ([]*wagate.Attempt, error) {
	if limit <= 0 || limit > wagate.AttemptLimit {
		limit = wagate.AttemptLimit
	}
	var list []*wagate.Attempt
	err := db.view(ctx, "list attempts", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, workspaceID); err != nil {
			return err
		}
		b := bucket(tx, bucketAttempts).Bucket([]byte(workspaceID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(list) < limit; k, v = c.Prev() {
			var rec attemptRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			a := rec.domain()
			if a.MessageID != "" {
				m, err := getMessage(tx, a.MessageID)
				if err != nil {
					return err
				}
				if m != nil {
					a.SendStatus, a.SendError = m.Status, m.Error
				}
			}
			list = append(list, a)
		}
		return nil
	})
	return list, err
}

// cutUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence, so a
// kept body stays valid text for the JSON and CSV downloads.
func cutUTF8(s string, n int) string { return wagate.CutUTF8(s, n) }
