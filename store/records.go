package store

import (
	"math"
	"time"

	"github.com/wagate/wagate"
)

// The records below are how the domain types are stored. They are private
// to the store, so a domain type can change its fields (or gain JSON tags
// for the API) without changing the file format, and the format can keep
// what the API never shows (Account.Settings, the queue position of a
// message). Short JSON names keep the hot records small.

type workspaceRecord struct {
	Seq          uint64    `json:"seq"` // creation order, for ListWorkspaces
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Balance      int64     `json:"balance"`
	Granted      int64     `json:"granted"`
	Token        string    `json:"token"` // the inbound token: shown to owners as part of the URL
	Enabled      bool      `json:"enabled"`
	TokenCreated time.Time `json:"token_created"`
	CreatedAt    time.Time `json:"created_at"`
	// LowCredits is the credits.low threshold; 0 is off. Stored in binary
	// format 2 only (workspaceRecord.binaryFormat).
	LowCredits int64 `json:"low_credits,omitempty"`
}

func (r *workspaceRecord) domain() *wagate.Workspace {
	return &wagate.Workspace{
		ID:      r.ID,
		Name:    r.Name,
		Credits: r.Balance,
		Granted: r.Granted,
		Webhook: wagate.Webhook{
			Token:     r.Token,
			Enabled:   r.Enabled,
			CreatedAt: r.TokenCreated,
		},
		CreatedAt:  r.CreatedAt,
		LowCredits: r.LowCredits,
	}
}

type accountRecord struct {
	Phone       string            `json:"phone"`
	Transport   string            `json:"transport"`
	Settings    map[string]string `json:"settings,omitempty"`
	Active      bool              `json:"active"`
	ConnectedAt time.Time         `json:"connected_at"`
	// Rules is stored in binary format 2 only (accountRecord.binaryFormat);
	// an account without rules keeps format 1.
	Rules wagate.SendRules `json:"rules,omitzero"`
	// Link is a whatsapp account's link state, stored in binary format 3
	// only (accountRecord.binaryFormat); other accounts keep format 1 or 2.
	Link wagate.AccountLink `json:"link,omitzero"`
}

func newAccountRecord(a *wagate.Account) *accountRecord {
	var settings map[string]string
	if len(a.Settings) > 0 {
		settings = make(map[string]string, len(a.Settings))
		for k, v := range a.Settings {
			settings[k] = v
		}
	}
	return &accountRecord{
		Phone:       a.Phone,
		Transport:   a.Transport,
		Settings:    settings,
		Active:      a.Active,
		ConnectedAt: a.ConnectedAt,
		Rules:       a.Rules,
		Link:        a.Link,
	}
}

func (r *accountRecord) domain(workspaceID string) *wagate.Account {
	return &wagate.Account{
		WorkspaceID: workspaceID,
		Phone:       r.Phone,
		Transport:   r.Transport,
		Settings:    r.Settings,
		Active:      r.Active,
		ConnectedAt: r.ConnectedAt,
		Rules:       r.Rules,
		Link:        r.Link,
	}
}

type chatRecord struct {
	ID           int64     `json:"id"`
	AccountPhone string    `json:"account"`
	JID          string    `json:"jid"`
	Name         string    `json:"name"`
	Group        bool      `json:"group"`
	CreatedAt    time.Time `json:"created_at"`
}

func newChatRecord(c *wagate.Chat) *chatRecord {
	return &chatRecord{
		ID:           c.ID,
		AccountPhone: c.AccountPhone,
		JID:          c.JID,
		Name:         c.Name,
		Group:        c.Group,
		CreatedAt:    c.CreatedAt,
	}
}

func (r *chatRecord) domain(workspaceID string) *wagate.Chat {
	return &wagate.Chat{
		ID:           r.ID,
		WorkspaceID:  workspaceID,
		AccountPhone: r.AccountPhone,
		JID:          r.JID,
		Name:         r.Name,
		Group:        r.Group,
		CreatedAt:    r.CreatedAt,
	}
}

type tryRecord struct {
	At         time.Time `json:"at"`
	Result     string    `json:"result"`
	Class      string    `json:"class,omitempty"`
	Error      string    `json:"error,omitempty"`
	ProviderID string    `json:"provider_id,omitempty"`
}

