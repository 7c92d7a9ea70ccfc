// Package graphfake is a local fake of the Graph API's WhatsApp Cloud API
// endpoints, for tests of the cloudapi transport and end-to-end tests of
// wagate. It speaks the documented wire format:
//
//	POST /{version}/{phone_number_id}/media     multipart upload → {"id":"<media id>"}
//	POST /{version}/{phone_number_id}/messages  JSON send → {"messaging_product","contacts","messages":[{"id":"wamid.…"}]}
//	GET  /{version}/{waba_id}/message_templates  the templates of Options.Templates, a page at a time
//
// It checks the bearer token, records every request, answers with wamids,
// and can be told to fail the next calls with a given Graph error code,
// HTTP status and Retry-After, or to hang until the client gives up.
//
// It holds the requests to Meta's rules, independently of the transport's
// own tables, so that a test through it catches a transport that breaks
// them: each send body is validated against the OpenAPI Message schema of
// Meta's published description (the one WAGATE_CLOUDAPI_SPEC names, else
// ../shared's when it is there: see SpecFromEnv), and against what the schema cannot say (the media id was
// uploaded, its type fits the message type, caption length and placement).
// Uploads must carry messaging_product=whatsapp, a type, and a file part
// whose Content-Type is the real type Meta accepts, never
// application/octet-stream. A request that breaks a rule gets Meta's answer
// to it (HTTP 400, code 100) and is recorded with the reason in
// Request.Invalid.
package graphfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Defaults of Options.
const (
	DefaultToken         = "graphfake-access-token-0123456789"
	DefaultPhoneNumberID = "106540352242922"
	DefaultVersion       = "v23.0"
)

// Edges of a phone number the fake serves.
const (
	EdgeMessages  = "messages"
	EdgeMedia     = "media"
	EdgeTemplates = "message_templates" // of the WABA, not of the phone number
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Token is the access token the fake accepts. "" means DefaultToken.
	Token string
	// PhoneNumberID is the only phone number id the fake knows. "" means
	// DefaultPhoneNumberID.
	PhoneNumberID string
	// Spec validates the send bodies. nil means the one SpecFromEnv finds,
	// if any (a set SpecEnv naming a missing file fails the test).
	Spec *Spec
	// NoSpec turns the schema validation off even when SpecEnv is set, for
	// tests of the fake's other rules.
	NoSpec bool
	// WABAID is the WhatsApp Business Account whose templates the fake
	// lists; "" means none (Settings then has no waba_id).
	WABAID string
	// Templates are the account's message templates: listed by
	// message_templates, and what every template send is checked against.
	Templates []Template
}

// Template is a message template as Meta lists it.
type Template struct {
	Name            string
	Language        string
	Status          string // "" means APPROVED
	Category        string // "" means UTILITY
	ParameterFormat string // "NAMED" or "" (POSITIONAL)
	Body            string // the body text, with {{1}} or {{name}} parameters
	HeaderFormat    string // "IMAGE", "VIDEO", "DOCUMENT", "TEXT" or "" (no header)
}

// Server is a running fake. Close it with the test (Start does).
type Server struct {
	URL           string // the base_url to give the transport
	Token         string
	PhoneNumberID string
	WABAID        string
	Spec          *Spec // nil when sends are not checked against the schema

	srv  *httptest.Server
	done chan struct{} // closed at Close: hanging handlers give up
	hung chan struct{} // a handler started hanging (for the fake's own test)

	mu    sync.Mutex
	reqs  []Request
	fails []Failure
	media map[string]string // media id → MIME type of the uploaded file
	seq   int
	tmpls []Template
}

// Request is one request the fake received, as it understood it.
type Request struct {
	Edge          string // EdgeMessages, EdgeMedia, or "" for another path
	Version       string
	PhoneNumberID string
	Authorized    bool   // the bearer token was the right one
	ContentType   string // of the request
	Body          []byte // the raw JSON of a send (an upload's is not kept)
	Message       *Message
	Form          map[string]string // an upload's plain fields
	File          *File             // an upload's file part
	Invalid       string            // why the fake refused the request as Meta would; "" when it was valid
	Injected      bool              // answered with a failure from FailNext
	Status        int               // the HTTP status answered ("hang" answers none: 0)
	ID            string            // the wamid or media id answered
	Response      []byte            // the body answered
}

