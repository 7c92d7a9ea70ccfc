//go:build !nowhatsapp

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
)

// TestWhatsAppLinkRequestHolderSilent: a link or unlink request on a
// replica that does not hold the account's lease is handed to the holder;
// when the holder never answers (here a replica "r9" that holds the lease
// and runs no wagate), the answer is a 503 naming r9 once the bounded wait
// ends, nothing was linked here, and the request row is gone.
func TestWhatsAppLinkRequestHolderSilent(t *testing.T) {
	wait := linkForwardWait
	linkForwardWait = 300 * time.Millisecond // the bound, not a timed assertion: any value ends in the 503
	t.Cleanup(func() { linkForwardWait = wait })
	wa := whatsapptest.New()
	useFakeWhatsApp(t, wa)
	url := newPGDatabase(t)
	cfg := testConfig(t.TempDir(), 10*time.Millisecond, 0)
	cfg.DatabaseURL, cfg.Replica, cfg.LeaseTTL = url, "r2", 2*time.Second
	r2, _ := startPG(t, cfg)
	ws := createWorkspace(t, r2, operatorToken(t, cfg.DataDir), 10)
	const phone = "+14155550123"
	st, acct := call(t, "POST", r2.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
	mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO account_leases (workspace_id, phone, owner, expires_at, epoch) VALUES ($1, $2, 'r9', now() + interval '1 hour', 1)
		ON CONFLICT (workspace_id, phone) DO UPDATE SET owner = 'r9', expires_at = excluded.expires_at`, ws.id, phone); err != nil {
		t.Fatal(err)
	}

	linkURL := r2.base + "/api/v1/workspaces/" + ws.id + "/accounts/" + strings.ReplaceAll(phone, "+", "%2B") + "/link"
	for _, try := range []struct {
		method string
		body   any
	}{{"POST", map[string]any{"method": "code"}}, {"POST", map[string]any{"method": "qr"}}, {"DELETE", nil}} {
		st, ans := call(t, try.method, linkURL, ws.ownerToken, try.body)
		if st != http.StatusServiceUnavailable || ans["error"] != "unavailable" || !strings.Contains(str(ans["message"]), "replica r9") {
			t.Errorf("%s link %v on r2 = %d %v, want 503 unavailable naming replica r9", try.method, try.body, st, ans)
		}
	}
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM link_requests`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("link_requests holds %d rows after the requests were answered (%v), want none", rows, err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if c := wa.Linking(done, wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}); c != nil {
		t.Error("r2 started linking an account whose lease r9 holds")
	}
}