type messageRecord struct {
	ID           string               `json:"id"`
	WorkspaceID  string               `json:"ws"`
	Status       wagate.MessageStatus `json:"status"`
	AccountPhone string               `json:"account"`
	ChatID       int64                `json:"chat_id"`
	JID          string               `json:"jid"`
	Text         string               `json:"text,omitempty"`
	FileURL      string               `json:"file_url,omitempty"`
	FileName     string               `json:"file_name,omitempty"`
	Credits      int64                `json:"credits"`
	Error        string               `json:"error,omitempty"`
	Tries        []tryRecord          `json:"tries,omitempty"`
	CreatedAt    time.Time            `json:"created_at"`
	SentAt       time.Time            `json:"sent_at,omitzero"`
	// QueueSeq is the key of the message's entry in its account's queue,
	// so taking it out of the queue is a direct delete, not a scan.
	QueueSeq uint64 `json:"queue_seq,omitempty"`
	// SendingAt is when the sender took the message (MarkSending); kept
	// for the record of an interrupted send.
	SendingAt time.Time `json:"sending_at,omitzero"`
	// Pos is the queue position the message had when the sender took it
	// (QueueSeq is 0 while it is sending), so a retry puts it back at its
	// place in its account's FIFO, ahead of the messages accepted after it.
	Pos uint64 `json:"pos,omitempty"`
	// NextTryAt is when a retry is due; until then Next skips the message
	// (and the later messages to the same recipient). Zero: none scheduled.
	NextTryAt time.Time `json:"next_try_at,omitzero"`
	// AccountConnectedAt is the ConnectedAt of the account the message was
	// accepted for: an account deleted and connected again with the same
	// phone is another account (Retry checks it). Zero in older records.
	AccountConnectedAt time.Time `json:"account_connected_at,omitzero"`
	// Delivery and DeliveryAt are the transport's last report after the
	// send (wagate.Message.Delivery).
	Delivery   string    `json:"delivery,omitempty"`
	DeliveryAt time.Time `json:"delivery_at,omitzero"`
	// SendAt is a scheduled message's due time. While the message is
	// queued with no queue entry (QueueSeq 0) it waits in its account's
	// schedule index (schedule.go) instead of the FIFO. Binary format 2.
	SendAt time.Time `json:"send_at,omitzero"`
	// WaitingReason is why a queued message waits until NextTryAt when a
	// careful-sending rule holds it (wagate.WaitingDailyLimit,
	// WaitingQuietHours): like a retry, but no try is spent. Format 2.
	WaitingReason string `json:"waiting_reason,omitempty"`

	// stored and storedDelivery are Status and Delivery as last read or
	// written (never stored themselves): putMessage tells the transition,
	// and so the event, from them (event.go).
	stored         wagate.MessageStatus
	storedDelivery string
}

func newMessageRecord(m *wagate.Message) *messageRecord {
	r := &messageRecord{
		ID:           m.ID,
		WorkspaceID:  m.WorkspaceID,
		Status:       m.Status,
		AccountPhone: m.AccountPhone,
		ChatID:       m.ChatID,
		JID:          m.JID,
		Text:         m.Text,
		FileURL:      m.FileURL,
		FileName:     m.FileName,
		Credits:      m.Credits,
		Error:        m.Error,
		CreatedAt:    m.CreatedAt,
		SentAt:       m.SentAt,
		SendAt:       m.SendAt,
	}
	for _, t := range m.Tries {
		r.Tries = append(r.Tries, tryRecord(t))
	}
	return r
}

func (r *messageRecord) domain() *wagate.Message {
	m := &wagate.Message{
		ID:           r.ID,
		WorkspaceID:  r.WorkspaceID,
		Status:       r.Status,
		AccountPhone: r.AccountPhone,
		ChatID:       r.ChatID,
		JID:          r.JID,
		Text:         r.Text,
		FileURL:      r.FileURL,
		FileName:     r.FileName,
		Credits:      r.Credits,
		Error:        r.Error,
		CreatedAt:    r.CreatedAt,
		SentAt:       r.SentAt,
		Delivery:     r.Delivery,
		DeliveryAt:   r.DeliveryAt,
		SendAt:       r.SendAt,
	}
	if r.Status == wagate.StatusQueued {
		// A retry time means nothing once the message left the queue
		// (an account deletion fails it without clearing the field).
		m.NextTryAt = r.NextTryAt
		switch {
		case r.scheduled():
			m.WaitingReason, m.NextTryAt = wagate.WaitingScheduled, r.SendAt
		case r.WaitingReason != "" && !r.NextTryAt.IsZero():
			m.WaitingReason = r.WaitingReason
		}
	}
	for _, t := range r.Tries {
		m.Tries = append(m.Tries, wagate.Try(t))
	}
	return m
}

