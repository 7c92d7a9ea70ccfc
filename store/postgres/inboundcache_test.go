package postgres

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres/pgtest"
	"github.com/wagate/wagate/store/storetest"
)

// The inbound cache (inboundcache.go): a regenerated or disabled URL stops
// accepting at once on every replica, and stops being found at once on the
// replica that changed it and within inboundCacheTTL on the others.

// ttlClock is the cache's clock, moved by hand.
type ttlClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *ttlClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *ttlClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type inboundWorld struct {
	t     *testing.T
	a, b  *DB // two replicas on one database
	clock *ttlClock
	token string
}

func newInboundWorld(t *testing.T) *inboundWorld {
	url := pgtest.Clone(t, migratedTemplate)
	w := &inboundWorld{t: t, clock: &ttlClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}}
	w.a, w.b = openContract(t, url, storetest.Env{}), openContract(t, url, storetest.Env{})
	w.a.inbound.now, w.b.inbound.now = w.clock.now, w.clock.now
	tok, err := wagate.NewToken(rand.Reader)
	mustOK(t, err)
	w.token = tok
	ctx := context.Background()
	mustOK(t, w.a.CreateWorkspace(ctx, &wagate.Workspace{ID: "ws_a", Name: "a", Credits: 10, Webhook: wagate.Webhook{Token: tok, Enabled: true}}, nil))
	mustOK(t, w.a.CreateAccount(ctx, &wagate.Account{WorkspaceID: "ws_a", Phone: "+14155552671", Transport: wagate.TransportDryrun, Active: true}))
	return w
}

// accept sends one message through db with the token, as the inbound URL does.
func (w *inboundWorld) accept(db *DB, token string) error {
	w.t.Helper()
	id, err := testIDs.Next(time.Now())
	mustOK(w.t, err)
	_, err = db.Accept(context.Background(), &wagate.Accept{WorkspaceID: "ws_a", InboundToken: token, Source: wagate.SourceInbound,
		Message: &wagate.Message{ID: id, AccountPhone: "+14155552671", JID: "14155550100@s.whatsapp.net", Text: "hi", Credits: 1},
		Attempt: &wagate.Attempt{RequestID: "req-" + id}})
	return err
}

func (w *inboundWorld) find(db *DB, token string) (*wagate.Workspace, error) {
	return db.FindWorkspaceByInboundToken(context.Background(), token)
}

func TestInboundCacheRegeneratedURLStopsOnEveryReplica(t *testing.T) {
	w := newInboundWorld(t)
	ctx := context.Background()
	for _, db := range []*DB{w.a, w.b} {
		if _, err := w.find(db, w.token); err != nil {
			t.Fatalf("the lookup before the change: %v", err)
		}
	}
	fresh, err := wagate.NewToken(rand.Reader)
	mustOK(t, err)
	if _, err := w.a.RegenerateWebhook(ctx, "ws_a", fresh, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// The replica that regenerated it forgets the old answer at once.
	if _, err := w.find(w.a, w.token); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("a's lookup of the old token after its own regenerate: %v, want ENOTFOUND", err)
	}
	// The other still has it (the cache's point), but cannot accept with it.
	if ws, err := w.find(w.b, w.token); err != nil || ws.ID != "ws_a" {
		t.Errorf("b's lookup within the TTL: %v, %v, want its cached answer", ws, err)
	}
	if err := w.accept(w.b, w.token); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("b's accept with the old token: %v, want ENOTFOUND (the token compared under the row lock)", err)
	}
	w.clock.advance(inboundCacheTTL)
	if _, err := w.find(w.b, w.token); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("b's lookup of the old token after inboundCacheTTL: %v, want ENOTFOUND", err)
	}
	if err := w.accept(w.b, fresh); err != nil {
		t.Errorf("b's accept with the new token: %v", err)
	}
	if ws, _ := w.a.FindWorkspace(ctx, "ws_a"); ws.Credits != 9 {
		t.Errorf("balance %d, want 9: only the new token's accept charged", ws.Credits)
	}
}

func TestInboundCacheDisabledURLStopsOnEveryReplica(t *testing.T) {
	w := newInboundWorld(t)
	ctx := context.Background()
	if _, err := w.find(w.b, w.token); err != nil {
		t.Fatal(err)
	}
	if _, err := w.a.SetWebhookEnabled(ctx, "ws_a", false); err != nil {
		t.Fatal(err)
	}
	if ws, err := w.find(w.a, w.token); err != nil || ws.Webhook.Enabled {
		t.Errorf("a's lookup after disabling: enabled %v, %v, want the fresh answer (disabled)", ws != nil && ws.Webhook.Enabled, err)
	}
	if err := w.accept(w.b, w.token); wagate.ErrorCode(err) != wagate.EDISABLED {
		t.Errorf("b's accept through its stale answer: %v, want the disabled refusal from the commit", err)
	}
	w.clock.advance(inboundCacheTTL)
	if ws, err := w.find(w.b, w.token); err != nil || ws.Webhook.Enabled {
		t.Errorf("b's lookup after inboundCacheTTL: %v, want disabled", err)
	}
}

func TestInboundCacheAnswersAreCopies(t *testing.T) {
	w := newInboundWorld(t)
	ws, err := w.find(w.a, w.token)
	mustOK(t, err)
	ws.Name, ws.Accounts[0].Active = "changed by a caller", false
	again, err := w.find(w.a, w.token)
	mustOK(t, err)
	if again.Name != "a" || !again.Accounts[0].Active {
		t.Errorf("the next answer: name %q active %v, want the stored workspace, not a caller's changes", again.Name, again.Accounts[0].Active)
	}
}
