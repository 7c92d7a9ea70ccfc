package sender

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
)

// newFileSender is newTestSender with a Fetcher; tune adjusts the config.
func newFileSender(t *testing.T, q Queue, tr Transport, f Fetcher, tune func(*Config)) *Sender {
	t.Helper()
	cfg := Config{
		Interval:   testInterval,
		Jitter:     testJitter,
		Rand:       rand.New(rand.NewPCG(testSeed1, testSeed2)),
		Logger:     zaptest.NewLogger(t),
		Registerer: prometheus.NewRegistry(),
		Fetcher:    f,
	}
	if tune != nil {
		tune(&cfg)
	}
	return New(q, map[string]Transport{"fake": tr}, cfg)
}

func TestSlowFetcherDoesNotStretchGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 5
		const slow = 1500 * time.Millisecond // as long as the shortest gap
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		var want []string
		for i := range n {
			want = append(want, q.addFile(ref, fmt.Sprint("m", i), fmt.Sprintf("https://files.example/%d.png", i)))
		}
		tr := &fakeTransport{called: make(chan string, n)}
		f := &fakeFetcher{delay: slow, size: 1000}
		s := newFileSender(t, q, tr, f, nil)
		t0 := time.Now()
		stop := startRun(t, s)
		waitCalled(t, tr.called, n)
		stop()

		recs := tr.records("")
		if got := ids(recs); !slices.Equal(got, want) {
			t.Fatalf("send order = %v, want %v", got, want)
		}
		// The first file cannot have been fetched ahead: it waits once.
		if d := recs[0].at.Sub(t0); d != slow {
			t.Errorf("first send after %v, want after its download (%v)", d, slow)
		}
		// Every later file downloaded during the gap: the sends are exactly
		// the drawn gaps apart, as without files.
		replay := rand.New(rand.NewPCG(testSeed1, testSeed2))
		for i := 1; i < n; i++ {
			if g, d := recs[i].at.Sub(recs[i-1].at), drawGap(replay, testInterval, testJitter); g != d {
				t.Errorf("gap before send %d = %v, want the drawn %v: the download stretched it", i, g, d)
			}
		}
		for i, r := range recs {
			if r.file == nil || len(r.file.Data) != 1000 || r.file.Name != "file.png" {
				t.Errorf("send %d got file %+v, want the 1000 downloaded bytes named file.png", i, r.file)
			}
		}
		if got := f.urls(); len(got) != n {
			t.Errorf("%d downloads for %d files: %v", len(got), n, got)
		}
		if held := value(t, s.m.fileBytes); held != 0 {
			t.Errorf("file_bytes_held = %v after every send, want 0", held)
		}
		if got := histCount(t, s.m.fileWait); got != n {
			t.Errorf("file_wait_seconds count = %d, want %d", got, n)
		}
	})
}

func TestFailedDownloadIsAFailedTry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		web := q.addFile(ref, "a web page", "https://files.example/page")
		flaky := q.addFile(ref, "a flaky host", "https://files.example/flaky.png")
		after := q.add(ref, "text after flaky, same recipient")
		tr := &fakeTransport{called: make(chan string, 2)}
		f := &fakeFetcher{delay: 100 * time.Millisecond, size: 10, errs: map[string][]error{
			"https://files.example/page":      {Permanent(errors.New("file_url returned a web page, not a direct download link"))},
			"https://files.example/flaky.png": {errors.New("file_url: 502 bad gateway")},
		}}
		s := newFileSender(t, q, tr, f, nil)
		stop := startRun(t, s)
		got := waitCalled(t, tr.called, 2)
		stop()

		if !slices.Equal(got, []string{flaky, after}) {
			t.Fatalf("sent %v, want %v: the retried download first, then the message behind it", got, []string{flaky, after})
		}
		tries := q.failed(web)
		if len(tries) != 1 || tries[0].Class != wagate.TryClassPermanent || tries[0].Error != "file_url returned a web page, not a direct download link" {
			t.Errorf("web page: failed tries = %+v, want one permanent with the fetcher's text", tries)
		}
		if q.refunded(web) != 1 {
			t.Errorf("web page refunded %d credits, want 1", q.refunded(web))
		}
		rs := q.retried(flaky)
		if len(rs) != 1 || rs[0].try.Class != wagate.TryClassTransient || !withinJitter(rs[0].due.Sub(rs[0].try.At), 5*time.Second) {
			t.Errorf("flaky host: retries = %+v, want one transient, due 5 s ± 20%% later", rs)
		}
		if n := q.countCalls("MarkSending"); n != 2 {
			t.Errorf("MarkSending called %d times, want 2: a failed download never reaches the transport", n)
		}
		if slices.Contains(ids(tr.records("")), web) {
			t.Error("the message whose file is a web page was sent")
		}
	})
}

func TestNoFetcherFailsMessagesWithFiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		file := q.addFile(ref, "with a file", "https://files.example/a.png")
		text := q.add(ref, "text only")
		tr := &fakeTransport{called: make(chan string, 1)}
		s, _ := newTestSender(t, q, tr) // no Fetcher
		stop := startRun(t, s)
		if got := waitCalled(t, tr.called, 1); got[0] != text {
			t.Fatalf("sent %v, want only the text message", got)
		}
		stop()
		tries := q.failed(file)
		if len(tries) != 1 || tries[0].Class != wagate.TryClassPermanent || !strings.HasPrefix(tries[0].Error, "no file fetcher configured") {
			t.Errorf("failed tries = %+v, want one permanent, \"no file fetcher configured…\"", tries)
		}
		if q.refunded(file) != 1 {
			t.Errorf("refunded %d, want 1", q.refunded(file))
		}
	})
}

func TestDownloadsStayWithinTheirCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const accounts, each = 12, 3
		const maxFile = 1000
		q := newFakeQueue()
		for i := range accounts {
			ref := q.addAccount("ws", fmt.Sprintf("+1510555%04d", i), "", true)
			for j := range each {
				q.addFile(ref, "m", fmt.Sprintf("https://files.example/%d/%d.png", i, j))
			}
		}
		tr := &fakeTransport{called: make(chan string, accounts*each)}
		f := &fakeFetcher{delay: time.Second, size: 100}
		s := newFileSender(t, q, tr, f, func(c *Config) {
			c.MaxFileBytes = maxFile
			c.FileBytesPerAccount = 2 * maxFile
			c.FileBytes = 5 * maxFile
			c.FetchConcurrency = 3
			c.FetchConcurrencyPerWorkspace = 3 // one workspace: test the total
		})
		f.s = s
		stop := startRun(t, s)
		waitCalled(t, tr.called, accounts*each)
		stop()

		if f.maxActive > 3 || f.maxActive < 2 {
			t.Errorf("at most %d downloads ran at once, want 3 (the cap) or close to it", f.maxActive)
		}
		if f.maxHeld > 5*maxFile {
			t.Errorf("%d bytes held at a download start, over the cap of %d", f.maxHeld, 5*maxFile)
		}
		for _, r := range tr.records("") {
			if r.file == nil || len(r.file.Data) != 100 {
				t.Fatalf("%s sent with file %+v, want its 100 bytes", r.id, r.file)
			}
		}
		s.files.mu.Lock()
		used := s.files.used
		s.files.mu.Unlock()
		if used != 0 {
			t.Errorf("%d bytes still counted after every send and the stop, want 0", used)
		}
	})
}

func TestPrefetchKeepsThePerAccountCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		for i := range 4 {
			q.addFile(ref, "m", fmt.Sprintf("https://files.example/%d.png", i))
		}
		tr := &fakeTransport{called: make(chan string, 4)}
		f := &fakeFetcher{delay: time.Second, size: 10}
		s := newFileSender(t, q, tr, f, func(c *Config) {
			c.MaxFileBytes = 1000
			c.FileBytesPerAccount = 1000 // room for one download in advance
		})
		stop := startRun(t, s)
		waitCalled(t, tr.called, 4)
		stop()
		if f.maxActive != 1 {
			t.Errorf("%d downloads of one account ran at once, want 1 under a cap of one file", f.maxActive)
		}
		checkGaps(t, tr.records(""))
	})
}

// TestTightBudgetNeverDeadlocks gives all accounts room for one file in
// total: prefetches are not started, downloads at the turn wait for each
// other, and every message still goes (synctest reports a deadlock as a
// failure, and a lost wake-up as one too).
func TestTightBudgetNeverDeadlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const accounts, each = 6, 3
		q := newFakeQueue()
		for i := range accounts {
			ref := q.addAccount("ws", fmt.Sprintf("+1510555%04d", i), "", true)
			for j := range each {
				q.addFile(ref, "m", fmt.Sprintf("https://files.example/%d/%d.png", i, j))
			}
		}
		tr := &fakeTransport{called: make(chan string, accounts*each)}
		f := &fakeFetcher{delay: 300 * time.Millisecond, size: 1000}
		s := newFileSender(t, q, tr, f, func(c *Config) {
			c.MaxFileBytes = 1000
			c.FileBytes = 1000
		})
		f.s = s
		stop := startRun(t, s)
		waitCalled(t, tr.called, accounts*each)
		stop()
		if f.maxActive != 1 || f.maxHeld > 1000 {
			t.Errorf("%d downloads at once and %d bytes held, want 1 and at most 1000", f.maxActive, f.maxHeld)
		}
		for i := range accounts {
			checkMinGaps(t, tr.records(fmt.Sprintf("+1510555%04d", i)))
		}
	})
}

