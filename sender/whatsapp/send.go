//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"fmt"
	"mime"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// Send hands m to WhatsApp through the account's session and returns the
// WhatsApp message id (MessageID(m.ID)). An account whose session is not
// connected gets sender.Unavailable: its messages wait without spending a
// retry until the session is connected again.
// See the package documentation for the error classes.
func (m *Manager) Send(ctx context.Context, acct *wagate.Account, msg *wagate.Message, file *wagate.Attachment) (sender.Result, error) {
	ref := acct.Ref()
	s := m.session(ref)
	if err := m.unavailable(ref, s); err != nil {
		return sender.Result{}, err
	}
	out, err := m.send(ctx, ref, s.cli, typingFor(acct, m.cfg.TypingLimit), msg, file)
	return sender.Result{ProviderID: out.id, PostedAt: out.postedAt}, err
}

// sent is what send did: the WhatsApp id of the message and when its
// first part was handed to the client (zero when nothing was), from which
// the sender counts the account's gap.
type sent struct {
	id       string
	postedAt time.Time
}

// unavailable is the sender.Unavailable error of an account that cannot
// send now, nil when it can: the message goes back to its place with no
// retry spent, and the account waits until its session calls the wake
// function StartAccount was given (connected again), or the sender's
// backstop passes.
func (m *Manager) unavailable(ref wagate.AccountRef, s *session) error {
	if s == nil {
		l := m.Status(ref)
		return sender.Unavailable(fmt.Errorf("whatsapp: account %s is %s (no session): the message waits until the account is linked and started", ref.Phone, l))
	}
	l := s.status()
	switch l.State {
	case StateConnected:
		return nil
	case StateBanned:
		if !l.Until.IsZero() {
			return sender.Unavailable(fmt.Errorf("whatsapp: account %s is banned by WhatsApp until %s; the message waits", ref.Phone, l.Until.UTC().Format(time.RFC3339)))
		}
		return sender.Unavailable(fmt.Errorf("whatsapp: account %s is banned by WhatsApp for a while; the message waits", ref.Phone))
	}
	return sender.Unavailable(fmt.Errorf("whatsapp: account %s is %s; the message waits", ref.Phone, l))
}

// typingFor is the typing pause of the account's messages: the setting
// "typing" = "true" and a limit, else none.
func typingFor(acct *wagate.Account, limit time.Duration) time.Duration {
	if acct.Settings[SettingTyping] != "true" {
		return 0
	}
	return limit
}

// send is the whole send of one message on one client: recipient, typing,
// upload, the message, the optional separate text. It is a function of its
// arguments so that the sender's rework (Result, sessions) can call it as
// it is.
func (m *Manager) send(ctx context.Context, ref wagate.AccountRef, cli Client, typing time.Duration, msg *wagate.Message, file *wagate.Attachment) (sent, error) {
	var out sent
	to, err := m.recipient(ctx, ref, cli, msg.JID)
	if err != nil {
		return out, err
	}
	waID := MessageID(msg.ID)
	done, err := m.led.lookup(ctx, ref, waID)
	if err != nil {
		return out, err
	}
	// A message the server took already (its separate text failed, or the
	// outcome was not stored) is never sent again.
	firstDone := ledgerRank[done] >= ledgerRank[ledgerAcked]

	if typing > 0 && !firstDone {
		m.typing(ctx, cli, to, TypingDuration(msg.Text, typing))
	}
	content, textApart, err := m.build(ctx, cli, msg, file, firstDone)
	if err != nil {
		return out, err
	}
	if !firstDone {
		if err := m.post(ctx, ref, cli, to, waID, content, &out.postedAt); err != nil {
			return out, err
		}
	}
	if textApart {
		if err := m.post(ctx, ref, cli, to, textMessageID(msg.ID), &waE2E.Message{Conversation: proto.String(msg.Text)}, &out.postedAt); err != nil {
			return out, err
		}
	}
	out.id = waID
	return out, nil
}

// post records the send in the ledger, then sends; see classifySend. It
// sets *postedAt, when still zero, to the moment of the hand-over.
func (m *Manager) post(ctx context.Context, ref wagate.AccountRef, cli Client, to types.JID, waID string, content *waE2E.Message, postedAt *time.Time) error {
	if k, err := m.led.lookup(ctx, ref, waID); err != nil {
		return err
	} else if ledgerRank[k] >= ledgerRank[ledgerAcked] {
		return nil
	}
	if err := m.led.posting(ctx, ref, waID, m.cfg.Now()); err != nil {
		return err // nothing went out: a plain, transient error
	}
	if postedAt.IsZero() {
		*postedAt = m.cfg.Now()
	}
	_, err := cli.SendMessage(ctx, to, content, whatsmeow.SendRequestExtra{ID: waID})
	if err == nil {
		if lerr := m.led.seen(context.WithoutCancel(ctx), ref, waID, ledgerAcked, m.cfg.Now()); lerr != nil {
			m.log.Warn("cannot record a sent message in the ledger", zap.String("account", ref.Phone), zap.Error(lerr))
		}
		return nil
	}
	if _, refused := serverCode(err); refused {
		_ = m.led.seen(context.WithoutCancel(ctx), ref, waID, ledgerRefused, m.cfg.Now())
	}
	return classifySend(err)
}

