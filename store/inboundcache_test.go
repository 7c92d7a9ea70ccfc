package store

import (
	"reflect"
	"sync"
	"testing"

	"github.com/wagate/wagate"
)

// findInbound is FindWorkspaceByInboundToken of the fixture's current token.
func (f *fixture) findInbound(token string) *wagate.Workspace {
	f.t.Helper()
	ws, err := f.db.FindWorkspaceByInboundToken(f.ctx, token)
	if err != nil {
		f.t.Fatalf("FindWorkspaceByInboundToken: %v", err)
	}
	return ws
}

// cached reports whether the cache holds a current entry for token.
func (f *fixture) cached(token string) bool {
	return f.db.inbound.get(wagate.HashToken(token)) != nil
}

func phones(ws *wagate.Workspace) []string {
	var list []string
	for _, a := range ws.Accounts {
		p := a.Phone
		if !a.Active {
			p += " (inactive)"
		}
		list = append(list, p)
	}
	return list
}

// TestInboundCacheHit: the second lookup is served from memory and equals
// what the transaction read; a caller changing its answer changes nothing
// for the next one.
func TestInboundCacheHit(t *testing.T) {
	f := newFixture(t, 10)
	token := f.ws.Webhook.Token
	first := f.findInbound(token)
	if !f.cached(token) {
		t.Fatal("the answer was not cached")
	}
	second := f.findInbound(token)
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("cached answer %+v differs from the read %+v", second, first)
	}
	fresh, err := f.db.FindWorkspace(f.ctx, f.ws.ID)
	mustNoErr(t, err)
	if !reflect.DeepEqual(second, fresh) {
		t.Fatalf("cached answer %+v differs from FindWorkspace %+v", second, fresh)
	}

	second.Name = "changed by the caller"
	second.Webhook.Enabled = false
	second.Accounts[0].Active = false
	second.Accounts[0].Settings = map[string]string{"k": "v"}
	second.Accounts = append(second.Accounts, &wagate.Account{Phone: "+1"})
	third := f.findInbound(token)
	if !reflect.DeepEqual(third, first) {
		t.Fatalf("a caller's change leaked into the cache: %+v", third)
	}

	// Another token is unknown, cache or not.
	_, err = f.db.FindWorkspaceByInboundToken(f.ctx, token+"x")
	wantCode(t, err, wagate.ENOTFOUND)
}

// TestInboundCacheSettingsAreCopies: the settings map of a cached account
// is not shared with callers.
func TestInboundCacheSettingsAreCopies(t *testing.T) {
	f := newFixture(t, 10)
	a := &wagate.Account{WorkspaceID: f.ws.ID, Phone: testPhone2, Transport: wagate.TransportDryrun, Active: true, ConnectedAt: f.clock.Now(), Settings: map[string]string{"a": "1"}}
	mustNoErr(t, f.db.CreateAccount(f.ctx, a))
	token := f.ws.Webhook.Token
	f.findInbound(token)
	got := f.findInbound(token)
	for _, acct := range got.Accounts {
		if acct.Phone == testPhone2 {
			acct.Settings["a"] = "changed"
		}
	}
	for _, acct := range f.findInbound(token).Accounts {
		if acct.Phone == testPhone2 && acct.Settings["a"] != "1" {
			t.Fatalf("settings = %v: a caller's change leaked into the cache", acct.Settings)
		}
	}
}

// TestInboundCacheRegenerate: the old URL is unknown as soon as
// RegenerateWebhook returns, and the new one is found.
func TestInboundCacheRegenerate(t *testing.T) {
	f := newFixture(t, 10)
	old := f.ws.Webhook.Token
	f.findInbound(old)
	f.findInbound(old)
	const fresh = "new-token-0123456789012345678901234567890"
	_, err := f.db.RegenerateWebhook(f.ctx, f.ws.ID, fresh, f.clock.Now())
	mustNoErr(t, err)
	for range 2 { // a miss, then what a second look would find
		_, err = f.db.FindWorkspaceByInboundToken(f.ctx, old)
		wantCode(t, err, wagate.ENOTFOUND)
	}
	for range 2 {
		if ws := f.findInbound(fresh); ws.ID != f.ws.ID || ws.Webhook.Token != fresh {
			t.Fatalf("new token found %s with token %q", ws.ID, ws.Webhook.Token)
		}
	}
	if !f.cached(fresh) {
		t.Error("the new token's answer was not cached")
	}
}

