package cloudapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// Defaults of Config.
const (
	// DefaultRequestTimeout bounds one Graph API call, a 2 MB upload
	// included.
	DefaultRequestTimeout = 60 * time.Second
	// maxResponse caps what is read of an answer: Meta's are a few hundred
	// bytes, and a misconfigured base_url must not make wagate read a
	// gigabyte.
	maxResponse = 1 << 20
	// DefaultRecipientMaxWait is about one pace interval of an account
	// (sender.DefaultInterval): waiting that long inside Send costs the
	// account's other recipients nothing they would not wait anyway.
	DefaultRecipientMaxWait = 2 * time.Second
	// progressTTL is how long the state of a half-sent message (file
	// uploaded, or sent without its text yet) is kept for its next try: the
	// sender's retries end well within it.
	progressTTL = 6 * time.Hour
)

var _ sender.Transport = (*Transport)(nil)

// edgeMessages is the Graph API edge that sends a message; "media" uploads.
const edgeMessages = "messages"

// Config tunes a Transport. The zero value is usable.
type Config struct {
	// HTTPClient makes the Graph API calls. nil means a client with
	// connect, TLS and header timeouts. Redirects are never followed, with
	// any client: the bearer token must not go to another host (a copy of
	// the client is changed, never the one given).
	HTTPClient *http.Client
	// RequestTimeout bounds one call, when HTTPClient has no Timeout of its
	// own. 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// RecipientGap is the least time between two messages of one business
	// number to the same person. 0 means PairGap (6 s, Meta's pair rate
	// limit); a negative value means no spacing (tests that send to one
	// recipient in a row).
	RecipientGap time.Duration
	// RecipientMaxWait is the longest Send waits inside for the recipient's
	// turn; a longer wait is handed back to the sender with sender.Defer
	// (see Send). 0 means DefaultRecipientMaxWait; a negative value means never
	// wait inside.
	RecipientMaxWait time.Duration
	// Logger gets a debug line per Graph API call (edge, HTTP status,
	// Meta's code and fbtrace_id, duration; never the token or a text).
	// nil means zap.NewNop().
	Logger *zap.Logger
	// Now and Sleep are the clock of the per-recipient spacing; nil means
	// the real one. Sleep waits d or until ctx is done, whichever is first,
	// and returns ctx's error in the second case.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// BaseURLs are the base_url settings accounts may use besides
	// DefaultBaseURL: a Graph API proxy the operator runs, or a test fake.
	// Any other base_url is refused when the account is connected and at
	// each send.
	BaseURLs []string
}

// Transport sends messages through Meta's WhatsApp Business Cloud API. It is
// safe for concurrent use: one Transport serves every cloudapi account.
type Transport struct {
	client *http.Client
	log    *zap.Logger
	gap    time.Duration
	wait   time.Duration // longest wait inside Send
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	pairs  pairs
	// baseURLs are the allowed base_url values, normalized as parseSettings
	// normalizes a setting.
	baseURLs map[string]bool

	mu      sync.Mutex
	partial map[string]progress // by wagate message id
}

// progress is what a message that did not finish has done already, so its
// next try neither uploads the file again nor repeats a message that went.
type progress struct {
	phoneNumberID string    // the state holds for this number only
	mediaID       string    // the uploaded file
	fileSent      string    // wamid of the file's message, once it went
	at            time.Time // when recorded, for the sweep
}

