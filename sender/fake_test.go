package sender

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wagate/wagate"
)

// fakeQueue is an in-memory Queue for the sender's unit tests. It lives in
// the synctest bubble with the sender, which bbolt must not. It follows the
// Queue contract closely enough to catch a sender that sends a message twice
// or finishes one it never took out of the queue.
type fakeQueue struct {
	mu       sync.Mutex
	n        int
	queues   map[wagate.AccountRef][]string // message ids, oldest first
	msgs     map[string]*wagate.Message
	accounts map[wagate.AccountRef]*wagate.Account
	calls    []string // method names in call order

	headErrs    int // the next headErrs Head calls fail
	sentErrs    int // the next sentErrs MarkSent calls fail
	recoverErrs int // the next recoverErrs RecoverSending calls fail
	failedTries map[string][]wagate.Try
	sentTries   map[string][]wagate.Try
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{
		queues:      make(map[wagate.AccountRef][]string),
		msgs:        make(map[string]*wagate.Message),
		accounts:    make(map[wagate.AccountRef]*wagate.Account),
		failedTries: make(map[string][]wagate.Try),
		sentTries:   make(map[string][]wagate.Try),
	}
}

var errStorage = fmt.Errorf("fake storage failure: %w", wagate.Errorf(wagate.EUNAVAILABLE, "storage unavailable"))

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

// add queues a message for ref and returns its id.
func (q *fakeQueue) add(ref wagate.AccountRef, text string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n++
	m := &wagate.Message{
		ID: fmt.Sprintf("wa_backend:%020X", q.n), WorkspaceID: ref.WorkspaceID, AccountPhone: ref.Phone,
		JID: "14155552671@s.whatsapp.net", Text: text, Credits: 1, Status: wagate.StatusQueued,
	}
	q.msgs[m.ID] = m
	q.queues[ref] = append(q.queues[ref], m.ID)
	return m.ID
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

func (q *fakeQueue) Head(ctx context.Context, ref wagate.AccountRef) (*wagate.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("Head")
	if q.headErrs > 0 {
		q.headErrs--
		return nil, errStorage
	}
	ids := q.queues[ref]
	if len(ids) == 0 {
		return nil, nil
	}
	m := *q.msgs[ids[0]] // a copy: the sender must not share our state
	return &m, nil
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
	defer q.mu.Unlock()
	q.call("MarkSending")
	m := q.msgs[id]
	if m == nil || m.Status != wagate.StatusQueued {
		return wagate.Errorf(wagate.ECONFLICT, "message %s is not queued", id)
	}
	ref := m.Account()
	q.queues[ref] = slices.DeleteFunc(q.queues[ref], func(x string) bool { return x == id })
	m.Status = wagate.StatusSending
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
	m.Status, m.SentAt = wagate.StatusSent, try.At
	q.sentTries[id] = append(q.sentTries[id], try)
	return nil
}

func (q *fakeQueue) MarkFailed(ctx context.Context, id string, try wagate.Try) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("MarkFailed")
	m := q.msgs[id]
	if m.Status != wagate.StatusSending {
		return wagate.Errorf(wagate.ECONFLICT, "MarkFailed of %s in status %s", id, m.Status)
	}
	m.Status, m.Error = wagate.StatusFailed, try.Error
	q.failedTries[id] = append(q.failedTries[id], try)
	return nil
}

func (q *fakeQueue) RecoverSending(ctx context.Context, at time.Time) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.call("RecoverSending")
	if q.recoverErrs > 0 {
		q.recoverErrs--
		return 0, errStorage
	}
	return 0, nil
}

// sendRec is one call of fakeTransport.Send.
type sendRec struct {
	at      time.Time
	account string
	id      string
	ctx     context.Context
}

// fakeTransport records its sends. errs makes the send of a message id fail;
// block, when set, holds every send until it is closed; called, when set,
// gets each message id as its send starts (give it room: the sender must not
// wait for the test).
type fakeTransport struct {
	mu     sync.Mutex
	sends  []sendRec
	errs   map[string]error
	block  chan struct{}
	called chan string
}

func (f *fakeTransport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, _ *wagate.Attachment) (string, error) {
	f.mu.Lock()
	f.sends = append(f.sends, sendRec{at: time.Now(), account: acct.Phone, id: m.ID, ctx: ctx})
	err := f.errs[m.ID]
	f.mu.Unlock()
	if f.called != nil {
		f.called <- m.ID
	}
	if f.block != nil {
		<-f.block
	}
	if err != nil {
		return "", err
	}
	return "fake:" + m.ID, nil
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