// TestInboundCacheFollowsWrites: every admin write that changes what the
// gateway decides on shows in the next lookup.
func TestInboundCacheFollowsWrites(t *testing.T) {
	f := newFixture(t, 10)
	token := f.ws.Webhook.Token
	warm := func() {
		t.Helper()
		f.findInbound(token)
		if !f.cached(token) {
			t.Fatal("not cached after a lookup")
		}
	}

	warm()
	_, err := f.db.SetWebhookEnabled(f.ctx, f.ws.ID, false)
	mustNoErr(t, err)
	if f.findInbound(token).Webhook.Enabled {
		t.Fatal("still enabled after SetWebhookEnabled(false)")
	}
	warm()
	_, err = f.db.SetWebhookEnabled(f.ctx, f.ws.ID, true)
	mustNoErr(t, err)
	if !f.findInbound(token).Webhook.Enabled {
		t.Fatal("still disabled after SetWebhookEnabled(true)")
	}

	warm()
	f.clock.Advance(1)
	f.createAccount(f.ws.ID, testPhone2, true)
	if got, want := phones(f.findInbound(token)), []string{testPhone2, testPhone}; !reflect.DeepEqual(got, want) {
		t.Fatalf("accounts after CreateAccount = %v, want %v", got, want)
	}

	warm()
	_, err = f.db.SetAccountActive(f.ctx, wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: testPhone2}, false)
	mustNoErr(t, err)
	if got, want := phones(f.findInbound(token)), []string{testPhone2 + " (inactive)", testPhone}; !reflect.DeepEqual(got, want) {
		t.Fatalf("accounts after SetAccountActive = %v, want %v", got, want)
	}

	warm()
	mustNoErr(t, f.db.DeleteAccount(f.ctx, wagate.AccountRef{WorkspaceID: f.ws.ID, Phone: testPhone2}, wagate.SourceSystem, f.clock.Now()))
	if got, want := phones(f.findInbound(token)), []string{testPhone}; !reflect.DeepEqual(got, want) {
		t.Fatalf("accounts after DeleteAccount = %v, want %v", got, want)
	}

	warm()
	_, err = f.db.AddCredits(f.ctx, f.ws.ID, 5)
	mustNoErr(t, err)
	if got := f.findInbound(token).Credits; got != 15 {
		t.Fatalf("credits after AddCredits = %d, want 15", got)
	}
}

// TestInboundCacheKeepsOutAStaleRead: a lookup whose transaction started
// before a write committed must not store what it read, even if it stores
// after the write's bump.
func TestInboundCacheKeepsOutAStaleRead(t *testing.T) {
	f := newFixture(t, 10)
	token := f.ws.Webhook.Token
	h := wagate.HashToken(token)

	gen := f.db.inbound.generation() // the reader starts
	stale := f.findInbound(token)    // and reads the enabled URL
	_, err := f.db.SetWebhookEnabled(f.ctx, f.ws.ID, false)
	mustNoErr(t, err)
	f.db.inbound.put(h, gen, stale) // and stores after the write

	if f.cached(token) {
		t.Fatal("a read from before the write was stored as current")
	}
	if f.findInbound(token).Webhook.Enabled {
		t.Fatal("the stale read was served: the URL shows enabled after SetWebhookEnabled(false)")
	}
}

// TestInboundCacheIsBounded: a full cache is cleared, not grown.
func TestInboundCacheIsBounded(t *testing.T) {
	var c inboundCache
	ws := &wagate.Workspace{ID: "ws"}
	for i := range inboundCacheMax + 1 {
		var h [32]byte
		h[0], h[1], h[2] = byte(i), byte(i>>8), byte(i>>16)
		c.put(h, c.generation(), ws)
	}
	if n := len(c.entries); n != 1 {
		t.Fatalf("%d entries after %d puts; the cache should have been cleared at %d", n, inboundCacheMax+1, inboundCacheMax)
	}
}

// TestInboundCacheConcurrent runs lookups against writes under the race
// detector; once the writes are done, a lookup sees their final state.
func TestInboundCacheConcurrent(t *testing.T) {
	f := newFixture(t, 0)
	token := f.ws.Webhook.Token
	const writes = 20
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ws, err := f.db.FindWorkspaceByInboundToken(f.ctx, token)
				if err != nil {
					t.Errorf("FindWorkspaceByInboundToken: %v", err)
					return
				}
				ws.Accounts = nil // callers may change their copy
				ws.Credits = -1
			}
		}()
	}
	for i := range writes {
		_, err := f.db.AddCredits(f.ctx, f.ws.ID, 1)
		mustNoErr(t, err)
		_, err = f.db.SetWebhookEnabled(f.ctx, f.ws.ID, i%2 == 0)
		mustNoErr(t, err)
	}
	close(stop)
	wg.Wait()
	ws := f.findInbound(token)
	if ws.Credits != writes || ws.Webhook.Enabled != ((writes-1)%2 == 0) || len(ws.Accounts) != 1 {
		t.Fatalf("after the writes: credits %d, enabled %v, %d accounts; want %d, %v, 1", ws.Credits, ws.Webhook.Enabled, len(ws.Accounts), writes, (writes-1)%2 == 0)
	}
}