// typing shows "typing…" for d; failures only cost the indicator.
func (m *Manager) typing(ctx context.Context, cli Client, to types.JID, d time.Duration) {
	if err := cli.SendChatPresence(ctx, to, types.ChatPresenceComposing, types.ChatPresenceMediaText); err != nil {
		m.log.Debug("typing indicator not shown", zap.Error(err))
		return
	}
	_ = m.cfg.Sleep(ctx, d)
}

// Media kinds a file is sent as.
type mediaKind int

const (
	kindDocument mediaKind = iota
	kindImage
	kindVideo
	kindAudio
)

// kindOf maps the sniffed content type to the message kind, as WhatsApp's
// apps do: JPEG and PNG are images, MP4 and 3GPP videos, the audio formats
// WhatsApp plays are audio, anything else (PDF, Office, WebP…) a document.
func kindOf(contentType string) (mediaKind, string) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	switch mt {
	case "image/jpeg", "image/png":
		return kindImage, mt
	case "video/mp4", "video/3gpp":
		return kindVideo, mt
	case "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg":
		return kindAudio, mt
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	return kindDocument, contentType
}

var mediaTypes = map[mediaKind]whatsmeow.MediaType{
	kindImage: whatsmeow.MediaImage, kindVideo: whatsmeow.MediaVideo,
	kindAudio: whatsmeow.MediaAudio, kindDocument: whatsmeow.MediaDocument,
}

// build returns the message content: the text alone, or the uploaded file
// with the text as caption. Audio takes no caption: textApart says the
// text goes as a second message. With skipFile (the file's message went
// already) nothing is uploaded.
func (m *Manager) build(ctx context.Context, cli Client, msg *wagate.Message, file *wagate.Attachment, skipFile bool) (content *waE2E.Message, textApart bool, err error) {
	if file == nil {
		return &waE2E.Message{Conversation: proto.String(msg.Text)}, false, nil
	}
	kind, mimeType := kindOf(file.ContentType)
	textApart = kind == kindAudio && msg.Text != ""
	if skipFile {
		return nil, textApart, nil
	}
	up, err := cli.Upload(ctx, file.Data, mediaTypes[kind])
	if err != nil {
		return nil, false, classifyBefore(fmt.Errorf("whatsapp: uploading the file: %w", err))
	}
	var caption *string
	if msg.Text != "" && kind != kindAudio {
		caption = proto.String(msg.Text)
	}
	return mediaMessage(kind, mimeType, file.Name, caption, up), textApart, nil
}

// mediaMessage puts an upload into the message of its kind.
func mediaMessage(kind mediaKind, mimeType, name string, caption *string, up whatsmeow.UploadResponse) *waE2E.Message {
	switch kind {
	case kindImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			Caption: caption, Mimetype: proto.String(mimeType),
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
		}}
	case kindVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			Caption: caption, Mimetype: proto.String(mimeType),
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
		}}
	case kindAudio:
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			Mimetype: proto.String(mimeType),
			URL:      proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
		}}
	}
	if name == "" {
		name = "file"
	}
	return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
		Caption: caption, Mimetype: proto.String(mimeType), FileName: proto.String(name), Title: proto.String(name),
		URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
		FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
	}}
}

// recipient returns the JID to send to: a group or @lid as given; a phone
// number checked with WhatsApp once per RecipientTTL (its canonical JID).
// Not on WhatsApp is permanent.
func (m *Manager) recipient(ctx context.Context, ref wagate.AccountRef, cli Client, raw string) (types.JID, error) {
	jid, err := types.ParseJID(raw)
	if err != nil || jid.User == "" {
		return types.JID{}, sender.Permanent(fmt.Errorf("whatsapp: recipient %q is not a JID; write <digits>@s.whatsapp.net, <id>@g.us or <id>@lid", raw))
	}
	switch jid.Server {
	case types.GroupServer, types.HiddenUserServer:
		return jid, nil
	case types.DefaultUserServer, types.LegacyUserServer:
	default:
		return types.JID{}, sender.Permanent(fmt.Errorf("whatsapp: recipient %q: wagate sends to @s.whatsapp.net, @g.us and @lid", raw))
	}
	now := m.cfg.Now()
	if e, ok := m.recip.get(ref, jid.User, now); ok {
		if !e.on {
			return types.JID{}, notOnWhatsApp(jid.User)
		}
		return e.jid, nil
	}
	res, err := cli.IsOnWhatsApp(ctx, []string{"+" + jid.User})
	if err != nil {
		return types.JID{}, classifyBefore(fmt.Errorf("whatsapp: checking that +%s is on WhatsApp: %w", jid.User, err))
	}
	e := recipientEntry{at: now}
	for _, r := range res {
		if r.IsIn && !r.JID.IsEmpty() {
			e.on, e.jid = true, r.JID.ToNonAD()
			break
		}
	}
	m.recip.put(ref, jid.User, e)
	if !e.on {
		return types.JID{}, notOnWhatsApp(jid.User)
	}
	return e.jid, nil
}

