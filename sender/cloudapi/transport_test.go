package cloudapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

// fakeClock is the spacing clock of a test: Sleep records the wait and moves
// the time on, so no test waits for real.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// env is a transport wired to a fake Graph API, with its logs observed.
type env struct {
	t     *testing.T
	tr    *Transport
	fake  *graphfake.Server
	acct  *wagate.Account
	clock *fakeClock
	logs  *observer.ObservedLogs
	n     int
}

// newEnv starts a fake (validating sends against Meta's schema when
// graphfake.SpecFromEnv finds it) and a transport for it. cfg's zero fields
// get test values: no per-recipient spacing unless asked for, the fake
// clock, observed logs. At the end it checks that no log line holds the
// token.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	fake := graphfake.Start(t, graphfake.Options{Token: secretToken})
	core, logs := observer.New(zapcore.DebugLevel)
	e := &env{t: t, fake: fake, clock: &fakeClock{now: t0}, logs: logs}
	if cfg.RecipientGap == 0 {
		cfg.RecipientGap = -1
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
		cfg.Sleep = e.clock.Sleep
	}
	cfg.Logger = zap.New(core)
	cfg.BaseURLs = append(cfg.BaseURLs, fake.URL)
	e.tr = New(cfg)
	e.acct = &wagate.Account{WorkspaceID: "ws1", Phone: "+15550783881", Transport: wagate.TransportCloudAPI, Active: true, Settings: fake.Settings()}
	t.Cleanup(func() {
		for _, entry := range logs.All() {
			line := fmt.Sprintf("%s %v", entry.Message, entry.ContextMap())
			if strings.Contains(line, secretToken) {
				t.Errorf("a log line holds the access token: %s", line)
			}
		}
		for _, r := range fake.Invalid() {
			t.Errorf("the fake refused a %s request as Meta would: %s\nbody: %s", r.Edge, r.Invalid, r.Body)
		}
	})
	return e
}

func (e *env) message(jid, text string) *wagate.Message {
	e.n++
	return &wagate.Message{ID: fmt.Sprintf("wa_backend:%020X", e.n), WorkspaceID: "ws1", AccountPhone: e.acct.Phone, JID: jid, Text: text}
}

// send calls Send and checks what every error must be: free of the token.
func (e *env) send(ctx context.Context, m *wagate.Message, file *wagate.Attachment) (string, error) {
	e.t.Helper()
	res, err := e.tr.Send(ctx, e.acct, m, file)
	if err != nil && strings.Contains(err.Error(), secretToken) {
		e.t.Errorf("the error holds the access token: %v", err)
	}
	return res.ProviderID, err
}

const bob = "14155552671@s.whatsapp.net"