// New returns a Transport.
func New(cfg Config) *Transport {
	timeout := cfg.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	var client http.Client
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	} else {
		client = http.Client{Transport: newHTTPTransport()}
	}
	if client.Timeout == 0 {
		client.Timeout = timeout
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	gap := cfg.RecipientGap
	switch {
	case gap == 0:
		gap = PairGap
	case gap < 0:
		gap = 0
	}
	wait := cfg.RecipientMaxWait
	switch {
	case wait == 0:
		wait = DefaultRecipientMaxWait
	case wait < 0:
		wait = 0
	}
	t := &Transport{
		client:   &client,
		log:      cfg.Logger,
		gap:      gap,
		wait:     wait,
		now:      cfg.Now,
		sleep:    cfg.Sleep,
		partial:  map[string]progress{},
		baseURLs: map[string]bool{DefaultBaseURL: true},
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	t.log = t.log.Named("cloudapi")
	for _, raw := range cfg.BaseURLs {
		base, err := CheckBaseURL(raw)
		if err != nil {
			t.log.Error("ignoring an allowed base URL", zap.Error(err))
			continue
		}
		t.baseURLs[base] = true
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.sleep == nil {
		t.sleep = sleepCtx
	}
	return t
}

func newHTTPTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 30 * time.Second
	// Every account talks to the same host: keep enough connections warm
	// that a busy second does not open new ones for each send.
	tr.MaxIdleConnsPerHost = 32
	return tr
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// Send hands m to the Cloud API from the account's business number and
// returns the wamid of the message (of the file's message when the text goes
// separately). The steps:
//
//  1. Check the settings and the recipient: wrong settings, a group (@g.us)
//     or an @lid address fail permanently, before any call (see
//     ValidateSettings, CheckRecipient).
//  2. With a file: upload it (POST /media).
//  3. Wait for the recipient's turn (below).
//  4. With a file: send it by its media id as image, video, audio
//     or document (see mediaKind), with the text as its caption when the
//     type takes one and the text fits MaxCaption; otherwise the text
//     follows as a text message of its own (see plan). Without a file: one
//     text message.
//
// Per-recipient spacing. Meta allows about one message every 6 s from a
// business number to the same person (error 131056). Send keeps RecipientGap
// between two sends to one person; a send of a file and its separate text
// counts twice, the two going as a burst, which Meta allows by borrowing
// from the pair's next turn. When the turn has not come:
//
//   - at most RecipientMaxWait (2 s) away, and ctx's deadline leaves time
//     for the send after it: Send waits for it inside. That is about one
//     pace interval of the account, so the account's other recipients lose
//     little, and no try is recorded for a wait;
//   - further away (typically 4 s, when two consecutive messages of an
//     account go to one person), or too near the deadline: Send returns
//     sender.Defer(ErrRecipientTooSoon, wait) without calling Meta, and
//     books nothing. The sender puts the message back at its place in the
//     account's FIFO, due after the wait; Queue.Next then skips it and every
//     later message to the same person, while the account's messages to
//     other people go on at the account's pace. So one person's messages
//     keep their order, and a burst to one person does not hold up the
//     whole account. Such a wait is not a failed try: it uses up none of
//     the message's retries (sender.Defer).
//
// Errors follow the package documentation's table: sender.Permanent for
// what no retry can fix, sender.RetryAfter for rate limits with a delay,
// plain errors for the other transient ones (5xx, a connection that could
// not be made). A send whose request went out but got no answer (a timeout,
// a connection cut) may have reached Meta, and the Cloud API has no
// idempotency key: it fails as permanent, saying it may have been
// delivered, rather than risk sending it twice (the crash policy's rule).
// A message whose upload, or whose file's message, went but
// whose next step failed is remembered for a while (in memory), so its next
// try neither uploads again nor repeats what went. No error text holds the
// access token.
//
// The Result's PostedAt is when the first message request of the send went
// out (after an upload and the recipient's turn), so the account's pace
// runs from there; it is set even when the send then fails.
func (t *Transport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (sender.Result, error) {
	var res sender.Result
	id, err := t.send(ctx, acct, m, file, &res.PostedAt)
	res.ProviderID = id
	return res, err
}

// send is Send; it records in *posted when the first message request goes
// out.
func (t *Transport) send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment, posted *time.Time) (string, error) {
	s, err := t.settings(acct.Settings)
	if err != nil {
		return "", sender.Permanent(err)
	}
	to, err := recipient(m.JID)
	if err != nil {
		return "", sender.Permanent(err)
	}
	if m.Template != nil {
		return t.sendTemplate(ctx, s, m, to, file, posted)
	}
	switch {
	case file == nil && m.Text == "":
		return "", sender.Permanent(wagate.Errorf(wagate.EINVALID, "cloudapi: the message has neither text nor a file; nothing to send"))
	case file != nil && len(file.Data) == 0:
		return "", sender.Permanent(wagate.Errorf(wagate.EINVALID, "cloudapi: the file %q is empty; WhatsApp does not send empty files", file.Name))
	}
	log := t.log.With(zap.String("message_id", m.ID), zap.String("phone_number_id", s.phoneNumberID))
	key := pairKey{phoneNumberID: s.phoneNumberID, to: to}

	var mimeType, kind, caption string
	separate := file == nil // a text-only message is the "separate" text
	if file != nil {
		mimeType = mimeTypeOf(file.ContentType)
		kind = mediaKind(mimeType)
		caption, separate = plan(kind, m.Text)
	}

	pr := t.progressOf(m.ID, s.phoneNumberID)
	if file != nil && pr.fileSent == "" && pr.mediaID == "" {
		id, err := t.upload(ctx, s, log, mimeType, file)
		if err != nil {
			return "", err
		}
		pr.mediaID = id
		t.remember(m.ID, pr)
	}

	parts := 0
	if file != nil && pr.fileSent == "" {
		parts++
	}
	if separate {
		parts++
	}
	if err := t.awaitTurn(ctx, log, key, parts); err != nil {
		return "", err
	}

	if file != nil && pr.fileSent == "" {
		out := outMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, Type: kind}
		ref := &mediaRef{ID: pr.mediaID, Caption: caption}
		if kind == kindDocument {
			ref.Filename = documentName(file.Name)
		}
		out.setMedia(kind, ref)
		id, err := t.message(ctx, s, log, key, &out, posted)
		if err != nil {
			if sender.IsPermanent(err) {
				t.forget(m.ID)
			}
			return "", err
		}
		if !separate {
			t.forget(m.ID)
			return id, nil
		}
		pr.fileSent = id
		t.remember(m.ID, pr)
	}

	out := outMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, Type: "text", Text: &textBody{Body: m.Text}}
	id, err := t.message(ctx, s, log, key, &out, posted)
	if err != nil {
		if sender.IsPermanent(err) {
			t.forget(m.ID)
		}
		if pr.fileSent != "" {
			return "", fmt.Errorf("cloudapi: the file went out (%s) but its text did not: %w", pr.fileSent, err)
		}
		return "", err
	}
	t.forget(m.ID)
	if pr.fileSent != "" {
		return pr.fileSent, nil
	}
	return id, nil
}