// holdsCredits reports whether the message's credits are spent (queued,
// sending or sent) rather than refunded (failed): the audit's sum.
func (r *messageRecord) holdsCredits() bool {
	switch r.Status {
	case wagate.StatusQueued, wagate.StatusSending, wagate.StatusSent:
		return true
	}
	return false
}

type attemptRecord struct {
	At          time.Time `json:"at"`
	RequestID   string    `json:"request_id,omitempty"`
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Body        string    `json:"body,omitempty"`
	Code        string    `json:"code,omitempty"`
	Message     string    `json:"message,omitempty"`
	MessageID   string    `json:"message_id,omitempty"`
	Credits     int64     `json:"credits,omitempty"`
	// Warnings is stored in binary format 2 only (attemptRecord.binaryFormat);
	// records without it keep format 1.
	Warnings []string `json:"warnings,omitempty"`
}

func newAttemptRecord(a *wagate.Attempt) *attemptRecord {
	return &attemptRecord{
		At:          a.At,
		RequestID:   a.RequestID,
		RemoteAddr:  a.RemoteAddr,
		ContentType: a.ContentType,
		Body:        cutUTF8(a.Body, wagate.AttemptBodyLimit),
		Code:        a.Code,
		Message:     a.Message,
		MessageID:   a.MessageID,
		Credits:     a.Credits,
		Warnings:    a.Warnings,
	}
}

func (r *attemptRecord) domain() *wagate.Attempt {
	return &wagate.Attempt{
		At:          r.At,
		RequestID:   r.RequestID,
		RemoteAddr:  r.RemoteAddr,
		ContentType: r.ContentType,
		Body:        r.Body,
		Code:        r.Code,
		Message:     r.Message,
		MessageID:   r.MessageID,
		Credits:     r.Credits,
		Warnings:    r.Warnings,
	}
}

// tokenRecord is an admin token, keyed by its hash. Records written before
// tokens had ids hold only ws, role and created_at: their id is derived
// from the key (wagate.TokenID), their name and prefix are "".
type tokenRecord struct {
	WorkspaceID string      `json:"ws,omitempty"`
	Role        wagate.Role `json:"role"`
	CreatedAt   time.Time   `json:"created_at"`
	ID          string      `json:"id,omitempty"`
	Name        string      `json:"name,omitempty"`
	Prefix      string      `json:"prefix,omitempty"`
	LastUsedAt  time.Time   `json:"last_used_at,omitzero"`
}

type idempotencyRecord struct {
	BodyHash  []byte    `json:"body_hash"`
	MessageID string    `json:"message_id"`
	At        time.Time `json:"at"`
}

// Binary forms (codec.go). The fields are written in declaration order; a
// change of any record's field list needs a new format byte.

func (r *workspaceRecord) appendFields(b []byte) []byte {
	b = appendUint(b, r.Seq)
	b = appendString(b, r.ID)
	b = appendString(b, r.Name)
	b = appendInt(b, r.Balance)
	b = appendInt(b, r.Granted)
	b = appendString(b, r.Token)
	b = appendBool(b, r.Enabled)
	b = appendTime(b, r.TokenCreated)
	b = appendTime(b, r.CreatedAt)
	if r.LowCredits != 0 {
		b = appendInt(b, r.LowCredits)
	}
	return b
}

// binaryFormat picks the workspace's layout: format 2 adds LowCredits at
// the end; a workspace without a threshold is written in format 1, as
// before it existed.
func (r *workspaceRecord) binaryFormat() byte {
	if r.LowCredits != 0 {
		return binaryFormat2
	}
	return binaryFormat1
}

