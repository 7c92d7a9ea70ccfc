//go:build !nowhatsapp

package whatsapptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
)

// The loopback fake lets a test play WhatsApp for a wagate it runs as a
// separate process (so that it can kill it with SIGKILL): the test serves
// its WhatsApp with Serve, the process (a binary built with the test-only
// tag wagatefakewa, see cmd/wagate/fakewa.go) gets its clients from Dial.
// Each remote client is a Client of the test's WhatsApp: the test drives it
// as it drives an in-process one (ShowQR, Pair, Connected, Receipt,
// HoldAcks…), and what the process handed over stays in the test's
// WhatsApp when the process dies. The wire is HTTP on 127.0.0.1: one
// streamed answer per client carries its events in order, one request per
// call carries the rest; a call the process was making when it died ends
// with its connection.

// EnvAddr names the variable that gives a binary built with the tag
// wagatefakewa the address of the test's Server.
const EnvAddr = "WAGATE_TEST_FAKE_WHATSAPP"

// Server serves a WhatsApp to wagate processes on 127.0.0.1.
type Server struct {
	w   *WhatsApp
	ln  net.Listener
	srv *http.Server

	mu      sync.Mutex
	clients map[string]*served
	next    int
}

// served is one remote client: the fake device and its event stream.
type served struct {
	c    *Client
	out  *eventWriter
	done <-chan struct{} // the stream ended: the process closed it or died
}

// Serve listens on 127.0.0.1 and serves w until Close.
func (w *WhatsApp) Serve() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{w: w, ln: ln, clients: map[string]*served{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /clients", s.newClient)
	mux.HandleFunc("POST /clients/{id}/{op}", s.call)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address for EnvAddr.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving; streams and held calls end.
func (s *Server) Close() error { return s.srv.Close() }

// Wire shapes.
type (
	newClientRequest struct {
		Workspace string `json:"workspace"`
		Phone     string `json:"phone"`
		Linked    bool   `json:"linked"`
	}
	// wireEvent is one line of a client's stream: the first says the
	// client's id, the others an event or a QR channel item.
	wireEvent struct {
		Type        string        `json:"type"`
		ID          string        `json:"id,omitempty"`
		QREvent     string        `json:"qr_event,omitempty"`
		Code        string        `json:"code,omitempty"`
		Timeout     time.Duration `json:"timeout,omitempty"`
		Error       string        `json:"error,omitempty"`
		JID         string        `json:"jid,omitempty"`
		MessageIDs  []string      `json:"message_ids,omitempty"`
		ReceiptType string        `json:"receipt_type,omitempty"`
		FromMe      bool          `json:"from_me,omitempty"`
		At          time.Time     `json:"at,omitzero"`
		Reason      int           `json:"reason,omitempty"`
		OnConnect   bool          `json:"on_connect,omitempty"`
		Expire      time.Duration `json:"expire,omitempty"`
	}
	callRequest struct {
		Phone   string   `json:"phone,omitempty"`
		Phones  []string `json:"phones,omitempty"`
		To      string   `json:"to,omitempty"`
		ID      string   `json:"id,omitempty"`
		Message []byte   `json:"message,omitempty"`
	}
	callAnswer struct {
		Error     string     `json:"error,omitempty"`
		Connected bool       `json:"connected,omitempty"`
		LoggedIn  bool       `json:"logged_in,omitempty"`
		Code      string     `json:"code,omitempty"`
		Results   []wireOnWA `json:"results,omitempty"`
		ID        string     `json:"id,omitempty"`
		At        time.Time  `json:"at,omitzero"`
	}
	wireOnWA struct {
		Query string `json:"query"`
		IsIn  bool   `json:"is_in"`
		JID   string `json:"jid,omitempty"`
	}
)

// Error words of the wire for the errors wagate tells apart.
const (
	wireNotConnected = "not_connected"
	wireTimedOut     = "timed_out"
)

func errorWord(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, whatsmeow.ErrNotConnected):
		return wireNotConnected
	case errors.Is(err, whatsmeow.ErrMessageTimedOut):
		return wireTimedOut
	}
	return err.Error()
}

func wordError(w string) error {
	switch w {
	case "":
		return nil
	case wireNotConnected:
		return whatsmeow.ErrNotConnected
	case wireTimedOut:
		return whatsmeow.ErrMessageTimedOut
	}
	return errors.New(w)
}