func notOnWhatsApp(digits string) error {
	return sender.Permanent(fmt.Errorf("whatsapp: +%s is not on WhatsApp; check the number (with its country code)", digits))
}

// Confirm answers for a message a stop caught in sending, from the ledger:
// never handed to the client → NotDelivered; the server or a phone
// confirmed it → Delivered; handed over with no word yet → it waits for
// the session to connect (WhatsApp sends the receipts it holds on connect)
// and then for a receipt of it, at most Config.ConfirmGrace, within ctx;
// still nothing → DeliveryUnknown (the message fails as interrupted, never
// resent). A receipt ends the wait at once: the sender recovers one message
// after another before it sends anything.
func (m *Manager) Confirm(ctx context.Context, acct *wagate.Account, msg *wagate.Message) (sender.Delivery, string, error) {
	ref := acct.Ref()
	waID := MessageID(msg.ID)
	k, err := m.led.lookup(ctx, ref, waID)
	if err != nil {
		return sender.DeliveryUnknown, "", err
	}
	if d, ok := ledgerAnswer(k); ok {
		return d, providerIDFor(d, waID), nil
	}
	s := m.session(ref)
	if s == nil || !s.waitConnected(ctx) {
		return sender.DeliveryUnknown, "", nil
	}
	graceCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	graceOver := make(chan struct{})
	go func() {
		_ = m.cfg.Sleep(graceCtx, m.cfg.ConfirmGrace)
		close(graceOver)
	}()
	for {
		seen := m.receiptSeen()
		if k, err = m.led.lookup(context.WithoutCancel(ctx), ref, waID); err != nil {
			return sender.DeliveryUnknown, "", err
		}
		if d, ok := ledgerAnswer(k); ok {
			return d, providerIDFor(d, waID), nil
		}
		select {
		case <-seen:
		case <-graceOver:
			return sender.DeliveryUnknown, "", nil
		}
	}
}

// ConfirmsAcrossReplicas reports whether Confirm can answer for a send
// made by another replica (sender.SharedConfirmer): it can when the send
// ledger is in the database the replicas share (Config.DatabaseURL), where
// every replica writes "posting" before it hands a message to its client
// and the server's answer after; with the SQLite file of one process, it
// cannot.
func (m *Manager) ConfirmsAcrossReplicas() bool { return m.cfg.DatabaseURL != "" }

// receiptSeen returns a channel closed at the next receipt recorded.
func (m *Manager) receiptSeen() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.receipts
}

// receiptRecorded wakes the Confirms waiting for a receipt.
func (m *Manager) receiptRecorded() {
	m.mu.Lock()
	close(m.receipts)
	m.receipts = make(chan struct{})
	m.mu.Unlock()
}

func ledgerAnswer(kind string) (sender.Delivery, bool) {
	switch kind {
	case ledgerNone, ledgerRefused:
		return sender.NotDelivered, true
	case ledgerPosting:
		return sender.DeliveryUnknown, false
	}
	return sender.Delivered, true
}

func providerIDFor(d sender.Delivery, waID string) string {
	if d == sender.Delivered {
		return waID
	}
	return ""
}

// receipt records WhatsApp's receipts of messages wagate sent and reports
// delivered and read; a copy reaching one of the account's own devices
// only confirms the send (Confirm).
func (m *Manager) receipt(s *session, e *events.Receipt) {
	var kind, status string
	switch e.Type {
	case types.ReceiptTypeDelivered:
		kind, status = ledgerDelivered, StatusDelivered
	case types.ReceiptTypeRead, types.ReceiptTypePlayed:
		kind, status = ledgerRead, StatusRead
	case types.ReceiptTypeSender:
		kind = ledgerPeer
	default:
		return
	}
	if e.IsFromMe && e.Type != types.ReceiptTypeSender {
		return // the account read a message on its phone: not about ours
	}
	ctx := context.Background()
	for _, id := range e.MessageIDs {
		k, err := m.led.lookup(ctx, s.ref, id)
		if err != nil || k == ledgerNone {
			continue // not sent by wagate
		}
		if err := m.led.seen(ctx, s.ref, id, kind, e.Timestamp); err != nil {
			m.log.Warn("cannot record a receipt", zap.String("account", s.ref.Phone), zap.Error(err))
		}
		m.receiptRecorded()
		if status != "" && m.cfg.OnReceipt != nil && ledgerRank[kind] > ledgerRank[k] {
			m.cfg.OnReceipt(Receipt{Account: s.ref, ProviderID: id, Status: status, At: e.Timestamp.UTC()})
		}
	}
}

// textMessageID is the id of the second message of a send whose text goes
// apart from its file (audio): derived too, so it is never sent twice
// either.
func textMessageID(wagateID string) string { return MessageID(wagateID + "#text") }
