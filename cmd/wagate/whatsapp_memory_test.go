//go:build !nowhatsapp

package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// idleAccounts is how many linked accounts TestWhatsAppIdleAccountMemory
// holds.
const idleAccounts = 100

// TestWhatsAppIdleAccountMemory measures what an idle linked whatsapp
// account costs the whole server (its record, the sender's and the
// Manager's session, the link hub) on the fake client, against SPEC §7's
// 1 MiB. A real whatsmeow client adds its own share, which needs WhatsApp
// to measure (sender/whatsapp's TestRealClientMemory gives its unconnected
// part).
func TestWhatsAppIdleAccountMemory(t *testing.T) {
	wa := whatsapptest.New()
	useFakeWhatsApp(t, wa)
	dir := t.TempDir()
	cfg := testConfig(dir, 10*time.Millisecond, 0)
	cfg.MaxAccounts = idleAccounts + 10 // the workspace's own account and the warm-up one too
	in := start(t, cfg)
	ws := createWorkspace(t, in, operatorToken(t, dir), 10)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // only keeps a broken build from hanging
	defer cancel()
	link := func(phone string) {
		t.Helper()
		st, acct := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
		mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
		ref := wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}
		go func() {
			if c := wa.Linking(ctx, ref); c != nil {
				c.ShowQR("2@qr")
			}
		}()
		st, l := call(t, "POST", in.base+"/api/v1/workspaces/"+ws.id+"/accounts/"+strings.ReplaceAll(phone, "+", "%2B")+"/link", ws.ownerToken, map[string]any{"method": "qr"})
		if st != http.StatusAccepted {
			t.Fatalf("POST link %s = %d %v", phone, st, l)
		}
		c := wa.Linking(ctx, ref)
		c.Pair(phone)
		c.Connected()
	}
	link("+14155559999") // the first of its kind warms what every account shares
	waitFor(t, "the first account connected", func() bool { return storedLink(t, in, ws, "+14155559999") == "connected" })

	before := heapAndStacks()
	for i := range idleAccounts {
		link(fmt.Sprintf("+1415555%04d", i))
	}
	waitFor(t, "every account connected", func() bool {
		_, list := call(t, "GET", in.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, nil)
		n := 0
		for _, a := range list["accounts"].([]any) {
			if l, _ := a.(map[string]any)["link"].(map[string]any); l["state"] == "connected" {
				n++
			}
		}
		return n == idleAccounts+1
	})
	after := heapAndStacks()
	per := float64(int64(after)-int64(before)) / idleAccounts
	t.Logf("%d idle linked accounts on the fake client: %.0f bytes each (heap in use + goroutine stacks, whole server)", idleAccounts, per)
	if per > 1<<20 {
		t.Errorf("an idle linked account costs %.0f bytes, more than SPEC §7's 1 MiB", per)
	}
}

func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
