package dryrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender"
)

var acct = &wagate.Account{WorkspaceID: "ws1", Phone: "+15105566777", Transport: wagate.TransportDryrun, Active: true,
	Settings: map[string]string{"token": "never-in-the-outbox"}}

func message(n int) *wagate.Message {
	return &wagate.Message{
		ID: fmt.Sprintf("wa_backend:%020X", n), WorkspaceID: "ws1", AccountPhone: acct.Phone,
		JID: "14155552671@s.whatsapp.net", Text: fmt.Sprintf("hello %d", n),
	}
}

func open(t *testing.T, path string) *Transport {
	t.Helper()
	tr, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// readLines returns the outbox's lines, each decoded into a map (to see the
// exact field names) and checked to be one JSON object.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("the outbox does not end with a newline: a line was cut")
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not one JSON object: %v: %q", len(out)+1, err, sc.Text())
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSendWritesSpecLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tr := open(t, path)
	at := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.FixedZone("PHT", 8*3600))
	tr.now = func() time.Time { return at }

	m := message(1)
	m.Text = "line one\nline two <b>&</b> ñ 😀"
	m.FileURL, m.FileName = "https://example.com/logo.png", "logo.png"
	file := &wagate.Attachment{Name: "logo.png", ContentType: "image/png", Data: []byte("hello")}
	res, err := tr.Send(context.Background(), acct, m, file)
	if err != nil {
		t.Fatal(err)
	}
	if want := "dryrun:" + m.ID; res.ProviderID != want {
		t.Errorf("provider id = %q, want %q", res.ProviderID, want)
	}
	if !res.PostedAt.IsZero() {
		t.Errorf("PostedAt = %v, want zero: the dry run hands a message over when called", res.PostedAt)
	}

	lines := readLines(t, path)
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1", len(lines))
	}
	want := map[string]any{
		"at":          "2026-03-03T21:06:07.890123456Z",
		"account":     "+15105566777",
		"to":          "14155552671@s.whatsapp.net",
		"message_id":  m.ID,
		"text":        m.Text,
		"file_name":   "logo.png",
		"file_url":    "https://example.com/logo.png",
		"file_type":   "image/png",
		"file_bytes":  float64(5),
		"file_sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", // sha256("hello")
	}
	got := lines[0]
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected field %q", k)
		}
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("never-in-the-outbox")) {
		t.Error("the outbox holds the account's settings")
	}
	if !bytes.Contains(raw, []byte("<b>&</b>")) {
		t.Errorf("HTML characters escaped in %s; the outbox is read by people", raw)
	}
}

func TestLinesAreAppended(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tr := open(t, path)
	for i := 1; i <= 2; i++ {
		if _, err := tr.Send(context.Background(), acct, message(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart opens the same outbox and keeps what is there.
	tr = open(t, path)
	if _, err := tr.Send(context.Background(), acct, message(3), nil); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	var got []string
	for _, l := range lines {
		got = append(got, l["message_id"].(string))
	}
	if want := []string{message(1).ID, message(2).ID, message(3).ID}; !slices.Equal(got, want) {
		t.Errorf("outbox holds %v, want %v in order", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("outbox mode = %v, want 0600 (it holds message texts)", mode)
	}
}

func TestConcurrentSendsWriteWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tr := open(t, path)
	const goroutines, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				m := message(g*each + i)
				m.Text = string(bytes.Repeat([]byte{'a' + byte(g)}, 5000)) // long lines interleave if split
				if _, err := tr.Send(context.Background(), acct, m, nil); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != goroutines*each {
		t.Fatalf("%d lines, want %d", len(lines), goroutines*each)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l["message_id"].(string)] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct message ids, want %d", len(seen), goroutines*each)
	}
}

func TestSendAfterCloseOrCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tr := open(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Send(ctx, acct, message(1), nil); err == nil {
		t.Error("Send with a cancelled context succeeded")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	_, err := tr.Send(context.Background(), acct, message(2), nil)
	if err == nil {
		t.Fatal("Send after Close succeeded")
	}
	if sender.IsPermanent(err) {
		t.Error("a closed outbox is marked permanent; nothing is wrong with the message")
	}
	if lines := readLines(t, path); len(lines) != 0 {
		t.Errorf("%d lines written by failed sends", len(lines))
	}
}

func TestNewFailsOnBadPath(t *testing.T) {
	if _, err := New(filepath.Join(t.TempDir(), "missing", FileName)); err == nil {
		t.Error("New in a missing folder succeeded")
	}
}

func ExampleTransport_Send() {
	dir, _ := os.MkdirTemp("", "wagate-dryrun")
	defer os.RemoveAll(dir)
	tr, _ := New(filepath.Join(dir, FileName))
	defer tr.Close()

	res, _ := tr.Send(context.Background(),
		&wagate.Account{Phone: "+15105566777"},
		&wagate.Message{ID: "wa_backend:3EB09FCC85FE99662E46", JID: "14155552671@s.whatsapp.net", Text: "lorem ipsum"}, nil)
	fmt.Println(res.ProviderID)
	// Output: dryrun:wa_backend:3EB09FCC85FE99662E46
}
