//go:build !nowhatsapp

package whatsapp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/cbcutil"
	"go.mau.fi/whatsmeow/util/hkdfutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

// errOffline is what every dial of the real client meets in these tests:
// WhatsApp cannot be reached from here, and a test must not depend on how
// the machine's DNS fails.
var errOffline = errors.New("network unreachable (test)")

func offlineHTTP() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errOffline
	}}}
}

func offlineTune(c *whatsmeow.Client) {
	c.SetWebsocketHTTPClient(offlineHTTP())
	c.SetPreLoginHTTPClient(offlineHTTP())
	c.SetMediaHTTPClient(offlineHTTP())
}

// realManager is a Manager on the real key store and real whatsmeow
// clients, offline.
func realManager(t *testing.T, rec *linkRecorder) (*Manager, *keystore) {
	t.Helper()
	ks := openTestKeystore(t, t.TempDir())
	ks.tune = offlineTune
	m := newManager(Config{Logger: zaptest.NewLogger(t), OnLink: rec.on}, ks, ks)
	m.ks = ks
	t.Cleanup(func() { _ = m.Close() })
	return m, ks
}

// The real library's QR flow runs up to the connection: the QR channel is
// set up on a new device, the websocket cannot be opened, and Link says so.
func TestRealLinkOffline(t *testing.T) {
	rec := newLinkRecorder()
	m, _ := realManager(t, rec)
	l, err := m.Link(context.Background(), testAccount(), MethodQR)
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if l.State != StateError || !strings.Contains(l.Error, "cannot reach WhatsApp to link the account") || !strings.Contains(l.Error, errOffline.Error()) {
		t.Fatalf("Link = %+v; want error saying WhatsApp cannot be reached, with the reason", l)
	}
	if l.QR != "" {
		t.Errorf("a QR code without WhatsApp: %q", l.QR)
	}
}

// A linked account whose connection fails is disconnected with a clear
// reason, and its messages wait (Unavailable), they do not fail.
func TestRealConnectFailsDisconnected(t *testing.T) {
	rec := newLinkRecorder()
	m, ks := realManager(t, rec)
	linkFake(t, ks, testRef, types.JID{User: "14155550001", Device: 2, Server: types.DefaultUserServer})
	m.Start(context.Background(), testAccount())
	l := rec.waitState(t, StateDisconnected)
	for !strings.Contains(l.Error, "cannot connect") {
		l = rec.waitState(t, StateDisconnected)
	}
	if !strings.Contains(l.Error, "cannot connect to WhatsApp") || !strings.Contains(l.Error, errOffline.Error()) || !strings.Contains(l.Error, "next try in") {
		t.Errorf("state error = %q, want the reason and the next try", l.Error)
	}
	_, err := m.Send(context.Background(), testAccount(), textMessage("wa_backend:A", "14155552671@s.whatsapp.net", "hi"), nil)
	if !sender.IsUnavailable(err) || sender.IsPermanent(err) {
		t.Errorf("send = %v, want unavailable (queued, no retry spent)", err)
	}
}

