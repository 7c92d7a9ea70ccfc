//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate"
)

// idleSessions is how many idle sessions TestIdleSessionMemory holds.
const idleSessions = 1000

// An idle linked account costs the manager's session (goroutine, channels,
// state) and whatever its client holds: here the fake, so this measures
// wagate's own share. SPEC §7 allows 1 MiB per idle linked account; a real
// whatsmeow client adds its own (websocket buffers, caches), which cannot
// be measured offline.
func TestIdleSessionMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev := newFakeDevices()
		m := newManager(Config{}, dev, newMemLedger())
		defer m.Close()
		refs := make([]wagate.AccountRef, idleSessions)
		clients := make([]*fakeClient, idleSessions)
		for i := range refs {
			refs[i] = wagate.AccountRef{WorkspaceID: "ws", Phone: fmt.Sprintf("+1415555%04d", i)}
			clients[i] = newFakeClient(true)
			dev.linked[refs[i]] = clients[i]
		}
		before := heapInUse()
		for _, ref := range refs {
			m.Start(context.Background(), &wagate.Account{WorkspaceID: ref.WorkspaceID, Phone: ref.Phone, Transport: TransportName})
		}
		synctest.Wait() // every session has connected and waits for events
		for i, ref := range refs {
			clients[i].emit(&events.Connected{})
			if !m.session(ref).waitConnected(context.Background()) {
				t.Fatalf("%s did not connect", ref.Phone)
			}
		}
		synctest.Wait()
		after := heapInUse()
		per := float64(after-before) / idleSessions
		t.Logf("%d idle sessions (fake clients): %.0f bytes each (heap + goroutine stacks)", idleSessions, per)
		if per > 1<<20 {
			t.Errorf("an idle session costs %.0f bytes, more than SPEC §7's 1 MiB", per)
		}
	})
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// The real client's own share before it connects (caches, maps, its
// goroutine-free state), for the record: connected, it adds the websocket
// and the noise handshake's buffers, which need WhatsApp to measure.
func TestRealClientMemory(t *testing.T) {
	ks := openTestKeystore(t, t.TempDir())
	defer ks.close()
	const n = 200
	clients := make([]*whatsmeow.Client, n)
	before := heapInUse()
	for i := range clients {
		clients[i] = whatsmeow.NewClient(ks.container.NewDevice(), nil)
	}
	after := heapInUse()
	t.Logf("%d unconnected whatsmeow clients: %.0f bytes each", n, float64(after-before)/n)
	runtime.KeepAlive(clients)
}
