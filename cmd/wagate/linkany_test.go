package main

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/store/postgres"
)

// stoppingHolder is a holder replica's Service whose Link and Unlink run
// until the holder stops (their ctx ends), then fail with what a stopped
// call returns: not a *wagate.Error, so an internal error by itself.
type stoppingHolder struct {
	whatsapp.Service
	running chan struct{}
}

func (s *stoppingHolder) Unlink(ctx context.Context, _ wagate.AccountRef) error {
	close(s.running)
	<-ctx.Done()
	return ctx.Err()
}

func (s *stoppingHolder) Link(ctx context.Context, _ *wagate.Account, _ string) (whatsapp.Link, error) {
	close(s.running)
	<-ctx.Done()
	return whatsapp.Link{}, ctx.Err()
}

// finishedRequests is the holder's database as runLinkRequest uses it:
// the account, and the outcomes it stores.
type finishedRequests struct {
	Backend
	linkRequests
	outcome map[int64]error
}

func (f *finishedRequests) FindAccount(_ context.Context, ref wagate.AccountRef) (*wagate.Account, error) {
	return &wagate.Account{WorkspaceID: ref.WorkspaceID, Phone: ref.Phone, Transport: wagate.TransportWhatsApp, Active: true}, nil
}

func (f *finishedRequests) FinishLinkRequest(_ context.Context, id int64, runErr error) error {
	f.outcome[id] = runErr
	return nil
}

// TestRunLinkRequestHolderStopping: a holder that stops while it runs a
// request another replica handed it stores "unavailable, try again" as
// the outcome (the asker's 503), not the internal error its stopped call
// returned.
func TestRunLinkRequestHolderStopping(t *testing.T) {
	ref := wagate.AccountRef{WorkspaceID: "ws_0123456789abcdef", Phone: "+14155550123"}
	db := &finishedRequests{outcome: map[int64]error{}}
	for i, action := range []string{postgres.LinkActionUnlink, postgres.LinkActionQR, postgres.LinkActionCode} {
		svc := &stoppingHolder{running: make(chan struct{})}
		w := &whatsappWiring{svc: svc, db: db, log: zaptest.NewLogger(t), links: newLinkHub()}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.runLinkRequest(ctx, postgres.LinkRequest{ID: int64(i), Account: ref, Action: action, RequestedBy: "r2"})
		}()
		<-svc.running
		stop() // the holder stops mid-request
		<-done
		err := db.outcome[int64(i)]
		if wagate.ErrorCode(err) != wagate.EUNAVAILABLE || !strings.Contains(wagate.ErrorMessage(err), "try again") {
			t.Errorf("%s: stored outcome %v (code %q), want unavailable saying try again", action, err, wagate.ErrorCode(err))
		}
	}
}
