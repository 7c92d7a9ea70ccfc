package sender

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wagate/wagate"
)

// fakeQueue is an in-memory Queue for the sender's unit tests. It lives in
// the synctest bubble with the sender, which bbolt must not. It follows the
// Queue contract closely enough to catch a sender that sends a message twice,
// finishes one it never took out of the queue, refunds twice, or breaks the
// order rules (store/queue_test.go holds the real store to the same rules).
type fakeQueue struct {
	mu       sync.Mutex
	n        int
	queues   map[wagate.AccountRef][]string // message ids in queue order
	msgs     map[string]*wagate.Message
	pos      map[string]int // queue position of each message, kept while sending
	accounts map[wagate.AccountRef]*wagate.Account
	calls    []string // method names in call order

	headErrs    int             // the next headErrs Next calls fail
	sentErrs    int             // the next sentErrs MarkSent calls fail
	recoverErrs int             // the next recoverErrs RecoverSending calls fail
	markDelays  []time.Duration // the next MarkSending calls take these long (a loaded store's commit), in turn
	failedTries map[string][]wagate.Try
	sentTries   map[string][]wagate.Try
	retries     map[string][]retryRec
	refunds     map[string]int                    // credits given back, per message
	sent        map[wagate.AccountRef][]time.Time // MarkSent times, for SendHistory
	holds       map[string][]retryRec             // Hold calls (try.Error is the reason)
}

// retryRec is one Retry call.
type retryRec struct {
	try wagate.Try
	due time.Time
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{
		queues:      make(map[wagate.AccountRef][]string),
		msgs:        make(map[string]*wagate.Message),
		pos:         make(map[string]int),
		accounts:    make(map[wagate.AccountRef]*wagate.Account),
		failedTries: make(map[string][]wagate.Try),
		sentTries:   make(map[string][]wagate.Try),
		retries:     make(map[string][]retryRec),
		refunds:     make(map[string]int),
		sent:        make(map[wagate.AccountRef][]time.Time),
		holds:       make(map[string][]retryRec),
	}
}

var errStorage = fmt.Errorf("fake storage failure: %w", wagate.Errorf(wagate.EUNAVAILABLE, "storage unavailable"))

// defaultJID is the recipient of messages added without one.
const defaultJID = "14155552671@s.whatsapp.net"

// addAccount stores an account; transport "" means "fake".
func (q *fakeQueue) addAccount(ws, phone, transport string, active bool) wagate.AccountRef {
	if transport == "" {
		transport = "fake"
	}
	a := &wagate.Account{WorkspaceID: ws, Phone: phone, Transport: transport, Active: active,
		Settings: map[string]string{"token": "secret"}}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.accounts[a.Ref()] = a
	return a.Ref()
}

func (q *fakeQueue) setActive(ref wagate.AccountRef, active bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.accounts[ref].Active = active
}

// add queues a text message to defaultJID and returns its id.
func (q *fakeQueue) add(ref wagate.AccountRef, text string) string {
	return q.addMessage(ref, wagate.Message{JID: defaultJID, Text: text})
}

// addTo queues a text message to jid.
func (q *fakeQueue) addTo(ref wagate.AccountRef, jid, text string) string {
	return q.addMessage(ref, wagate.Message{JID: jid, Text: text})
}

// addFile queues a message with a file_url.
func (q *fakeQueue) addFile(ref wagate.AccountRef, text, url string) string {
	return q.addMessage(ref, wagate.Message{JID: defaultJID, Text: text, FileURL: url, FileName: "file.png"})
}

// addMessage queues m (ID, account, status and credits are set here).
func (q *fakeQueue) addMessage(ref wagate.AccountRef, m wagate.Message) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n++
	m.ID = fmt.Sprintf("wa_backend:%020X", q.n)
	m.WorkspaceID, m.AccountPhone = ref.WorkspaceID, ref.Phone
	m.Status = wagate.StatusQueued
	m.Credits = 1
	q.msgs[m.ID] = &m
	q.pos[m.ID] = q.n
	q.queues[ref] = append(q.queues[ref], m.ID)
	return m.ID
}

