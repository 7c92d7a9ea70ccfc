package main

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/store/postgres"
)

// Linking through any replica (SPEC §10, §12): a whatsapp account's
// session runs only on the replica holding its lease. POST and DELETE
// …/link on another replica (a load balancer without sticky sessions)
// are handed to the holder through the database (store/postgres
// linkrequest.go): this replica writes the request and waits, bounded by
// linkForwardWait, for the holder's outcome, then for the QR code or
// pairing code the holder shares through link_codes, and answers as the
// holder would have. The holder's side is serveLinkRequests.

// linkRequests is the side of a backend that replicas share (postgres.DB)
// through which link requests reach the lease holder.
type linkRequests interface {
	RequestLink(ctx context.Context, ref wagate.AccountRef, action string) (int64, string, error)
	TakeLinkRequests(ctx context.Context) ([]postgres.LinkRequest, error)
	FinishLinkRequest(ctx context.Context, id int64, runErr error) error
	LinkRequestOutcome(ctx context.Context, id int64) (postgres.LinkOutcome, error)
	RehandLinkRequest(ctx context.Context, id int64) (string, error)
	DeleteLinkRequest(ctx context.Context, id int64) error
	ListenLinkRequests(ctx context.Context, wake func()) error
}

// requests is the backend's linkRequests; nil for one process (bbolt).
func (w *whatsappWiring) requests() linkRequests {
	if r, ok := w.db.(linkRequests); ok {
		return r
	}
	return nil
}

// linkForwardWait bounds how long a replica waits for the lease holder to
// run a forwarded request and publish its code: past it the answer is a
// 503 naming the holder. Below the HTTP server's write timeout (30 s).
var linkForwardWait = 20 * time.Second

// linkRequestPoll is the backstop of the notifications: how often the
// holder looks for requests, and a requester for its outcome, when no
// notification came.
const linkRequestPoll = time.Second