func TestConfigNormalizeFilesAndRetries(t *testing.T) {
	c := Config{}.normalize()
	if c.PrefetchAhead != DefaultPrefetchAhead || c.MaxFileBytes != DefaultMaxFileBytes || c.FileBytesPerAccount != DefaultFileBytesPerAccount ||
		c.FileBytes != DefaultFileBytes || c.FetchConcurrency != DefaultFetchConcurrency ||
		c.FetchConcurrencyPerWorkspace != DefaultFetchConcurrencyPerWorkspace || c.FetchTimeout != DefaultFetchTimeout {
		t.Errorf("zero config = %+v, want the defaults", c)
	}
	if !slices.Equal(c.RetryDelays, defaultRetryDelays) {
		t.Errorf("RetryDelays = %v, want SPEC's %v", c.RetryDelays, defaultRetryDelays)
	}
	c.RetryDelays[0] = time.Hour
	if defaultRetryDelays[0] != 5*time.Second {
		t.Fatal("normalize shares the default schedule: a caller changed it for everyone")
	}
	c = Config{PrefetchAhead: -1, MaxFileBytes: 10 << 20, FileBytes: 1 << 20, RetryDelays: []time.Duration{}}.normalize()
	if c.PrefetchAhead != 0 {
		t.Errorf("negative PrefetchAhead = %d, want 0 (none)", c.PrefetchAhead)
	}
	if c.FileBytes != 10<<20 {
		t.Errorf("FileBytes = %d, want raised to MaxFileBytes so one file always fits", c.FileBytes)
	}
	if len(c.RetryDelays) != 0 {
		t.Errorf("an empty schedule became %v, want none: no retries", c.RetryDelays)
	}
}

// hangingFetcher never answers for URLs on slowHost (until the download is
// called off) and answers the others at once.
type hangingFetcher struct {
	mu      sync.Mutex
	hanging int // downloads from slowHost under way
}

const slowHost = "https://slow.example/"

func (f *hangingFetcher) Fetch(ctx context.Context, rawURL, fileName string) (*wagate.Attachment, error) {
	if strings.HasPrefix(rawURL, slowHost) {
		f.mu.Lock()
		f.hanging++
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		f.hanging--
		f.mu.Unlock()
		return nil, ctx.Err()
	}
	return &wagate.Attachment{Name: fileName, ContentType: "image/png", Data: []byte("fast")}, nil
}

// TestSlowFileHostDelaysOnlyItsWorkspace: workspace A points ten files at a
// host that never answers; workspace B's one file still downloads and goes
// at once, since A holds at most its 2 download slots (SPEC §2 fairness).
func TestSlowFileHostDelaysOnlyItsWorkspace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		for i := range 10 {
			ref := q.addAccount("wsA", fmt.Sprintf("+1510555%04d", i), "", true)
			q.addFile(ref, "a", fmt.Sprintf("%s%d.png", slowHost, i))
		}
		tr := &fakeTransport{called: make(chan string, 11)}
		f := &hangingFetcher{}
		s := newFileSender(t, q, tr, f, nil)
		t0 := time.Now()
		stop := startRun(t, s)
		synctest.Wait() // A's downloads hang, holding every slot A may have
		f.mu.Lock()
		hanging := f.hanging
		f.mu.Unlock()
		if hanging != DefaultFetchConcurrencyPerWorkspace {
			t.Errorf("%d downloads of workspace A run at once, want %d (the per-workspace cap)", hanging, DefaultFetchConcurrencyPerWorkspace)
		}

		refB := q.addAccount("wsB", "+15105559999", "", true)
		idB := q.addFile(refB, "b", "https://fast.example/b.png")
		s.Wake(refB)
		got := waitCalled(t, tr.called, 1)
		if got[0] != idB {
			t.Fatalf("first send = %s, want workspace B's %s", got[0], idB)
		}
		if d := time.Since(t0); d != 0 {
			t.Errorf("workspace B's file went after %v, want at once: A's slow host must not delay it", d)
		}
		if r := tr.records("")[0]; r.file == nil || string(r.file.Data) != "fast" {
			t.Errorf("B's message sent with file %+v, want its bytes", r.file)
		}
		stop()
	})
}