// setSending puts a queued message in sending, as a stop mid-send leaves it.
func (q *fakeQueue) setSending(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.msgs[id]
	ref := m.Account()
	q.queues[ref] = slices.DeleteFunc(q.queues[ref], func(x string) bool { return x == id })
	m.Status = wagate.StatusSending
}

// setRetry gives a queued message past retry tries and a due time, as a
// restart finds it.
func (q *fakeQueue) setRetry(id string, tries []wagate.Try, due time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs[id].Tries = slices.Clone(tries)
	q.msgs[id].NextTryAt = due
}

// cancel fails a queued message with "cancelled" and refunds it, as the
// store's CancelMessage does (an owner's DELETE).
func (q *fakeQueue) cancel(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.msgs[id]
	if m.Status != wagate.StatusQueued {
		panic("cancel of a message that is " + string(m.Status))
	}
	ref := m.Account()
	q.queues[ref] = slices.DeleteFunc(q.queues[ref], func(x string) bool { return x == id })
	m.Status, m.Error, m.NextTryAt = wagate.StatusFailed, wagate.ErrorCancelled, time.Time{}
	q.refunds[id] += int(m.Credits)
}

// message returns a copy of a message.
func (q *fakeQueue) message(id string) wagate.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := *q.msgs[id]
	m.Tries = slices.Clone(m.Tries)
	return m
}

func (q *fakeQueue) status(id string) wagate.MessageStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.msgs[id].Status
}

func (q *fakeQueue) failed(id string) []wagate.Try {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.failedTries[id])
}

func (q *fakeQueue) retried(id string) []retryRec {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.retries[id])
}

func (q *fakeQueue) refunded(id string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.refunds[id]
}

func (q *fakeQueue) countCalls(name string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, c := range q.calls {
		if c == name {
			n++
		}
	}
	return n
}

func (q *fakeQueue) call(name string) {
	q.calls = append(q.calls, name)
}

