//go:build !nowhatsapp

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp/whatsapptest"
	"github.com/wagate/wagate/store/postgres"
)

// TestWhatsAppLinkRequestHolderDiesAfterTaking: a link request handed to
// the replica holding the account's lease (here "r9", a store handle the
// test drives) that takes it and dies before answering is not lost: the
// asking replica r2 notices, while it waits, that the lease moved and
//   - runs the request itself when no replica holds the lease any more;
//   - hands it to the new holder r1 when r1 took the account over, which
//     runs it;
//
// either way the answer is the 202 with the QR code, not a 503 after 20 s.
func TestWhatsAppLinkRequestHolderDiesAfterTaking(t *testing.T) {
	wa := whatsapptest.New()
	useFakeWhatsApp(t, wa)
	url := newPGDatabase(t)
	r1, _ := startPG(t, replicaConfig(t, url, "r1"))
	cfg := replicaConfig(t, url, "r2")
	r2, _ := startPG(t, cfg)
	ws := createWorkspace(t, r2, operatorToken(t, r1.app.cfg.DataDir), 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r9, err := postgres.Open(ctx, url, postgres.Options{Replica: "r9", LeaseTTL: cfg.LeaseTTL, Logger: newTestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r9.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	conn2, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	r1db, ok := r1.app.db.(*postgres.DB)
	if !ok {
		t.Fatalf("r1's backend is %T, want *postgres.DB", r1.app.db)
	}

	// link asks r2 to link phone by QR code while r9 holds its lease; r9
	// takes the request, then dies (its lease expires) in die.
	link := func(phone, qr string, die func(id int64)) {
		t.Helper()
		st, acct := call(t, "POST", r2.base+"/api/v1/workspaces/"+ws.id+"/accounts", ws.ownerToken, map[string]any{"phone": phone, "transport": "whatsapp"})
		mustStatus(t, "connect whatsapp account", st, http.StatusCreated, acct)
		ref := wagate.AccountRef{WorkspaceID: ws.id, Phone: phone}
		if err := r9.ClaimLease(ctx, ref); err != nil {
			t.Fatal(err)
		}
		go func() {
			if c := wa.Linking(ctx, ref); c != nil {
				c.ShowQR(qr)
			}
		}()
		type answer struct {
			st  int
			ans map[string]any
		}
		got := make(chan answer, 1)
		go func() {
			st, ans := call(t, "POST", r2.base+"/api/v1/workspaces/"+ws.id+"/accounts/"+strings.ReplaceAll(phone, "+", "%2B")+"/link", ws.ownerToken, map[string]any{"method": "qr"})
			got <- answer{st, ans}
		}()
		var taken []postgres.LinkRequest
		waitFor(t, "r9 to take r2's request", func() bool {
			taken, err = r9.TakeLinkRequests(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return len(taken) == 1
		})
		die(taken[0].ID)
		a := <-got
		if a.st != http.StatusAccepted || a.ans["state"] != "linking" || a.ans["qr"] != qr {
			t.Fatalf("POST link on r2 after the holder died = %d %v, want 202 linking with the QR code %s", a.st, a.ans, qr)
		}
		// r9's late outcome, had it run the request after all, is not
		// r9's to store any more.
		if err := r9.FinishLinkRequest(ctx, taken[0].ID, wagate.Errorf(wagate.EINTERNAL, "late")); err != nil {
			t.Fatal(err)
		}
	}
	owner := func(phone string) string {
		t.Helper()
		var o string
		if err := conn.QueryRow(ctx, `SELECT owner FROM account_leases WHERE workspace_id = $1 AND phone = $2`, ws.id, phone).Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	const dead = `UPDATE account_leases SET expires_at = now() - interval '1 second' WHERE owner = 'r9'`

	// No holder left: r2 runs it.
	link("+14155550123", "2@qr-run-here", func(int64) {
		if _, err := conn.Exec(ctx, dead); err != nil {
			t.Fatal(err)
		}
	})
	if o := owner("+14155550123"); o != "r2" {
		t.Errorf("the lease of the account linked on r2 is %q's, want r2's", o)
	}
	// r1 takes the account over the moment r9 dies: r2 hands the request
	// to r1. The request's row is locked meanwhile, so r2 sees the lease
	// only once r1 holds it.
	link("+14155550124", "2@qr-run-on-r1", func(id int64) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT 1 FROM link_requests WHERE id = $1 FOR UPDATE`, id); err != nil {
			t.Fatal(err)
		}
		if _, err := conn2.Exec(ctx, dead); err != nil {
			t.Fatal(err)
		}
		if err := r1db.ClaimLease(ctx, wagate.AccountRef{WorkspaceID: ws.id, Phone: "+14155550124"}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if o := owner("+14155550124"); o != "r1" {
		t.Errorf("the lease of the account linked on r1 is %q's, want r1's", o)
	}
	var left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM link_requests`).Scan(&left); err != nil || left != 0 {
		t.Errorf("link_requests rows left = %d, %v; want none", left, err)
	}
}