func (r *workspaceRecord) readFields(f *fieldReader) {
	r.Seq = f.uint()
	r.ID = f.string()
	r.Name = f.string()
	r.Balance = f.int()
	r.Granted = f.int()
	r.Token = f.string()
	r.Enabled = f.bool()
	r.TokenCreated = f.time()
	r.CreatedAt = f.time()
	if f.format >= binaryFormat2 {
		r.LowCredits = f.int()
	}
}

func (r *accountRecord) appendFields(b []byte) []byte {
	b = appendString(b, r.Phone)
	b = appendString(b, r.Transport)
	b = appendStringMap(b, r.Settings)
	b = appendBool(b, r.Active)
	b = appendTime(b, r.ConnectedAt)
	if r.binaryFormat() == binaryFormat1 {
		return b
	}
	q := r.Rules
	b = appendInt(b, int64(q.DailyLimit))
	b = appendInt(b, int64(q.Warmup.Start))
	b = appendUint(b, math.Float64bits(q.Warmup.Growth))
	b = appendBool(b, q.QuietHours.Set)
	b = appendInt(b, int64(q.QuietHours.From))
	b = appendInt(b, int64(q.QuietHours.To))
	b = appendString(b, q.TimeZone)
	b = appendInt(b, int64(q.SendInterval))
	b = appendInt(b, int64(q.SendJitter))
	if r.binaryFormat() == binaryFormat2 {
		return b
	}
	l := r.Link
	b = appendString(b, l.State)
	b = appendTime(b, l.Since)
	b = appendString(b, l.Error)
	return appendTime(b, l.Until)
}

// binaryFormat picks the account's layout: format 2 adds the careful-
// sending rules after ConnectedAt, format 3 the link state after them. An
// account without rules or link is written in format 1, byte for byte as
// before; one with rules and no link in format 2.
func (r *accountRecord) binaryFormat() byte {
	switch {
	case r.Link != (wagate.AccountLink{}):
		return binaryFormat3
	case !r.Rules.IsZero():
		return binaryFormat2
	}
	return binaryFormat1
}

func (r *accountRecord) readFields(f *fieldReader) {
	r.Phone = f.string()
	r.Transport = f.string()
	r.Settings = f.stringMap()
	r.Active = f.bool()
	r.ConnectedAt = f.time()
	if f.format >= binaryFormat2 {
		q := &r.Rules
		q.DailyLimit = int(f.int())
		q.Warmup.Start = int(f.int())
		q.Warmup.Growth = math.Float64frombits(f.uint())
		q.QuietHours.Set = f.bool()
		q.QuietHours.From = int(f.int())
		q.QuietHours.To = int(f.int())
		q.TimeZone = f.string()
		q.SendInterval = time.Duration(f.int())
		q.SendJitter = time.Duration(f.int())
	}
	if f.format >= binaryFormat3 {
		l := &r.Link
		l.State = f.string()
		l.Since = f.time()
		l.Error = f.string()
		l.Until = f.time()
	}
}

func (r *chatRecord) appendFields(b []byte) []byte {
	b = appendInt(b, r.ID)
	b = appendString(b, r.AccountPhone)
	b = appendString(b, r.JID)
	b = appendString(b, r.Name)
	b = appendBool(b, r.Group)
	return appendTime(b, r.CreatedAt)
}

func (r *chatRecord) readFields(f *fieldReader) {
	r.ID = f.int()
	r.AccountPhone = f.string()
	r.JID = f.string()
	r.Name = f.string()
	r.Group = f.bool()
	r.CreatedAt = f.time()
}