// The media a send carries decrypts with the library's own download
// decryption: the upload's keys and hashes land in the right fields.
func TestMediaRoundTrip(t *testing.T) {
	var mu sync.Mutex
	blobs := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b, ok := blobs[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	defer srv.Close()

	h := &harness{dev: newFakeDevices(), led: newMemLedger(), rec: newLinkRecorder()}
	h.cli = newFakeClient(true)
	// The fake uploads as whatsmeow does: a random media key expanded by
	// HKDF with the media type, AES-CBC and a MAC by the library's stream
	// encryption.
	h.cli.uploadFn = func(data []byte, mt whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		k := hkdfutil.SHA256(key, nil, []byte(mt), 112)
		var enc bytes.Buffer
		fileSHA, encSHA, n, _, err := cbcutil.EncryptStream(k[16:48], k[:16], k[48:80], bytes.NewReader(data), &enc)
		if err != nil {
			return whatsmeow.UploadResponse{}, err
		}
		path := "/m/" + string(mt[9:14])
		mu.Lock()
		blobs[path] = enc.Bytes()
		mu.Unlock()
		return whatsmeow.UploadResponse{URL: srv.URL + path, DirectPath: path, MediaKey: key, FileSHA256: fileSHA, FileEncSHA256: encSHA, FileLength: n}, nil
	}
	h.dev.linked[testRef] = h.cli
	h.m = newManager(Config{Logger: zaptest.NewLogger(t)}, h.dev, h.led)
	defer h.m.Close()

	plain := bytes.Repeat([]byte("a picture, honestly. "), 500)
	file := &wagate.Attachment{Name: "p.png", ContentType: "image/png", Data: plain}
	_ = h.cli.Connect()
	if _, err := h.m.send(context.Background(), testRef, h.cli, 0, textMessage("wa_backend:IMG", "120363025246125486@g.us", "cap"), file); err != nil {
		t.Fatalf("send: %v", err)
	}
	im := h.cli.sentMessages()[0].msg.GetImageMessage()
	if im.GetFileLength() != uint64(len(plain)) {
		t.Errorf("FileLength = %d, want %d", im.GetFileLength(), len(plain))
	}

	ks := openTestKeystore(t, t.TempDir())
	defer ks.close()
	reader := whatsmeow.NewClient(ks.container.NewDevice(), nil)
	reader.SetMediaHTTPClient(srv.Client())
	//lint:ignore SA1019 the library's own decryption is exactly what this test wants to run
	got, err := reader.DangerousInternals().DownloadAndDecrypt(context.Background(), im.GetURL(), im.GetMediaKey(), whatsmeow.GetMediaType(im), im.GetFileEncSHA256(), im.GetFileSHA256())
	if err != nil {
		t.Fatalf("the library cannot decrypt what was sent: %v", err)
	}
	if !bytes.Equal(got, plain) {
		t.Errorf("decrypted %d bytes, not the file's %d", len(got), len(plain))
	}
}

// roundTripFunc serves every request of an http.Client from a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// At Open the current WhatsApp Web version is fetched and used, and
// logged; unreachable, the built-in one stays, logged too.
func TestRefreshVersion(t *testing.T) {
	builtIn := store.GetWAVersion()
	defer store.SetWAVersion(builtIn)

	core, logs := observer.New(zap.InfoLevel)
	refreshVersion(context.Background(), &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host != "web.whatsapp.com" {
			t.Errorf("version asked from %s", r.URL.Host)
		}
		body := `<html><script>{"client_revision":1099999999,"x":1}</script></html>`
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}, nil
	})}, zap.New(core))
	if v := store.GetWAVersion(); v.String() != "2.3000.1099999999" {
		t.Errorf("version in use = %s, want 2.3000.1099999999", v)
	}
	if e := logs.FilterMessage("using the current WhatsApp Web version").All(); len(e) != 1 || e[0].ContextMap()["version"] != "2.3000.1099999999" {
		t.Errorf("log = %v, want the version used", logs.All())
	}

	store.SetWAVersion(builtIn)
	core, logs = observer.New(zap.InfoLevel)
	refreshVersion(context.Background(), offlineHTTP(), zap.New(core))
	if v := store.GetWAVersion(); v != builtIn {
		t.Errorf("version after a failed fetch = %s, want the built-in %s", v, builtIn)
	}
	if e := logs.FilterMessage("cannot fetch the current WhatsApp Web version; using the built-in one").All(); len(e) != 1 || e[0].ContextMap()["version"] != builtIn.String() {
		t.Errorf("log = %v, want a warning naming the built-in version", logs.All())
	}
}

// Open creates whatsapp.db in the data folder and refuses an empty one.
func TestOpen(t *testing.T) {
	if _, err := Open(context.Background(), Config{}); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("Open without DataDir = %v, want an error naming --data", err)
	}
	svc, err := Open(context.Background(), Config{DataDir: t.TempDir(), SkipVersionCheck: true, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Status(testRef).State; got != StateUnlinked {
		t.Errorf("status of an unknown account = %s, want unlinked", got)
	}
	svc.Start(context.Background(), testAccount())
	if got := svc.Status(testRef); got.State != StateUnlinked || !strings.Contains(got.Error, "link the account") {
		t.Errorf("Start without a device: %+v, want unlinked saying to link", got)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
}