// documentName is the name a document shows; Meta wants one.
func documentName(name string) string {
	if strings.TrimSpace(name) == "" {
		return "file"
	}
	return name
}

// awaitTurn waits for the recipient's turn (see Send) and books it for a
// send of n messages.
func (t *Transport) awaitTurn(ctx context.Context, log *zap.Logger, key pairKey, n int) error {
	if t.gap <= 0 {
		return nil
	}
	for {
		now := t.now()
		// The deadline in the spacing clock's frame (the same as the real
		// one, but for tests on a fake clock).
		var deadline time.Time
		if d, ok := ctx.Deadline(); ok {
			deadline = now.Add(time.Until(d))
		}
		wait, inline := t.pairs.take(key, now, n, t.gap, t.wait, deadline)
		if wait <= 0 {
			return nil
		}
		if !inline {
			log.Debug("recipient's turn is too far; giving the message back", zap.Duration("retry_after", wait))
			return sender.Defer(ErrRecipientTooSoon, wait)
		}
		log.Debug("waiting for the recipient's turn", zap.Duration("wait", wait))
		if err := t.sleep(ctx, wait); err != nil {
			return sender.Defer(ErrRecipientTooSoon, wait)
		}
	}
}

// progressOf returns the remembered state of a message on this number, and
// sweeps out old entries.
func (t *Transport) progressOf(id, phoneNumberID string) progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for k, p := range t.partial {
		if now.Sub(p.at) > progressTTL {
			delete(t.partial, k)
		}
	}
	if p, ok := t.partial[id]; ok && p.phoneNumberID == phoneNumberID {
		return p
	}
	return progress{phoneNumberID: phoneNumberID}
}