func (r *messageRecord) appendFields(b []byte) []byte {
	b = appendString(b, r.ID)
	b = appendString(b, r.WorkspaceID)
	b = appendString(b, string(r.Status))
	b = appendString(b, r.AccountPhone)
	b = appendInt(b, r.ChatID)
	b = appendString(b, r.JID)
	b = appendString(b, r.Text)
	b = appendString(b, r.FileURL)
	b = appendString(b, r.FileName)
	b = appendInt(b, r.Credits)
	b = appendString(b, r.Error)
	b = appendUint(b, uint64(len(r.Tries)))
	for _, t := range r.Tries {
		b = appendTime(b, t.At)
		b = appendString(b, t.Result)
		b = appendString(b, t.Class)
		b = appendString(b, t.Error)
		b = appendString(b, t.ProviderID)
	}
	b = appendTime(b, r.CreatedAt)
	b = appendTime(b, r.SentAt)
	b = appendUint(b, r.QueueSeq)
	b = appendTime(b, r.SendingAt)
	b = appendUint(b, r.Pos)
	b = appendTime(b, r.NextTryAt)
	b = appendTime(b, r.AccountConnectedAt)
	b = appendString(b, r.Delivery)
	b = appendTime(b, r.DeliveryAt)
	if r.binaryFormat() == binaryFormat2 {
		b = appendTime(b, r.SendAt)
		b = appendString(b, r.WaitingReason)
	}
	return b
}

// binaryFormat picks the message's layout: format 2 adds SendAt and
// WaitingReason at the end; a message with neither is written in format 1,
// byte for byte as before.
func (r *messageRecord) binaryFormat() byte {
	if r.SendAt.IsZero() && r.WaitingReason == "" {
		return binaryFormat1
	}
	return binaryFormat2
}

func (r *messageRecord) readFields(f *fieldReader) {
	r.ID = f.string()
	r.WorkspaceID = f.string()
	r.Status = wagate.MessageStatus(f.string())
	r.AccountPhone = f.string()
	r.ChatID = f.int()
	r.JID = f.string()
	r.Text = f.string()
	r.FileURL = f.string()
	r.FileName = f.string()
	r.Credits = f.int()
	r.Error = f.string()
	// Each try takes at least five bytes: a damaged count cannot make a
	// huge slice.
	if n := f.uint(); n > 0 && n <= uint64(len(f.b))/5 {
		r.Tries = make([]tryRecord, n)
		for i := range r.Tries {
			t := &r.Tries[i]
			t.At = f.time()
			t.Result = f.string()
			t.Class = f.string()
			t.Error = f.string()
			t.ProviderID = f.string()
		}
	} else if n > 0 {
		f.fail(errTruncated)
	}
	r.CreatedAt = f.time()
	r.SentAt = f.time()
	r.QueueSeq = f.uint()
	r.SendingAt = f.time()
	r.Pos = f.uint()
	r.NextTryAt = f.time()
	r.AccountConnectedAt = f.time()
	r.Delivery = f.string()
	r.DeliveryAt = f.time()
	if f.format >= binaryFormat2 {
		r.SendAt = f.time()
		r.WaitingReason = f.string()
	}
}

// binaryFormat picks the attempt's layout: format 2 adds Warnings after
// Credits. An attempt without warnings (nearly all of them) is still written
// in format 1, byte for byte as before, so a wagate from before format 2
// keeps reading those.
func (r *attemptRecord) binaryFormat() byte {
	if len(r.Warnings) > 0 {
		return binaryFormat2
	}
	return binaryFormat1
}

func (r *attemptRecord) appendFields(b []byte) []byte {
	b = appendTime(b, r.At)
	b = appendString(b, r.RequestID)
	b = appendString(b, r.RemoteAddr)
	b = appendString(b, r.ContentType)
	b = appendString(b, r.Body)
	b = appendString(b, r.Code)
	b = appendString(b, r.Message)
	b = appendString(b, r.MessageID)
	b = appendInt(b, r.Credits)
	if len(r.Warnings) > 0 {
		b = appendStrings(b, r.Warnings)
	}
	return b
}

func (r *attemptRecord) readFields(f *fieldReader) {
	r.At = f.time()
	r.RequestID = f.string()
	r.RemoteAddr = f.string()
	r.ContentType = f.string()
	r.Body = f.string()
	r.Code = f.string()
	r.Message = f.string()
	r.MessageID = f.string()
	r.Credits = f.int()
	if f.format >= binaryFormat2 {
		r.Warnings = f.strings()
	}
}

func (r *idempotencyRecord) appendFields(b []byte) []byte {
	b = appendBytes(b, r.BodyHash)
	b = appendString(b, r.MessageID)
	return appendTime(b, r.At)
}

func (r *idempotencyRecord) readFields(f *fieldReader) {
	r.BodyHash = f.bytes()
	r.MessageID = f.string()
	r.At = f.time()
}
