package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/wagate/wagate/gateway/api"
	"github.com/wagate/wagate/gateway/client"
)

// An operator creates a workspace; its owner connects an account; a
// refusal carries the status, the machine code and the server's message.
func Example() {
	dir, _ := os.MkdirTemp("", "wagate-client-example-")
	defer os.RemoveAll(dir)
	srv, err := startServer(dir, zap.NewNop())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.close()
	ctx := context.Background()

	op := client.New(srv.url, srv.operator)
	ws, err := op.CreateWorkspace(ctx, "acme", 100)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ws.Name, ws.Credits, ws.Webhook.Enabled)

	owner := client.New(srv.url, ws.OwnerToken)
	acct, err := owner.CreateAccount(ctx, ws.ID, api.CreateAccount{Phone: "+1 510 556 6777"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(acct.Phone, acct.Transport, acct.Active)

	_, err = owner.AddCredits(ctx, ws.ID, 50)
	var refused *client.Error
	if errors.As(err, &refused) {
		fmt.Println(refused.Status, refused.Code)
	}
	// Output:
	// acme 100 true
	// +15105566777 dryrun true
	// 403 forbidden
}