// eventWriter writes a stream's lines, one at a time, flushed, until the
// stream's handler returns (close): the ResponseWriter is not to be used
// after that.
type eventWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	f      http.Flusher
	closed bool
}

func (e *eventWriter) send(ev wireEvent) {
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if _, err := e.w.Write(append(b, '\n')); err == nil {
		e.f.Flush()
	}
}

func (e *eventWriter) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
}

// newClient makes a device for the process and streams its events until
// the process goes.
func (s *Server) newClient(w http.ResponseWriter, r *http.Request) {
	var req newClientRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no streaming", http.StatusInternalServerError)
		return
	}
	c := s.w.NewClient(wagate.AccountRef{WorkspaceID: req.Workspace, Phone: req.Phone}, req.Linked).(*Client)
	out := &eventWriter{w: w, f: f}
	sv := &served{c: c, out: out, done: r.Context().Done()}
	s.mu.Lock()
	s.next++
	id := strconv.Itoa(s.next)
	s.clients[id] = sv
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-ndjson")
	hid := c.AddEventHandler(func(evt any) {
		if ev, ok := encodeEvent(evt); ok {
			out.send(ev)
		}
	})
	out.send(wireEvent{Type: "client", ID: id})
	<-r.Context().Done()
	out.close()
	c.RemoveEventHandler(hid)
	c.Disconnect() // the process is gone: so is its connection
	s.mu.Lock()
	delete(s.clients, id)
	s.mu.Unlock()
}