// Message is a decoded send body: the fields wagate uses.
type Message struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Type             string `json:"type"`
	Text             *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *Media           `json:"image"`
	Video    *Media           `json:"video"`
	Audio    *Media           `json:"audio"`
	Document *Media           `json:"document"`
	Sticker  *Media           `json:"sticker"`
	Template *MessageTemplate `json:"template"`
}

// MessageTemplate is the template object of a template send.
type MessageTemplate struct {
	Name     string `json:"name"`
	Language struct {
		Policy string `json:"policy"`
		Code   string `json:"code"`
	} `json:"language"`
	Components []struct {
		Type       string `json:"type"`
		Parameters []struct {
			Type          string `json:"type"`
			ParameterName string `json:"parameter_name"`
			Text          string `json:"text"`
			Image         *Media `json:"image"`
			Video         *Media `json:"video"`
			Document      *Media `json:"document"`
		} `json:"parameters"`
	} `json:"components"`
}

// Media is the media object of a send.
type Media struct {
	ID       string `json:"id"`
	Link     string `json:"link"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

// MediaOf returns the media object of the message's type, nil for text.
func (m *Message) MediaOf() *Media {
	switch m.Type {
	case "image":
		return m.Image
	case "video":
		return m.Video
	case "audio":
		return m.Audio
	case "document":
		return m.Document
	case "sticker":
		return m.Sticker
	}
	return nil
}

// File is an uploaded file part.
type File struct {
	Name        string // the part's filename
	ContentType string // the part's Content-Type header
	Data        []byte
}

// Failure is an answer the fake gives instead of success (FailNext).
type Failure struct {
	// Edge limits the failure to one edge (EdgeMessages, EdgeMedia); ""
	// means the next call of either.
	Edge string
	// Type limits the failure to sends of one message type ("text",
	// "audio"…), to fail the second message of a wagate message.
	Type string
	// HTTPStatus of the answer; 0 means 400 with a Code, 500 without.
	HTTPStatus int
	// Code is the Graph error code of the JSON body; 0 means no body at
	// all, like a proxy's bare 500.
	Code int
	// Message is the error's message; "" means "(#Code) <Meta's title>".
	Message string
	// Details goes to error_data.details.
	Details string
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
	// Hang answers nothing until the client gives up (a timeout).
	Hang bool
}

// Start runs a fake for the test and closes it at the test's end. The
// send bodies are validated against opts.Spec, or the description
// SpecFromEnv finds; when SpecEnv is set but unusable the test fails.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{
		Token:         opts.Token,
		PhoneNumberID: opts.PhoneNumberID,
		Spec:          opts.Spec,
		done:          make(chan struct{}),
		hung:          make(chan struct{}, 16),
		media:         map[string]string{},
		WABAID:        opts.WABAID,
		tmpls:         append([]Template(nil), opts.Templates...),
	}
	if s.Token == "" {
		s.Token = DefaultToken
	}
	if s.PhoneNumberID == "" {
		s.PhoneNumberID = DefaultPhoneNumberID
	}
	if s.Spec == nil && !opts.NoSpec {
		spec, err := SpecFromEnv()
		if err != nil {
			t.Fatalf("graphfake: %s is set but unusable: %v", SpecEnv, err)
		}
		s.Spec = spec
	}
	if opts.NoSpec {
		s.Spec = nil
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the fake; hanging requests are let go first.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.srv.Close()
}

// Settings returns account settings that send through this fake.
func (s *Server) Settings() map[string]string {
	m := map[string]string{
		"phone_number_id": s.PhoneNumberID,
		"access_token":    s.Token,
		"api_version":     DefaultVersion,
		"base_url":        s.URL,
	}
	if s.WABAID != "" {
		m["waba_id"] = s.WABAID
	}
	return m
}

// SetTemplates replaces the account's templates (a template approved or
// rejected meanwhile).
func (s *Server) SetTemplates(ts []Template) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tmpls = append([]Template(nil), ts...)
}

func (s *Server) templates() []Template {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Template(nil), s.tmpls...)
}

// FailNext makes the next n calls (of f.Edge, or any) answer f.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, f)
	}
}

// Requests returns every request so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Messages returns the send requests so far, oldest first.
func (s *Server) Messages() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Edge == EdgeMessages {
			out = append(out, r)
		}
	}
	return out
}

// Uploads returns the upload requests so far, oldest first.
func (s *Server) Uploads() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Edge == EdgeMedia {
			out = append(out, r)
		}
	}
	return out
}

// Invalid returns the requests the fake refused as breaking Meta's rules.
func (s *Server) Invalid() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Invalid != "" {
			out = append(out, r)
		}
	}
	return out
}

var (
	rePath          = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([0-9]+)/(messages|media)$`)
	reTemplatesPath = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([0-9]+)/message_templates$`)
	reDigits        = regexp.MustCompile(`^[0-9]{1,32}$`)
	maxUpload       = int64(20 << 20)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req := Request{ContentType: r.Header.Get("Content-Type")}
	answer := func(status int, body any, header map[string]string) {
		var data []byte
		if body != nil {
			data, _ = json.Marshal(body)
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		w.Write(data)
		req.Status, req.Response = status, data
		s.record(req)
	}
	refuse := func(why string) {
		req.Invalid = why
		answer(http.StatusBadRequest, graphError(100, "(#100) Invalid parameter", "OAuthException", why), nil)
	}

	if tm := reTemplatesPath.FindStringSubmatch(r.URL.Path); tm != nil && r.Method == http.MethodGet {
		req.Version, req.Edge = tm[1], EdgeTemplates
		req.Authorized = r.Header.Get("Authorization") == "Bearer "+s.Token
		switch {
		case !req.Authorized:
			answer(http.StatusUnauthorized, graphError(190, "Invalid OAuth access token - Cannot parse access token", "OAuthException", ""), nil)
		case s.WABAID == "" || tm[2] != s.WABAID:
			req.Invalid = "unknown WhatsApp Business Account " + tm[2]
			answer(http.StatusBadRequest, graphError(100, fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist", tm[2]), "GraphMethodException", ""), nil)
		default:
			answer(http.StatusOK, s.templatePage(r.URL.Query()), nil)
		}
		return
	}
	m := rePath.FindStringSubmatch(r.URL.Path)
	if m != nil {
		req.Version, req.PhoneNumberID, req.Edge = m[1], m[2], m[3]
	}
	req.Authorized = r.Header.Get("Authorization") == "Bearer "+s.Token
	switch {
	case !req.Authorized:
		answer(http.StatusUnauthorized, graphError(190, "Invalid OAuth access token - Cannot parse access token", "OAuthException", ""), nil)
		return
	case m == nil || r.Method != http.MethodPost:
		req.Invalid = fmt.Sprintf("%s %s is not a Cloud API send or upload", r.Method, r.URL.Path)
		answer(http.StatusBadRequest, graphError(100, "Unknown path components: "+r.URL.Path, "OAuthException", ""), nil)
		return
	case req.PhoneNumberID != s.PhoneNumberID:
		req.Invalid = "unknown phone number id " + req.PhoneNumberID
		answer(http.StatusBadRequest, graphError(100, fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation", req.PhoneNumberID), "GraphMethodException", ""), nil)
		return
	}

	var why string
	if req.Edge == EdgeMedia {
		why = s.readUpload(r, &req)
	} else {
		why = s.readMessage(r, &req)
	}
	if why != "" {
		refuse(why)
		return
	}

	msgType := ""
	if req.Message != nil {
		msgType = req.Message.Type
	}
	if f, ok := s.takeFailure(req.Edge, msgType); ok {
		req.Injected = true
		if f.Hang {
			s.record(req)
			select {
			case s.hung <- struct{}{}:
			default:
			}
			select {
			case <-r.Context().Done():
			case <-s.done:
			}
			return
		}
		status := f.HTTPStatus
		if status == 0 {
			status = http.StatusBadRequest
			if f.Code == 0 {
				status = http.StatusInternalServerError
			}
		}
		hdr := map[string]string{}
		if f.RetryAfter != "" {
			hdr["Retry-After"] = f.RetryAfter
		}
		if f.Code == 0 {
			answer(status, nil, hdr)
			return
		}
		msg := f.Message
		if msg == "" {
			msg = fmt.Sprintf("(#%d) %s", f.Code, title(f.Code))
		}
		answer(status, graphError(f.Code, msg, "OAuthException", f.Details), hdr)
		return
	}

	if req.Edge == EdgeMedia {
		id := s.newMedia(req.File.ContentType)
		req.ID = id
		answer(http.StatusOK, map[string]string{"id": id}, nil)
		return
	}
	req.ID = s.newWAMID()
	answer(http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": req.Message.To, "wa_id": req.Message.To}},
		"messages":          []map[string]string{{"id": req.ID}},
	}, nil)
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
}

func (s *Server) takeFailure(edge, msgType string) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.fails {
		if (f.Edge == "" || f.Edge == edge) && (f.Type == "" || f.Type == msgType) {
			s.fails = append(s.fails[:i:i], s.fails[i+1:]...)
			return f, true
		}
	}
	return Failure{}, false
}

func (s *Server) newMedia(mimeType string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := strconv.Itoa(4490709327380000 + s.seq)
	s.media[id] = mimeType
	return id
}

func (s *Server) newWAMID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI%020d", s.seq)
}

func (s *Server) mediaType(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.media[id]
	return t, ok
}

// The types Meta's upload accepts, by the message type they can be sent as
// (developers.facebook.com, Cloud API, "Supported media types").
var (
	imageTypes    = []string{"image/jpeg", "image/png"}
	stickerTypes  = []string{"image/webp"}
	videoTypes    = []string{"video/mp4", "video/3gpp"}
	audioTypes    = []string{"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}
	documentTypes = []string{
		"text/plain", "application/pdf",
		"application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"application/vnd.ms-powerpoint", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	}
	// sizeLimits are Meta's per-type upload limits.
	sizeLimits = map[string]int{"image": 5 << 20, "sticker": 500 << 10, "video": 16 << 20, "audio": 16 << 20, "document": 100 << 20}
)

// typeClass returns the message type a MIME type uploads as, "" when Meta
// refuses it.
func typeClass(t string) string {
	for class, list := range map[string][]string{"image": imageTypes, "sticker": stickerTypes, "video": videoTypes, "audio": audioTypes, "document": documentTypes} {
		for _, x := range list {
			if x == t {
				return class
			}
		}
	}
	return ""
}

func allTypes() string {
	var all []string
	for _, l := range [][]string{audioTypes, documentTypes, imageTypes, stickerTypes, videoTypes} {
		all = append(all, l...)
	}
	return strings.Join(all, ", ")
}

// readUpload reads and checks an upload; it returns why it is refused.
func (s *Server) readUpload(r *http.Request, req *Request) string {
	mt, _, err := mime.ParseMediaType(req.ContentType)
	if err != nil || mt != "multipart/form-data" {
		return fmt.Sprintf("an upload must be multipart/form-data, not %q", req.ContentType)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return "unreadable multipart body: " + err.Error()
	}
	req.Form = map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "unreadable multipart body: " + err.Error()
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return "unreadable multipart body: " + err.Error()
		}
		if p.FormName() == "file" {
			req.File = &File{Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Data: data}
			continue
		}
		req.Form[p.FormName()] = string(data)
	}
	switch {
	case req.Form["messaging_product"] != "whatsapp":
		return fmt.Sprintf("messaging_product must be \"whatsapp\", got %q", req.Form["messaging_product"])
	case req.Form["type"] == "":
		return "the type field (the file's MIME type) is missing"
	case req.File == nil:
		return "the file part is missing"
	case req.File.Name == "":
		return "the file part has no filename"
	case len(req.File.Data) == 0:
		return "the file is empty"
	}
	ct := req.File.ContentType
	class := typeClass(ct)
	switch {
	case class == "":
		return fmt.Sprintf("Param file must be a file with one of the following types: %s. Received file of type '%s'.", allTypes(), ct)
	case req.Form["type"] != ct:
		return fmt.Sprintf("the type field %q differs from the file part's Content-Type %q", req.Form["type"], ct)
	case len(req.File.Data) > sizeLimits[class]:
		return fmt.Sprintf("a %s file may be at most %d bytes, got %d", class, sizeLimits[class], len(req.File.Data))
	}
	return ""
}

// readMessage reads and checks a send; it returns why it is refused.
func (s *Server) readMessage(r *http.Request, req *Request) string {
	if mt, _, _ := mime.ParseMediaType(req.ContentType); mt != "application/json" {
		return fmt.Sprintf("a send must be application/json, not %q", req.ContentType)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err != nil {
		return "unreadable body: " + err.Error()
	}
	req.Body = body
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return "the body is not a JSON message: " + err.Error()
	}
	req.Message = &m
	if s.Spec != nil {
		if err := s.Spec.Validate("Message", body); err != nil {
			return err.Error()
		}
	}
	switch {
	case m.MessagingProduct != "whatsapp":
		return fmt.Sprintf("messaging_product must be \"whatsapp\", got %q", m.MessagingProduct)
	case m.RecipientType != "individual":
		return fmt.Sprintf("recipient_type must be \"individual\" for a person, got %q", m.RecipientType)
	case !reDigits.MatchString(m.To):
		return fmt.Sprintf("to must be the recipient's phone number in digits, got %q", m.To)
	}
	if m.Type == "template" {
		return s.checkTemplateSend(&m)
	}
	if m.Type == "text" {
		switch {
		case m.Text == nil || m.Text.Body == "":
			return "a text message needs text.body"
		case utf8.RuneCountInString(m.Text.Body) > 4096:
			return "text.body is longer than 4096 characters"
		}
		return ""
	}
	md := m.MediaOf()
	if md == nil {
		return fmt.Sprintf("type %q needs its %q object", m.Type, m.Type)
	}
	uploaded, ok := s.mediaType(md.ID)
	switch {
	case md.ID == "":
		return "the media object needs the id of an uploaded file"
	case !ok:
		return fmt.Sprintf("media id %q was not uploaded to this phone number", md.ID)
	case typeClass(uploaded) != m.Type && m.Type != "document":
		return fmt.Sprintf("a %s message cannot carry a file of type %s", m.Type, uploaded)
	case md.Caption != "" && (m.Type == "audio" || m.Type == "sticker"):
		return fmt.Sprintf("a %s message takes no caption", m.Type)
	case utf8.RuneCountInString(md.Caption) > 1024:
		return "the caption is longer than 1024 characters"
	case md.Filename != "" && m.Type != "document":
		return "only a document has a filename"
	}
	return ""
}

// titles are Meta's titles of the codes tests use most.
var titles = map[int]string{
	4:      "Application request limit reached",
	100:    "Invalid parameter",
	131000: "Something went wrong",
	131008: "Required parameter is missing",
	131009: "Parameter value is not valid",
	131016: "Service unavailable",
	131026: "Message undeliverable",
	131047: "Re-engagement message",
	131048: "Spam rate limit hit",
	131051: "Unsupported message type",
	131053: "Media upload error",
	131056: "(Business Account, Consumer Account) pair rate limit hit",
	130429: "Rate limit hit",
	190:    "Invalid OAuth access token",
	80007:  "Rate limit issues",
}

func title(code int) string {
	if t, ok := titles[code]; ok {
		return t
	}
	return "Error"
}

func graphError(code int, message, typ, details string) map[string]any {
	e := map[string]any{
		"message":    message,
		"type":       typ,
		"code":       code,
		"fbtrace_id": "AfakeTrace" + strconv.Itoa(code),
	}
	if details != "" {
		e["error_data"] = map[string]string{"messaging_product": "whatsapp", "details": details}
	}
	return map[string]any{"error": e}
}

// Status is one status update for StatusWebhook.
type Status struct {
	ID           string // the wamid
	Status       string // "sent", "delivered", "read", "failed"
	At           time.Time
	RecipientID  string
	ErrorCode    int // for failed
	ErrorTitle   string
	ErrorDetails string
}

// StatusWebhook returns the body Meta posts to a webhook to report statuses
// of messages sent from phoneNumberID, in Meta's format (one entry, one
// change of field "messages").
func StatusWebhook(phoneNumberID string, statuses ...Status) []byte {
	var list []map[string]any
	for _, st := range statuses {
		m := map[string]any{
			"id":           st.ID,
			"status":       st.Status,
			"timestamp":    strconv.FormatInt(st.At.Unix(), 10),
			"recipient_id": st.RecipientID,
		}
		if st.Status == "sent" || st.Status == "delivered" {
			m["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
		}
		if st.ErrorCode != 0 {
			m["errors"] = []map[string]any{{
				"code":       st.ErrorCode,
				"title":      st.ErrorTitle,
				"message":    st.ErrorTitle,
				"error_data": map[string]string{"details": st.ErrorDetails},
				"href":       "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
			}}
		}
		list = append(list, m)
	}
	body, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []map[string]any{{
			"id": "102290129340398",
			"changes": []map[string]any{{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]string{"display_phone_number": "15550783881", "phone_number_id": phoneNumberID},
					"statuses":          list,
				},
			}},
		}},
	})
	return body
}

// Sign returns the X-Hub-Signature-256 header value Meta would send with
// body: "sha256=" and the hex HMAC-SHA256 under appSecret.
func Sign(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