// linkBell rings at every notification on the link channel: waiters take
// a channel closed at the next one.
type linkBell struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *linkBell) next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *linkBell) ring() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// forward hands action on ref to the replica holding its lease and waits
// for its outcome. claimed reports that no replica held the lease any
// more and this one claimed it: the caller runs the request here. While it
// waits, a lease that moved (the holder died or handed the account over)
// sends the request on to the new holder, or back here when no other
// replica holds it (RehandLinkRequest: never a request that may have run),
// within the same linkForwardWait.
func (w *whatsappWiring) forward(ctx context.Context, ref wagate.AccountRef, action string) (claimed bool, holder string, err error) {
	reqs := w.requests()
	id, holder, err := reqs.RequestLink(ctx, ref, action)
	if err != nil {
		return false, "", err
	}
	claim := func() (bool, string, error) {
		// The holder let go meanwhile: claim it as a local request does.
		if err := w.leases().ClaimLease(ctx, ref); err != nil {
			return false, "", err
		}
		return true, "", nil
	}
	if holder == "" {
		return claim()
	}
	defer func() {
		if err := reqs.DeleteLinkRequest(context.WithoutCancel(ctx), id); err != nil {
			w.log.Warn("cannot delete a link request; a later one drops it", zap.String("account", ref.Phone), zap.Error(err))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, linkForwardWait)
	defer cancel()
	t := time.NewTicker(linkRequestPoll)
	defer t.Stop()
	for {
		bell := w.bell.next()
		o, err := reqs.LinkRequestOutcome(ctx, id)
		if err == nil && o.Done {
			if o.ErrorCode != "" {
				return false, holder, wagate.Errorf(o.ErrorCode, "%s", o.ErrorMessage)
			}
			return false, holder, nil
		}
		if err != nil && wagate.ErrorCode(err) != wagate.EUNAVAILABLE {
			return false, holder, err
		}
		if err == nil {
			switch h, err := reqs.RehandLinkRequest(ctx, id); {
			case err != nil:
				// Read again at the next turn; the wait stays bounded.
			case h == "":
				w.log.Info("the replica holding a link request let the account go before answering; running it here",
					zap.String("account", ref.Phone), zap.String("action", action), zap.String("holder", holder))
				return claim()
			case h != holder:
				w.log.Info("the replica holding a link request let the account go before answering; handed it to the new holder",
					zap.String("account", ref.Phone), zap.String("action", action), zap.String("holder", holder), zap.String("new_holder", h))
				holder = h
			}
		}
		select {
		case <-ctx.Done():
			return false, holder, wagate.Errorf(wagate.EUNAVAILABLE, "account %s is served by replica %s, which holds its WhatsApp session and did not answer the request within %s; try again, or send it to that replica", ref.Phone, holder, linkForwardWait)
		case <-bell:
		case <-t.C:
		}
	}
}

// linkElsewhere starts linking on the replica holding the account's
// lease and answers with the state and code that replica shares.
func (w *whatsappWiring) linkElsewhere(ctx context.Context, acct *wagate.Account, method string) (gateway.LinkStatus, error) {
	ref := acct.Ref()
	start := time.Now()
	claimed, holder, err := w.forward(ctx, ref, method)
	if err != nil {
		return gateway.LinkStatus{}, err
	}
	if claimed {
		l, err := w.svc.Link(ctx, acct, method)
		return linkStatus(l), err
	}
	// The holder answered once its session reported its first state; it
	// stores that state a moment later: "linking" with the code in
	// link_codes (a pairing code after a first QR code: wait for the
	// code), or what ended the linking at once (a state with an error, or
	// connected, answered as the holder would). A plain "needs a link" is
	// the state from before the request, not an answer: wait on.
	ctx, cancel := context.WithTimeout(ctx, max(linkForwardWait-time.Since(start), time.Second))
	defer cancel()
	t := time.NewTicker(linkPollEvery)
	defer t.Stop()
	for {
		ls := w.LinkStatus(ref)
		stale := ls.Error == "" && (wagate.AccountLink{State: ls.State}).NeedsLinking()
		if ls.State != "linking" && !stale || method == postgres.LinkActionCode && ls.Code != "" || method == postgres.LinkActionQR && ls.QR != "" {
			return ls, nil
		}
		select {
		case <-ctx.Done():
			return gateway.LinkStatus{}, wagate.Errorf(wagate.EUNAVAILABLE, "account %s: replica %s, which holds its WhatsApp session, started linking but its code did not reach this replica within %s; read GET …/link, or try again", ref.Phone, holder, linkForwardWait)
		case <-t.C:
		}
	}
}

// serveLinkRequests runs, until ctx ends, the requests other replicas
// hand to this one for the accounts whose lease it holds: at each
// notification on the link channel and every linkRequestPoll. It waits
// for the requests under way before it returns.
func (w *whatsappWiring) serveLinkRequests(ctx context.Context) {
	reqs := w.requests()
	if reqs == nil {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wake := make(chan struct{}, 1)
	wg.Go(func() {
		_ = reqs.ListenLinkRequests(ctx, func() {
			w.bell.ring()
			select {
			case wake <- struct{}{}:
			default:
			}
		})
	})
	t := time.NewTicker(linkRequestPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		taken, err := reqs.TakeLinkRequests(ctx)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("cannot read the link requests of the other replicas", zap.Error(err))
			}
			continue
		}
		for _, r := range taken {
			wg.Go(func() { w.runLinkRequest(ctx, r) })
		}
	}
}

// runLinkRequest runs one request handed over by another replica as a
// local request, and stores its outcome for that replica.
func (w *whatsappWiring) runLinkRequest(ctx context.Context, r postgres.LinkRequest) {
	ctx, cancel := context.WithTimeout(ctx, linkForwardWait)
	defer cancel()
	var err error
	switch r.Action {
	case postgres.LinkActionUnlink:
		err = w.svc.Unlink(ctx, r.Account)
	default:
		var a *wagate.Account
		if a, err = w.db.FindAccount(ctx, r.Account); err == nil {
			_, err = w.svc.Link(ctx, a, r.Action)
		}
	}
	if err != nil && ctx.Err() != nil {
		// This replica is stopping, or the request outlasted the asker's
		// wait: the asker should try again, not read an internal error.
		err = wagate.Errorf(wagate.EUNAVAILABLE, "the replica holding the account stopped or ran out of time while running the request; try again")
	}
	w.log.Info("ran a link request of another replica", zap.String("account", r.Account.Phone), zap.String("action", r.Action),
		zap.String("from", r.RequestedBy), zap.String("error", wagate.ErrorMessage(err)))
	if err := w.requests().FinishLinkRequest(context.WithoutCancel(ctx), r.ID, err); err != nil {
		w.log.Warn("cannot store the outcome of a link request; the other replica answers 503", zap.String("account", r.Account.Phone), zap.Error(err))
	}
}