func TestSendText(t *testing.T) {
	e := newEnv(t, Config{})
	id, err := e.send(context.Background(), e.message(bob, "hello <b>&</b>\nsecond line"), nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if id != r.ID || !strings.HasPrefix(id, "wamid.") {
		t.Errorf("provider id %q, the fake answered %q", id, r.ID)
	}
	if !r.Authorized || r.Edge != graphfake.EdgeMessages || r.Version != "v23.0" || r.PhoneNumberID != graphfake.DefaultPhoneNumberID {
		t.Errorf("request %+v", r)
	}
	var got, want map[string]any
	json.Unmarshal(r.Body, &got)
	json.Unmarshal([]byte(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"14155552671","type":"text","text":{"body":"hello <b>&</b>\nsecond line"}}`), &want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("body %s", r.Body)
	}
}

// step is one request expected at the fake.
type step struct {
	edge     string
	upload   string // for media: the file part's and the type field's MIME type
	msgType  string // for messages
	caption  string
	filename string
	text     string
}

func TestSendMedia(t *testing.T) {
	long := strings.Repeat("a", MaxCaption+1)
	tests := []struct {
		name  string
		text  string
		file  *wagate.Attachment
		steps []step
	}{
		{"png with caption", "our logo", &wagate.Attachment{Name: "logo.png", ContentType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")},
			[]step{{edge: "media", upload: "image/png"}, {edge: "messages", msgType: "image", caption: "our logo"}}},
		{"mp4 with caption", "the clip", &wagate.Attachment{Name: "clip.mp4", ContentType: "video/mp4", Data: []byte("....ftypisomfake")},
			[]step{{edge: "media", upload: "video/mp4"}, {edge: "messages", msgType: "video", caption: "the clip"}}},
		{"ogg with text: two messages", "listen to this", &wagate.Attachment{Name: "voice.ogg", ContentType: "audio/ogg", Data: []byte("OggSfake")},
			[]step{{edge: "media", upload: "audio/ogg"}, {edge: "messages", msgType: "audio"}, {edge: "messages", msgType: "text", text: "listen to this"}}},
		{"pdf document with filename and caption", "your invoice", &wagate.Attachment{Name: "invoice 2026-05.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.7 fake")},
			[]step{{edge: "media", upload: "application/pdf"}, {edge: "messages", msgType: "document", caption: "your invoice", filename: "invoice 2026-05.pdf"}}},
		{"text file", "", &wagate.Attachment{Name: "notes.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("notes")},
			[]step{{edge: "media", upload: "text/plain"}, {edge: "messages", msgType: "document", filename: "notes.txt"}}},
		{"caption too long: text after the image", long, &wagate.Attachment{Name: "logo.jpg", ContentType: "image/jpeg", Data: []byte("\xff\xd8\xfffake")},
			[]step{{edge: "media", upload: "image/jpeg"}, {edge: "messages", msgType: "image"}, {edge: "messages", msgType: "text", text: long}}},
		{"webp as a document", "hi", &wagate.Attachment{Name: "s.webp", ContentType: "image/webp", Data: []byte("RIFF....WEBPfake")},
			[]step{{edge: "media", upload: "image/webp"}, {edge: "messages", msgType: "document", caption: "hi", filename: "s.webp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			id, err := e.send(context.Background(), e.message(bob, tt.text), tt.file)
			if err != nil {
				t.Fatal(err)
			}
			reqs := e.fake.Requests()
			if len(reqs) != len(tt.steps) {
				t.Fatalf("%d requests, want %d", len(reqs), len(tt.steps))
			}
			var mediaID string
			for i, st := range tt.steps {
				r := reqs[i]
				if r.Edge != st.edge || r.Status != http.StatusOK {
					t.Fatalf("request %d: %s answered %d, want %s", i, r.Edge, r.Status, st.edge)
				}
				if st.edge == "media" {
					if r.File.ContentType != st.upload || r.Form["type"] != st.upload || r.Form["messaging_product"] != "whatsapp" {
						t.Errorf("upload: part type %q, form %v; want %s", r.File.ContentType, r.Form, st.upload)
					}
					if string(r.File.Data) != string(tt.file.Data) {
						t.Errorf("uploaded %q", r.File.Data)
					}
					mediaID = r.ID
					continue
				}
				m := r.Message
				if m.Type != st.msgType || m.To != "14155552671" {
					t.Errorf("request %d: type %q to %q, want %q", i, m.Type, m.To, st.msgType)
				}
				if st.msgType == "text" {
					if m.Text == nil || m.Text.Body != st.text {
						t.Errorf("request %d: text %+v", i, m.Text)
					}
					continue
				}
				md := m.MediaOf()
				if md == nil || md.ID != mediaID || md.Caption != st.caption || md.Filename != st.filename {
					t.Errorf("request %d: media %+v, want id %s caption %q filename %q", i, md, mediaID, st.caption, st.filename)
				}
				if i == 1 && id != r.ID {
					t.Errorf("provider id %q, want the file's message %q", id, r.ID)
				}
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	png := &wagate.Attachment{Name: "logo.png", ContentType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")}
	tests := []struct {
		name      string
		failure   graphfake.Failure
		file      *wagate.Attachment
		class     string // permanent, transient, rate_limited
		delay     time.Duration
		has       []string
		messages  int // sends the fake saw
		wantIsErr error
	}{
		{name: "expired token", failure: graphfake.Failure{HTTPStatus: 401, Code: 190, Message: "Error validating access token: Session has expired"},
			class: "permanent", has: []string{"cloudapi: Error validating access token", "(code 190", "update the account's access_token"}, messages: 1},
		{name: "invalid parameter", failure: graphfake.Failure{Code: 100, Details: "Param text['body'] is required"},
			class: "permanent", has: []string{"Invalid parameter: Param text['body'] is required (code 100"}, messages: 1},
		{name: "undeliverable", failure: graphfake.Failure{Code: 131026},
			class: "permanent", has: []string{"Message undeliverable (code 131026", "not on WhatsApp"}, messages: 1},
		{name: "outside 24 hours", failure: graphfake.Failure{Code: 131047, Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
			class: "permanent", has: []string{"(code 131047", "24 hours", "only approved template messages", "ask the person to write first"}, messages: 1},
		{name: "throughput with Retry-After", failure: graphfake.Failure{Code: 130429, RetryAfter: "30"},
			class: "rate_limited", delay: 30 * time.Second, has: []string{"Rate limit hit (code 130429"}, messages: 1},
		{name: "throughput without Retry-After", failure: graphfake.Failure{Code: 130429},
			class: "transient", messages: 1},
		{name: "pair rate limit", failure: graphfake.Failure{Code: 131056},
			class: "rate_limited", delay: PairGap, has: []string{"pair rate limit hit (code 131056"}, messages: 1},
		{name: "service unavailable", failure: graphfake.Failure{HTTPStatus: 503, Code: 131016},
			class: "transient", has: []string{"(code 131016"}, messages: 1},
		{name: "500 without a body", failure: graphfake.Failure{HTTPStatus: 500},
			class: "transient", has: []string{"HTTP 500 Internal Server Error from the Graph API"}, messages: 1},
		// A send that went out unanswered may have been delivered: never
		// sent again, so never twice.
		{name: "timeout", failure: graphfake.Failure{Hang: true},
			class: "permanent", has: []string{"no answer came within", "may have been delivered", "not sent again"}, messages: 1, wantIsErr: errMaybeDelivered},
		// An upload that timed out delivered nothing: tried again.
		{name: "upload timeout", file: png, failure: graphfake.Failure{Edge: graphfake.EdgeMedia, Hang: true},
			class: "transient", has: []string{"no answer from the Graph API"}, messages: 0, wantIsErr: context.DeadlineExceeded},
		{name: "media upload refused", file: png, failure: graphfake.Failure{Edge: graphfake.EdgeMedia, Code: 131053},
			class: "permanent", has: []string{"Media upload error (code 131053"}, messages: 0},
		{name: "upload 500", file: png, failure: graphfake.Failure{Edge: graphfake.EdgeMedia, HTTPStatus: 502},
			class: "transient", messages: 0},
		{name: "media message refused", file: png, failure: graphfake.Failure{Edge: graphfake.EdgeMessages, Code: 131051},
			class: "permanent", has: []string{"(code 131051"}, messages: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Only the hanging cases wait out the request timeout, so only
			// they get a short one: a loaded machine must not turn an
			// answered call into a timeout.
			timeout := time.Minute
			if tt.failure.Hang {
				timeout = 100 * time.Millisecond
			}
			e := newEnv(t, Config{RequestTimeout: timeout})
			e.fake.FailNext(1, tt.failure)
			id, err := e.send(context.Background(), e.message(bob, "hi"), tt.file)
			if err == nil {
				t.Fatalf("Send succeeded with %q", id)
			}
			class := "transient"
			if sender.IsPermanent(err) {
				class = "permanent"
			} else if _, ok := sender.RetryDelay(err); ok {
				class = "rate_limited"
			}
			if class != tt.class {
				t.Errorf("class %s, want %s: %v", class, tt.class, err)
			}
			if d, _ := sender.RetryDelay(err); d != tt.delay {
				t.Errorf("retry delay %v, want %v", d, tt.delay)
			}
			for _, h := range tt.has {
				if !strings.Contains(err.Error(), h) {
					t.Errorf("error %q lacks %q", err, h)
				}
			}
			if tt.wantIsErr != nil && !errors.Is(err, tt.wantIsErr) {
				t.Errorf("error %v is not %v", err, tt.wantIsErr)
			}
			if n := len(e.fake.Messages()); n != tt.messages {
				t.Errorf("%d sends reached the fake, want %d", n, tt.messages)
			}
		})
	}
}

// TestAPIErrorIsReachable: callers can read Meta's code through the marks.
func TestAPIErrorIsReachable(t *testing.T) {
	e := newEnv(t, Config{})
	e.fake.FailNext(1, graphfake.Failure{Code: 131026})
	_, err := e.send(context.Background(), e.message(bob, "hi"), nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 131026 || ae.HTTPStatus != 400 || ae.FBTraceID == "" {
		t.Fatalf("APIError %+v from %v", ae, err)
	}
	// The debug log names the code and Meta's trace id, for support.
	found := false
	for _, l := range e.logs.FilterMessage("graph api call failed").All() {
		if l.ContextMap()["code"] == int64(131026) && l.ContextMap()["fbtrace_id"] == ae.FBTraceID {
			found = true
		}
	}
	if !found {
		t.Errorf("no debug line with the code and fbtrace_id: %v", e.logs.All())
	}
}

func TestRefusedBeforeCallingMeta(t *testing.T) {
	e := newEnv(t, Config{})
	file := &wagate.Attachment{Name: "a.png", ContentType: "image/png", Data: []byte("x")}
	tests := []struct {
		name string
		acct func(*wagate.Account)
		jid  string
		text string
		file *wagate.Attachment
		has  string
	}{
		{"group", nil, "120363025246125486@g.us", "hi", nil, "the cloudapi transport cannot send to groups (@g.us); use a WhatsApp Web transport"},
		{"group with a file", nil, "120363025246125486@g.us", "hi", file, "cannot send to groups"},
		{"lid", nil, "123456789012345@lid", "hi", nil, "the cloudapi transport cannot send to @lid addresses"},
		{"nothing to send", nil, bob, "", nil, "neither text nor a file"},
		{"empty file", nil, bob, "", &wagate.Attachment{Name: "e.pdf", ContentType: "application/pdf"}, "is empty"},
		{"no token", func(a *wagate.Account) { delete(a.Settings, SettingAccessToken) }, bob, "hi", nil, "access_token is missing"},
		{"bad phone number id", func(a *wagate.Account) { a.Settings[SettingPhoneNumberID] = "+1555" }, bob, "hi", nil, "phone_number_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := *e.acct
			acct.Settings = e.fake.Settings()
			acct.Settings[SettingAccessToken] = secretToken
			if tt.acct != nil {
				tt.acct(&acct)
			}
			_, err := e.tr.Send(context.Background(), &acct, e.message(tt.jid, tt.text), tt.file)
			if err != nil && strings.Contains(err.Error(), secretToken) {
				t.Errorf("the error holds the access token: %v", err)
			}
			if !sender.IsPermanent(err) || wagate.ErrorCode(err) != wagate.EINVALID || !strings.Contains(err.Error(), tt.has) {
				t.Errorf("Send = %v; want a permanent EINVALID error with %q", err, tt.has)
			}
		})
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Errorf("%d requests reached the fake", n)
	}
}

// TestRecipientSpacing drives the 6 s rule on the fake clock: a wait of up
// to 2 s happens inside Send; a longer one is handed back as a RetryAfter
// without calling Meta; other recipients are not held up.
func TestRecipientSpacing(t *testing.T) {
	e := newEnv(t, Config{RecipientGap: PairGap})
	ctx := context.Background()
	const ann = "14155552672@s.whatsapp.net"
	sends := func() int { return len(e.fake.Messages()) }

	if _, err := e.send(ctx, e.message(bob, "1"), nil); err != nil {
		t.Fatal(err)
	}
	// The account's next pace slot, 2 s later: Bob's turn is 4 s away.
	e.clock.Advance(2 * time.Second)
	_, err := e.send(ctx, e.message(bob, "2"), nil)
	if d, ok := sender.RetryDelay(err); !ok || d != 4*time.Second || !errors.Is(err, ErrRecipientTooSoon) || sender.IsPermanent(err) || !sender.IsDeferred(err) {
		t.Fatalf("too soon: %v (delay %v)", err, d)
	}
	if sends() != 1 {
		t.Fatalf("the too-soon send reached Meta")
	}
	// Ann is not held up by Bob's turn.
	if _, err := e.send(ctx, e.message(ann, "a"), nil); err != nil {
		t.Fatal(err)
	}
	// A second before Bob's turn: Send waits that second inside.
	e.clock.Advance(3 * time.Second)
	if _, err := e.send(ctx, e.message(bob, "2"), nil); err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Slept(); len(got) != 1 || got[0] != time.Second {
		t.Errorf("slept %v, want [1s]", got)
	}
	if sends() != 3 {
		t.Errorf("%d sends, want 3", sends())
	}
	// A file and its separate text to Ann count twice: her next turn is two
	// gaps away.
	e.clock.Advance(PairGap)
	audio := &wagate.Attachment{Name: "v.ogg", ContentType: "audio/ogg", Data: []byte("OggS")}
	if _, err := e.send(ctx, e.message(ann, "listen"), audio); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(PairGap)
	if _, err := e.send(ctx, e.message(ann, "b"), nil); !errors.Is(err, ErrRecipientTooSoon) {
		t.Errorf("after a burst of two: %v", err)
	}
	e.clock.Advance(PairGap)
	if _, err := e.send(ctx, e.message(ann, "b"), nil); err != nil {
		t.Errorf("after two gaps: %v", err)
	}

	// A deadline too near for the wait: handed back, nothing sent.
	e.clock.Advance(PairGap - time.Second)
	before := sends()
	dctx, cancel := context.WithDeadline(ctx, time.Now().Add(5*time.Second))
	defer cancel()
	if _, err := e.send(dctx, e.message(ann, "c"), nil); !errors.Is(err, ErrRecipientTooSoon) {
		t.Errorf("near deadline: %v", err)
	}
	// A context ended during the wait: handed back too.
	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	if _, err := e.send(cctx, e.message(ann, "c"), nil); !errors.Is(err, ErrRecipientTooSoon) {
		t.Errorf("cancelled: %v", err)
	}
	if sends() != before {
		t.Errorf("a held-back send reached Meta")
	}
}

// TestPairLimitFromMetaHoldsTheRecipient: after Meta's 131056 (another tool
// sent on the same number), the next send to that person waits without
// calling Meta.
func TestPairLimitFromMetaHoldsTheRecipient(t *testing.T) {
	e := newEnv(t, Config{RecipientGap: PairGap})
	e.fake.FailNext(1, graphfake.Failure{Code: 131056, RetryAfter: "20"})
	_, err := e.send(context.Background(), e.message(bob, "1"), nil)
	if d, _ := sender.RetryDelay(err); d != 20*time.Second {
		t.Fatalf("delay %v: %v", d, err)
	}
	e.clock.Advance(10 * time.Second)
	_, err = e.send(context.Background(), e.message(bob, "1"), nil)
	if d, _ := sender.RetryDelay(err); !errors.Is(err, ErrRecipientTooSoon) || d != 10*time.Second {
		t.Errorf("second try: %v (delay %v)", err, d)
	}
	if n := len(e.fake.Messages()); n != 1 {
		t.Errorf("%d sends reached Meta, want 1", n)
	}
}

// TestRetryResumesAHalfSentMessage: the audio went, its text failed; the
// next try sends only the text and returns the audio's wamid.
func TestRetryResumesAHalfSentMessage(t *testing.T) {
	e := newEnv(t, Config{})
	m := e.message(bob, "listen")
	audio := &wagate.Attachment{Name: "v.ogg", ContentType: "audio/ogg", Data: []byte("OggS")}
	e.fake.FailNext(1, graphfake.Failure{Edge: graphfake.EdgeMessages, Type: "text", Code: 131000})
	_, err := e.send(context.Background(), m, audio)
	if err == nil || sender.IsPermanent(err) || !strings.Contains(err.Error(), "the file went out (wamid.") {
		t.Fatalf("first try: %v", err)
	}
	audioID := e.fake.Messages()[0].ID
	id, err := e.send(context.Background(), m, audio)
	if err != nil {
		t.Fatal(err)
	}
	if id != audioID {
		t.Errorf("provider id %q, want the audio's %q", id, audioID)
	}
	var kinds []string
	for _, r := range e.fake.Requests() {
		k := r.Edge
		if r.Message != nil {
			k += ":" + r.Message.Type
		}
		kinds = append(kinds, k)
	}
	if got := strings.Join(kinds, " "); got != "media messages:audio messages:text messages:text" {
		t.Errorf("requests %s", got)
	}
	if len(e.tr.partial) != 0 {
		t.Errorf("progress kept after success: %v", e.tr.partial)
	}
}

// TestRetryReusesTheUpload: the image's send failed after its upload; the
// next try sends the same media id without uploading again.
func TestRetryReusesTheUpload(t *testing.T) {
	e := newEnv(t, Config{})
	m := e.message(bob, "")
	png := &wagate.Attachment{Name: "a.png", ContentType: "image/png", Data: []byte("\x89PNG")}
	e.fake.FailNext(1, graphfake.Failure{Edge: graphfake.EdgeMessages, Code: 130429})
	if _, err := e.send(context.Background(), m, png); err == nil {
		t.Fatal("no error")
	}
	if _, err := e.send(context.Background(), m, png); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Uploads()); n != 1 {
		t.Errorf("%d uploads, want 1", n)
	}
	msgs := e.fake.Messages()
	if len(msgs) != 2 || msgs[0].Message.Image.ID != msgs[1].Message.Image.ID {
		t.Errorf("sends %+v", msgs)
	}
	// A permanent failure forgets the message.
	m2 := e.message(bob, "")
	e.fake.FailNext(1, graphfake.Failure{Edge: graphfake.EdgeMessages, Code: 131053})
	if _, err := e.send(context.Background(), m2, png); !sender.IsPermanent(err) {
		t.Fatalf("%v", err)
	}
	if len(e.tr.partial) != 0 {
		t.Errorf("progress kept after a permanent failure: %v", e.tr.partial)
	}
}

// TestTokenNeverLeaks: Meta's texts that echo the token are cleaned, and no
// log line holds it (newEnv checks the logs at the end).
func TestTokenNeverLeaks(t *testing.T) {
	e := newEnv(t, Config{BaseURLs: []string{"http://127.0.0.1:1"}})
	e.fake.FailNext(1, graphfake.Failure{HTTPStatus: 401, Code: 190, Message: "Malformed access token " + secretToken, Details: "token " + secretToken + " is not valid"})
	_, err := e.send(context.Background(), e.message(bob, "hi"), nil)
	if err == nil || !strings.Contains(err.Error(), "Malformed access token [access token]") {
		t.Fatalf("%v", err)
	}
	// A wrong base_url: the network error names the host, not the token.
	acct := *e.acct
	acct.Settings = e.fake.Settings()
	acct.Settings[SettingBaseURL] = "http://127.0.0.1:1"
	_, err = e.tr.Send(context.Background(), &acct, e.message(bob, "hi"), nil)
	if err == nil || sender.IsPermanent(err) || strings.Contains(err.Error(), secretToken) || !strings.Contains(err.Error(), "cannot reach the Graph API at 127.0.0.1:1") {
		t.Errorf("unreachable: %v", err)
	}
	if len(e.logs.All()) == 0 {
		t.Error("no log line was written: the check is empty")
	}
}

// TestRedirectNotFollowed: a base_url that redirects does not get the token
// sent on to the redirect's target.
func TestRedirectNotFollowed(t *testing.T) {
	e := newEnv(t, Config{})
	var mu sync.Mutex
	var sawAuth []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	acct := *e.acct
	acct.Settings = e.fake.Settings()
	acct.Settings[SettingBaseURL] = redirector.URL
	tr := New(Config{RecipientGap: -1, BaseURLs: []string{redirector.URL}})
	_, err := tr.Send(context.Background(), &acct, e.message(bob, "hi"), nil)
	if !sender.IsPermanent(err) || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("Send = %v; want a permanent error about the redirect", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sawAuth) != 0 {
		t.Errorf("the redirect target was called %d times", len(sawAuth))
	}
}

// TestOddAnswers: answers that are not the Graph API's are capped and
// classified; an accepted send without an id is not sent again.
func TestOddAnswers(t *testing.T) {
	big := strings.Repeat("x", maxResponse+10)
	tests := []struct {
		name      string
		status    int
		body      string
		permanent bool
		has       string
	}{
		{"huge 500", 500, big, false, "HTTP 500"},
		{"huge 200", 200, big, true, "without a message id"},
		{"200 without id", 200, `{"messaging_product":"whatsapp","messages":[]}`, true, "may have been delivered"},
		{"html 404", 404, "<html>not found</html>", true, "check the account's base_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			tr := New(Config{RecipientGap: -1, BaseURLs: []string{srv.URL}})
			settings := goodSettings()
			settings[SettingBaseURL] = srv.URL
			_, err := tr.Send(context.Background(), &wagate.Account{Settings: settings}, &wagate.Message{ID: "m", JID: bob, Text: "hi"}, nil)
			if err == nil || sender.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.has) {
				t.Errorf("Send = %v (permanent %v); want permanent %v with %q", err, sender.IsPermanent(err), tt.permanent, tt.has)
			}
		})
	}
}