// call runs one method of a remote client's device.
func (s *Server) call(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sv := s.clients[r.PathValue("id")]
	s.mu.Unlock()
	if sv == nil {
		http.Error(w, "no such client", http.StatusNotFound)
		return
	}
	var req callRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, c := r.Context(), sv.c
	var ans callAnswer
	switch r.PathValue("op") {
	case "connect":
		ans.Error = errorWord(c.Connect())
	case "disconnect":
		c.Disconnect()
	case "logout":
		ans.Error = errorWord(c.Logout(ctx))
	case "state":
		ans.Connected, ans.LoggedIn = c.IsConnected(), c.IsLoggedIn()
	case "qr":
		ch, err := c.GetQRChannel(ctx)
		if err != nil {
			ans.Error = errorWord(err)
			break
		}
		go forwardQR(ch, sv)
	case "pair_phone":
		code, err := c.PairPhone(ctx, req.Phone, true, whatsmeow.PairClientChrome, "")
		ans.Code, ans.Error = code, errorWord(err)
	case "is_on_whatsapp":
		res, err := c.IsOnWhatsApp(ctx, req.Phones)
		ans.Error = errorWord(err)
		for _, x := range res {
			ans.Results = append(ans.Results, wireOnWA{Query: x.Query, IsIn: x.IsIn, JID: x.JID.String()})
		}
	case "send":
		to, err := types.ParseJID(req.To)
		if err != nil {
			ans.Error = err.Error()
			break
		}
		msg := &waE2E.Message{}
		if err := proto.Unmarshal(req.Message, msg); err != nil {
			ans.Error = err.Error()
			break
		}
		res, err := c.SendMessage(ctx, to, msg, whatsmeow.SendRequestExtra{ID: req.ID})
		ans.ID, ans.At, ans.Error = res.ID, res.Timestamp, errorWord(err)
	default:
		http.Error(w, "no such call", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

// forwardQR passes the QR channel's items to the process, until the
// channel or the stream ends.
func forwardQR(ch <-chan whatsmeow.QRChannelItem, sv *served) {
	for {
		select {
		case item, ok := <-ch:
			if !ok {
				return
			}
			ev := wireEvent{Type: "qr", QREvent: item.Event, Code: item.Code, Timeout: item.Timeout}
			if item.Error != nil {
				ev.Error = item.Error.Error()
			}
			sv.out.send(ev)
		case <-sv.done:
			return
		}
	}
}

// encodeEvent puts the events the Manager handles on the wire.
func encodeEvent(evt any) (wireEvent, bool) {
	switch e := evt.(type) {
	case *events.Connected:
		return wireEvent{Type: "connected"}, true
	case *events.Disconnected:
		return wireEvent{Type: "disconnected"}, true
	case *events.LoggedOut:
		return wireEvent{Type: "logged_out", OnConnect: e.OnConnect, Reason: int(e.Reason)}, true
	case *events.TemporaryBan:
		return wireEvent{Type: "temporary_ban", Reason: int(e.Code), Expire: e.Expire}, true
	case *events.ClientOutdated:
		return wireEvent{Type: "client_outdated"}, true
	case *events.ConnectFailure:
		return wireEvent{Type: "connect_failure", Reason: int(e.Reason), Error: e.Message}, true
	case *events.StreamReplaced:
		return wireEvent{Type: "stream_replaced"}, true
	case *events.PairSuccess:
		return wireEvent{Type: "pair_success", JID: e.ID.String()}, true
	case *events.Receipt:
		return wireEvent{Type: "receipt", MessageIDs: e.MessageIDs, ReceiptType: string(e.Type), FromMe: e.IsFromMe, At: e.Timestamp}, true
	}
	return wireEvent{}, false
}

// decodeEvent is encodeEvent's inverse.
func decodeEvent(ev wireEvent) (any, bool) {
	switch ev.Type {
	case "connected":
		return &events.Connected{}, true
	case "disconnected":
		return &events.Disconnected{}, true
	case "logged_out":
		return &events.LoggedOut{OnConnect: ev.OnConnect, Reason: events.ConnectFailureReason(ev.Reason)}, true
	case "temporary_ban":
		return &events.TemporaryBan{Code: events.TempBanReason(ev.Reason), Expire: ev.Expire}, true
	case "client_outdated":
		return &events.ClientOutdated{}, true
	case "connect_failure":
		return &events.ConnectFailure{Reason: events.ConnectFailureReason(ev.Reason), Message: ev.Error}, true
	case "stream_replaced":
		return &events.StreamReplaced{}, true
	case "pair_success":
		jid, err := types.ParseJID(ev.JID)
		if err != nil {
			return nil, false
		}
		return &events.PairSuccess{ID: jid}, true
	case "receipt":
		r := &events.Receipt{MessageIDs: ev.MessageIDs, Type: types.ReceiptType(ev.ReceiptType), Timestamp: ev.At}
		r.IsFromMe = ev.FromMe
		return r, true
	}
	return nil, false
}

// Dial returns the whatsapp.Config.NewClient of a process whose WhatsApp
// is the Server at addr.
func Dial(addr string) func(ref wagate.AccountRef, linked bool) whatsapp.Client {
	base := "http://" + addr
	hc := &http.Client{}
	return func(ref wagate.AccountRef, linked bool) whatsapp.Client {
		rc := &remoteClient{base: base, hc: hc, handlers: map[uint32]whatsmeow.EventHandler{}, qr: make(chan whatsmeow.QRChannelItem, 16)}
		rc.err = rc.open(ref, linked)
		return rc
	}
}

// remoteClient is a process's side of a served Client.
type remoteClient struct {
	base string
	hc   *http.Client
	id   string
	err  error // the stream could not be opened: every call fails with it
	qr   chan whatsmeow.QRChannelItem

	mu       sync.Mutex
	handlers map[uint32]whatsmeow.EventHandler
	nextID   uint32
}

var _ whatsapp.Client = (*remoteClient)(nil)

// open asks the Server for a device and reads its stream from then on.
func (rc *remoteClient) open(ref wagate.AccountRef, linked bool) error {
	body, _ := json.Marshal(newClientRequest{Workspace: ref.WorkspaceID, Phone: ref.Phone, Linked: linked})
	resp, err := rc.hc.Post(rc.base+"/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("whatsapptest: the fake WhatsApp at %s: %w", rc.base, err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var first wireEvent
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &first) != nil || first.ID == "" {
		resp.Body.Close()
		return fmt.Errorf("whatsapptest: the fake WhatsApp at %s answered no client (%s)", rc.base, resp.Status)
	}
	rc.id = first.ID
	go func() {
		defer resp.Body.Close()
		for sc.Scan() {
			var ev wireEvent
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			if ev.Type == "qr" {
				item := whatsmeow.QRChannelItem{Event: ev.QREvent, Code: ev.Code, Timeout: ev.Timeout}
				if ev.Error != "" {
					item.Error = errors.New(ev.Error)
				}
				rc.qr <- item
				continue
			}
			if evt, ok := decodeEvent(ev); ok {
				rc.emit(evt)
			}
		}
	}()
	return nil
}

// emit calls the handlers in the order they were added, as whatsmeow does.
func (rc *remoteClient) emit(evt any) {
	rc.mu.Lock()
	ids := make([]uint32, 0, len(rc.handlers))
	for id := range rc.handlers {
		ids = append(ids, id)
	}
	rc.mu.Unlock()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		rc.mu.Lock()
		h := rc.handlers[id]
		rc.mu.Unlock()
		if h != nil {
			h(evt)
		}
	}
}

// do runs op on the served device.
func (rc *remoteClient) do(ctx context.Context, op string, req callRequest) (callAnswer, error) {
	if rc.err != nil {
		return callAnswer{}, rc.err
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, rc.base+"/clients/"+rc.id+"/"+op, bytes.NewReader(body))
	if err != nil {
		return callAnswer{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := rc.hc.Do(hr)
	if err != nil {
		return callAnswer{}, fmt.Errorf("whatsapptest: %s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return callAnswer{}, fmt.Errorf("whatsapptest: %s: %s", op, resp.Status)
	}
	var ans callAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return callAnswer{}, fmt.Errorf("whatsapptest: %s: %w", op, err)
	}
	return ans, wordError(ans.Error)
}

func (rc *remoteClient) Connect() error {
	_, err := rc.do(context.Background(), "connect", callRequest{})
	return err
}

func (rc *remoteClient) Disconnect() { _, _ = rc.do(context.Background(), "disconnect", callRequest{}) }

func (rc *remoteClient) Logout(ctx context.Context) error {
	_, err := rc.do(ctx, "logout", callRequest{})
	return err
}

func (rc *remoteClient) IsConnected() bool {
	ans, err := rc.do(context.Background(), "state", callRequest{})
	return err == nil && ans.Connected
}

func (rc *remoteClient) IsLoggedIn() bool {
	ans, err := rc.do(context.Background(), "state", callRequest{})
	return err == nil && ans.LoggedIn
}

func (rc *remoteClient) GetQRChannel(ctx context.Context) (<-chan whatsmeow.QRChannelItem, error) {
	if _, err := rc.do(ctx, "qr", callRequest{}); err != nil {
		return nil, err
	}
	return rc.qr, nil
}

func (rc *remoteClient) PairPhone(ctx context.Context, phone string, _ bool, _ whatsmeow.PairClientType, _ string) (string, error) {
	ans, err := rc.do(ctx, "pair_phone", callRequest{Phone: phone})
	return ans.Code, err
}

func (rc *remoteClient) IsOnWhatsApp(ctx context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error) {
	ans, err := rc.do(ctx, "is_on_whatsapp", callRequest{Phones: phones})
	if err != nil {
		return nil, err
	}
	out := make([]types.IsOnWhatsAppResponse, 0, len(ans.Results))
	for _, r := range ans.Results {
		x := types.IsOnWhatsAppResponse{Query: r.Query, IsIn: r.IsIn}
		if r.JID != "" {
			if jid, err := types.ParseJID(r.JID); err == nil {
				x.JID = jid
			}
		}
		out = append(out, x)
	}
	return out, nil
}

func (rc *remoteClient) SendMessage(ctx context.Context, to types.JID, message *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	if len(extra) != 1 || extra[0].ID == "" {
		return whatsmeow.SendResponse{}, errors.New("whatsapptest: SendMessage without an explicit id")
	}
	raw, err := proto.Marshal(message)
	if err != nil {
		return whatsmeow.SendResponse{}, err
	}
	ans, err := rc.do(ctx, "send", callRequest{To: to.String(), ID: extra[0].ID, Message: raw})
	if err != nil {
		return whatsmeow.SendResponse{}, err
	}
	return whatsmeow.SendResponse{ID: ans.ID, Timestamp: ans.At}, nil
}

// Upload stays in the process: the fake keeps no media.
func (rc *remoteClient) Upload(_ context.Context, data []byte, _ whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	return whatsmeow.UploadResponse{URL: "https://mmg.example/x", DirectPath: "/x", MediaKey: []byte{1}, FileEncSHA256: []byte{2}, FileSHA256: []byte{3}, FileLength: uint64(len(data))}, nil
}

func (rc *remoteClient) SendChatPresence(context.Context, types.JID, types.ChatPresence, types.ChatPresenceMedia) error {
	return nil
}

func (rc *remoteClient) AddEventHandler(h whatsmeow.EventHandler) uint32 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.nextID++
	rc.handlers[rc.nextID] = h
	return rc.nextID
}

func (rc *remoteClient) RemoveEventHandler(id uint32) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, ok := rc.handlers[id]
	delete(rc.handlers, id)
	return ok
}