func (t *Transport) remember(id string, p progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p.at = t.now()
	t.partial[id] = p
}

func (t *Transport) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.partial, id)
}

// outMessage is the body of POST /{phone_number_id}/messages.
type outMessage struct {
	MessagingProduct string    `json:"messaging_product"`
	RecipientType    string    `json:"recipient_type"`
	To               string    `json:"to"`
	Type             string    `json:"type"`
	Text             *textBody `json:"text,omitempty"`
	Image            *mediaRef `json:"image,omitempty"`
	Video            *mediaRef `json:"video,omitempty"`
	Audio            *mediaRef `json:"audio,omitempty"`
	Document         *mediaRef `json:"document,omitempty"`
	// Template is a template message's body (template.go).
	Template *templateBody `json:"template,omitempty"`
}

type textBody struct {
	Body string `json:"body"`
}

type mediaRef struct {
	ID       string `json:"id"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

func (o *outMessage) setMedia(kind string, r *mediaRef) {
	switch kind {
	case kindImage:
		o.Image = r
	case kindVideo:
		o.Video = r
	case kindAudio:
		o.Audio = r
	default:
		o.Document = r
	}
}

// sendAnswer is the success answer of POST /messages.
type sendAnswer struct {
	MessagingProduct string `json:"messaging_product"`
	Contacts         []struct {
		Input string `json:"input"`
		WaID  string `json:"wa_id"`
	} `json:"contacts"`
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}

// message posts one message and returns its wamid. *posted, when still
// zero, becomes the moment the request goes out: the account's pace runs
// from there, not from when Send was called (an upload or the recipient's
// turn may come first).
func (t *Transport) message(ctx context.Context, s settings, log *zap.Logger, key pairKey, out *outMessage, posted *time.Time) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return "", sender.Permanent(fmt.Errorf("cloudapi: encode the message: %w", err))
	}
	var ans sendAnswer
	if posted.IsZero() {
		*posted = time.Now()
	}
	status, err := t.call(ctx, s, log, "messages", buf.Bytes(), "application/json", &ans)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == 131056 {
			d, _ := sender.RetryDelay(err)
			t.pairs.hold(key, t.now().Add(max(d, t.gap)))
		}
		return "", err
	}
	if len(ans.Messages) == 0 || ans.Messages[0].ID == "" {
		// Meta took the request: the message may well be on its way, so a
		// retry could deliver it twice. Fail it and say so.
		return "", sender.Permanent(fmt.Errorf("cloudapi: the Graph API answered HTTP %d without a message id; the message may have been delivered, so it is not sent again; check the conversation in WhatsApp", status))
	}
	return ans.Messages[0].ID, nil
}

// upload posts the file to /media and returns its media id.
func (t *Transport) upload(ctx context.Context, s settings, log *zap.Logger, mimeType string, file *wagate.Attachment) (string, error) {
	body, ct, err := uploadForm(mimeType, file.Name, file.Data)
	if err != nil {
		return "", sender.Permanent(fmt.Errorf("cloudapi: build the upload of %q: %w", file.Name, err))
	}
	var ans struct {
		ID string `json:"id"`
	}
	status, err := t.call(ctx, s, log, "media", body, ct, &ans)
	if err != nil {
		return "", err
	}
	if ans.ID == "" {
		// Nothing was delivered: uploading again is harmless.
		return "", fmt.Errorf("cloudapi: the Graph API answered the upload of %q with HTTP %d but no media id; it will be tried again", file.Name, status)
	}
	return ans.ID, nil
}

// call makes one POST to an edge of the phone number and decodes a success
// answer into out. Errors are classified (see classify) and free of the
// token.
func (t *Transport) call(ctx context.Context, s settings, log *zap.Logger, edge string, body []byte, contentType string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint(edge), bytes.NewReader(body))
	if err != nil {
		return 0, sender.Permanent(fmt.Errorf("cloudapi: build the request: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wagate")

	// Whether the request was written decides what a failure means: a
	// send that went out may have been delivered.
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	}))
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		err = t.networkError(ctx, s, edge, err, wrote.Load())
		log.Debug("graph api call failed", zap.String("edge", edge), zap.Duration("duration", time.Since(start)), zap.Error(err))
		return 0, err
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	fields := []zap.Field{zap.String("edge", edge), zap.Int("http_status", resp.StatusCode), zap.Duration("duration", time.Since(start))}
	if rerr != nil {
		err := fmt.Errorf("cloudapi: reading the Graph API's answer to %s (HTTP %d) failed: %w; the message will be tried again", edge, resp.StatusCode, rerr)
		if edge == edgeMessages && resp.StatusCode < 300 {
			err = sender.Permanent(fmt.Errorf("cloudapi: Meta took the message (HTTP %d) but its answer could not be read (%v); it may have been delivered, so it is not sent again", resp.StatusCode, rerr))
		}
		log.Debug("graph api call failed", append(fields, zap.Error(err))...)
		return resp.StatusCode, err
	}
	if len(data) > maxResponse {
		data = nil // not an answer of the Graph API: classified by status alone
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// An answer that is not the expected JSON leaves out empty: the
		// callers see no id and decide, since Meta took the request.
		if data == nil || json.Unmarshal(data, out) != nil {
			log.Debug("graph api answer is not the expected JSON", fields...)
		} else {
			log.Debug("graph api call", fields...)
		}
		return resp.StatusCode, nil
	}

	var g graphError
	if data != nil && json.Unmarshal(data, &g) == nil && g.Error != nil {
		g.Error.Message = redact(g.Error.Message, s.token)
		g.Error.ErrorData.Details = redact(g.Error.ErrorData.Details, s.token)
		g.Error.Type = redact(g.Error.Type, s.token)
		g.Error.FBTraceID = redact(g.Error.FBTraceID, s.token)
	}
	ra, hasRA := sender.ParseRetryAfter(resp.Header.Get("Retry-After"), t.now(), maxRetryAfter)
	err = classify(resp.StatusCode, &g, ra, hasRA)
	var ae *APIError
	if errors.As(err, &ae) {
		fields = append(fields, zap.Int("code", ae.Code), zap.String("fbtrace_id", ae.FBTraceID))
	}
	log.Debug("graph api call failed", append(fields, zap.Bool("permanent", sender.IsPermanent(err)), zap.Error(err))...)
	return resp.StatusCode, err
}

// networkError describes a call that got no answer. It is transient (the
// network or Meta may be back at the next try), except a message send whose
// request was written: Meta may have delivered it, and sending it again
// could deliver it twice, so it fails and says so.
func (t *Transport) networkError(ctx context.Context, s settings, edge string, err error, written bool) error {
	what := "POST " + edge
	var ue *url.Error
	if edge == edgeMessages && written {
		why := "the connection broke"
		switch {
		case ctx.Err() != nil:
			why = "wagate stopped waiting"
		case errors.As(err, &ue) && ue.Timeout():
			why = fmt.Sprintf("no answer came within %s", t.client.Timeout)
		}
		return sender.Permanent(fmt.Errorf("cloudapi: %s: the message was handed to the Graph API but %s; it may have been delivered, so it is not sent again automatically (to never send it twice): %w", what, why, errMaybeDelivered))
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("cloudapi: %s: gave up waiting for the Graph API: %w; the message will be tried again", what, ctx.Err())
	case errors.As(err, &ue) && ue.Timeout():
		return fmt.Errorf("cloudapi: %s: no answer from the Graph API within %s: %w; the message will be tried again", what, t.client.Timeout, context.DeadlineExceeded)
	}
	host := s.base
	if u, perr := url.Parse(s.base); perr == nil {
		host = u.Host
	}
	cause := err
	if errors.As(err, &ue) {
		cause = ue.Err // the URL is said once, as the host
	}
	return fmt.Errorf("cloudapi: %s: cannot reach the Graph API at %s: %s; the message will be tried again", what, host, redact(cause.Error(), s.token))
}