func (q *fakeQueue) QueuedAccounts(ctx context.Context) ([]wagate.AccountRef, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("QueuedAccounts")
	var refs []wagate.AccountRef
	for ref, ids := range q.queues {
		if len(ids) > 0 {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

func (q *fakeQueue) Next(ctx context.Context, ref wagate.AccountRef, at time.Time, n int) ([]*wagate.Message, time.Time, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("Next")
	if q.headErrs > 0 {
		q.headErrs--
		return nil, time.Time{}, errStorage
	}
	var (
		out     []*wagate.Message
		due     time.Time
		blocked = map[string]bool{}
	)
	for _, id := range q.queues[ref] {
		if len(out) >= max(n, 1) {
			break
		}
		m := q.msgs[id]
		switch {
		case m.SendAt.After(at):
			// Scheduled: skipped without holding anything back.
			if due.IsZero() || m.SendAt.Before(due) {
				due = m.SendAt
			}
		case m.NextTryAt.After(at):
			blocked[m.JID] = true
			if due.IsZero() || m.NextTryAt.Before(due) {
				due = m.NextTryAt
			}
		case blocked[m.JID]:
		default:
			c := *m // a copy: the sender must not share our state
			c.Tries = slices.Clone(m.Tries)
			out = append(out, &c)
		}
	}
	return out, due, nil
}

func (q *fakeQueue) Account(ctx context.Context, ref wagate.AccountRef) (*wagate.Account, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("Account")
	a, ok := q.accounts[ref]
	if !ok {
		return nil, wagate.Errorf(wagate.ENOTFOUND, "account %s not found", ref.Phone)
	}
	c := *a
	return &c, nil
}

func (q *fakeQueue) MarkSending(ctx context.Context, id string, at time.Time) error {
	q.mu.Lock()
	if len(q.markDelays) > 0 {
		d := q.markDelays[0]
		q.markDelays = q.markDelays[1:]
		q.mu.Unlock()
		time.Sleep(d) // the fake clock of the bubble
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	q.call("MarkSending")
	m := q.msgs[id]
	if m == nil || m.Status != wagate.StatusQueued {
		return wagate.Errorf(wagate.ECONFLICT, "message %s is not queued", id)
	}
	ref := m.Account()
	q.queues[ref] = slices.DeleteFunc(q.queues[ref], func(x string) bool { return x == id })
	m.Status = wagate.StatusSending
	m.NextTryAt, m.WaitingReason = time.Time{}, ""
	return nil
}

func (q *fakeQueue) MarkSent(ctx context.Context, id string, try wagate.Try) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("MarkSent")
	if q.sentErrs > 0 {
		q.sentErrs--
		return errStorage
	}
	m := q.msgs[id]
	if m.Status != wagate.StatusSending {
		// A domain error, as a store would answer: the sender gives up on
		// it instead of retrying, and the test sees the wrong status.
		return wagate.Errorf(wagate.ECONFLICT, "MarkSent of %s in status %s", id, m.Status)
	}
	m.Status, m.SentAt, m.Error = wagate.StatusSent, try.At, ""
	m.Tries = append(m.Tries, try)
	q.sent[m.Account()] = append(q.sent[m.Account()], try.At)
	q.sentTries[id] = append(q.sentTries[id], try)
	return nil
}

func (q *fakeQueue) Retry(ctx context.Context, id string, try wagate.Try, due time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("Retry")
	m := q.msgs[id]
	if m.Status != wagate.StatusSending && m.Status != wagate.StatusQueued {
		return wagate.Errorf(wagate.ECONFLICT, "Retry of %s in status %s", id, m.Status)
	}
	if m.Status == wagate.StatusSending {
		// Back at its own place: before every message accepted after it.
		ref := m.Account()
		ids := q.queues[ref]
		i, _ := slices.BinarySearchFunc(ids, q.pos[id], func(x string, p int) int { return q.pos[x] - p })
		q.queues[ref] = slices.Insert(ids, i, id)
	}
	m.Status, m.NextTryAt, m.Error = wagate.StatusQueued, due, try.Error
	m.Tries = append(m.Tries, try)
	q.retries[id] = append(q.retries[id], retryRec{try: try, due: due})
	return nil
}

func (q *fakeQueue) MarkFailed(ctx context.Context, id string, try wagate.Try) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("MarkFailed")
	m := q.msgs[id]
	if m.Status == wagate.StatusFailed || m.Status == wagate.StatusSent {
		return nil // refund once, as the store does
	}
	ref := m.Account()
	q.queues[ref] = slices.DeleteFunc(q.queues[ref], func(x string) bool { return x == id })
	m.Status, m.Error, m.NextTryAt = wagate.StatusFailed, try.Error, time.Time{}
	m.Tries = append(m.Tries, try)
	q.failedTries[id] = append(q.failedTries[id], try)
	q.refunds[id] += int(m.Credits)
	return nil
}

func (q *fakeQueue) Hold(ctx context.Context, id, reason string, until time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("Hold")
	m := q.msgs[id]
	if m == nil || m.Status != wagate.StatusQueued {
		return wagate.Errorf(wagate.ECONFLICT, "message %s is not queued", id)
	}
	m.NextTryAt, m.WaitingReason = until, reason
	m.SendAt = time.Time{} // a held scheduled message waits in the FIFO, as in the store
	q.holds[id] = append(q.holds[id], retryRec{try: wagate.Try{Error: reason}, due: until})
	return nil
}

func (q *fakeQueue) SendHistory(ctx context.Context, ref wagate.AccountRef, since time.Time) ([]time.Time, time.Time, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("SendHistory")
	all := q.sent[ref]
	var out []time.Time
	for _, t := range all {
		if t.After(since) {
			out = append(out, t)
		}
	}
	var first time.Time
	if len(all) > 0 {
		first = all[0]
	}
	return out, first, nil
}

func (q *fakeQueue) Sending(ctx context.Context) ([]*wagate.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("Sending")
	var out []*wagate.Message
	for _, m := range q.msgs {
		if m.Status == wagate.StatusSending {
			c := *m
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *wagate.Message) int { return q.pos[a.ID] - q.pos[b.ID] })
	return out, nil
}

func (q *fakeQueue) RecoverSending(ctx context.Context, at time.Time) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("RecoverSending")
	if q.recoverErrs > 0 {
		q.recoverErrs--
		return 0, errStorage
	}
	n := 0
	for id, m := range q.msgs {
		if m.Status != wagate.StatusSending {
			continue
		}
		try := wagate.Try{At: at, Result: wagate.TryResultFailed, Class: wagate.TryClassInterrupted, Error: "interrupted"}
		m.Status, m.Error = wagate.StatusFailed, try.Error
		m.Tries = append(m.Tries, try)
		q.failedTries[id] = append(q.failedTries[id], try)
		q.refunds[id] += int(m.Credits)
		n++
	}
	return n, nil
}

// sendRec is one call of fakeTransport.Send.
type sendRec struct {
	at      time.Time
	account string
	id      string
	ctx     context.Context
	file    *wagate.Attachment
}

// fakeTransport records its sends. errs makes the send of a message id fail;
// errSeq makes its successive sends fail with these errors in turn (nil
// for success), then succeed; block, when set, holds every send until it
// is closed; called, when set, gets each message id as its send starts
// (give it room: the sender must not wait for the test).
type fakeTransport struct {
	mu     sync.Mutex
	sends  []sendRec
	errs   map[string]error
	errSeq map[string][]error
	block  chan struct{}
	called chan string
}

func (f *fakeTransport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (Result, error) {
	f.mu.Lock()
	f.sends = append(f.sends, sendRec{at: time.Now(), account: acct.Phone, id: m.ID, ctx: ctx, file: file})
	err := f.errs[m.ID]
	if seq := f.errSeq[m.ID]; len(seq) > 0 {
		err, f.errSeq[m.ID] = seq[0], seq[1:]
	}
	f.mu.Unlock()
	if f.called != nil {
		f.called <- m.ID
	}
	if f.block != nil {
		<-f.block
	}
	if err != nil {
		return Result{}, err
	}
	return Result{ProviderID: "fake:" + m.ID}, nil
}

// records returns the sends so far, of one account when phone != "".
func (f *fakeTransport) records(phone string) []sendRec {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sendRec
	for _, r := range f.sends {
		if phone == "" || r.account == phone {
			out = append(out, r)
		}
	}
	return out
}

// confirmingTransport is a fakeTransport that is also a Confirmer, with a
// fixed answer per message id (DeliveryUnknown when absent).
type confirmingTransport struct {
	fakeTransport
	answers map[string]Delivery
	errs    map[string]error
}

func (c *confirmingTransport) Confirm(ctx context.Context, acct *wagate.Account, m *wagate.Message) (Delivery, string, error) {
	if err := c.errs[m.ID]; err != nil {
		return DeliveryUnknown, "", err
	}
	d := c.answers[m.ID]
	if d == Delivered {
		return d, "fake:" + m.ID, nil
	}
	return d, "", nil
}

// fakeFetcher "downloads" files: each takes delay of (fake) time, returns
// size bytes, or the error set for its URL. It records the downloads
// running at once and the sender's bytes held at each start.
type fakeFetcher struct {
	delay time.Duration
	size  int
	s     *Sender // to read the budget at each start; optional
	// onFetch, if set, runs as each download starts (a test's race).
	onFetch func(rawURL string)

	mu        sync.Mutex
	errs      map[string][]error // per URL, in turn; then success
	fetched   []string           // URLs, in start order
	running   int
	maxActive int
	maxHeld   int64
}

func (f *fakeFetcher) Fetch(ctx context.Context, rawURL, fileName string) (*wagate.Attachment, error) {
	f.mu.Lock()
	f.fetched = append(f.fetched, rawURL)
	f.running++
	f.maxActive = max(f.maxActive, f.running)
	if f.s != nil {
		f.s.files.mu.Lock()
		f.maxHeld = max(f.maxHeld, f.s.files.used)
		f.s.files.mu.Unlock()
	}
	var err error
	if seq := f.errs[rawURL]; len(seq) > 0 {
		err, f.errs[rawURL] = seq[0], seq[1:]
	}
	onFetch := f.onFetch
	f.mu.Unlock()
	if onFetch != nil {
		onFetch(rawURL)
	}
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	t := time.NewTimer(f.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	if err != nil {
		return nil, err
	}
	return &wagate.Attachment{Name: fileName, ContentType: "image/png", Data: make([]byte, f.size)}, nil
}

func (f *fakeFetcher) urls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.fetched)
}

var errTimeout = errors.New("cloud: 503 service unavailable")
