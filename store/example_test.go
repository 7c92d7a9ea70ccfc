package store_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store"
)

// Accepting a request charges its credits, stores the message, queues it
// and records the attempt in one durable commit; the sender then takes it
// from the head of its account's queue.
func ExampleDB_Accept() {
	dir, err := os.MkdirTemp("", "wagate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "wagate.db"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Now()

	ws := &wagate.Workspace{ID: "ws_0123456789abcdef", Name: "Acme", Credits: 10,
		Webhook: wagate.Webhook{Token: "inbound-token", Enabled: true}}
	if err := db.CreateWorkspace(ctx, ws, nil); err != nil {
		log.Fatal(err)
	}
	acct := &wagate.Account{WorkspaceID: ws.ID, Phone: "+15105566777", Transport: wagate.TransportDryrun, Active: true}
	if err := db.CreateAccount(ctx, acct); err != nil {
		log.Fatal(err)
	}

	body := `{"action":"send","whatsapp_account_phone":"+15105566777","phone":"+14155552671","text":"lorem ipsum"}`
	res, err := db.Accept(ctx, &wagate.Accept{
		WorkspaceID: ws.ID,
		BodyHash:    sha256.Sum256([]byte(body)),
		Message: &wagate.Message{
			ID: "wa_backend:3EB09FCC85FE99662E46", AccountPhone: acct.Phone,
			JID: "14155552671@s.whatsapp.net", Text: "lorem ipsum", Credits: 1, CreatedAt: now,
		},
		Attempt: &wagate.Attempt{At: now, Body: body},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Message.ID, res.Message.Status, "chat", res.Message.ChatID, "balance", res.Balance)

	head, err := db.Head(ctx, acct.Ref())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("next to send:", head.ID)
	// Output:
	// wa_backend:3EB09FCC85FE99662E46 queued chat 1 balance 9
	// next to send: wa_backend:3EB09FCC85FE99662E46
}
