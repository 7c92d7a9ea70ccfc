package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/wagate/wagate"
)

// The demo workspace of `serve --demo`: one dryrun account, so a new user can
// paste a curl line and watch the outbox.
const (
	demoWorkspaceName = "demo"
	demoAccountPhone  = "+15105566777" // SPEC §1's reference sending account
	demoRecipient     = "+14155552671" // a valid US number, the reference recipient
)

// setUpDemo creates the demo workspace on the first start and reuses it on
// later ones, then prints its inbound URL and a curl line to out.
func (a *App) setUpDemo(ctx context.Context, out io.Writer) error {
	ws, err := a.findDemoWorkspace(ctx)
	if err != nil {
		return err
	}
	if ws == nil {
		var ownerToken string
		ws, ownerToken, err = a.gw.CreateWorkspace(ctx, demoWorkspaceName, DefaultDemoCredits)
		if err != nil {
			return fmt.Errorf("demo workspace: %w", err)
		}
		acct := &wagate.Account{
			WorkspaceID: ws.ID,
			Phone:       demoAccountPhone,
			Transport:   wagate.TransportDryrun,
			Active:      true,
			ConnectedAt: time.Now().UTC(),
		}
		if err := a.db.CreateAccount(ctx, acct); err != nil {
			return fmt.Errorf("demo account: %w", err)
		}
		fmt.Fprintf(out, "Created the demo workspace %s with %d credits and a dryrun account %s.\n", ws.ID, DefaultDemoCredits, demoAccountPhone)
		fmt.Fprintf(out, "Its owner token (shown once):\n  %s\n\n", ownerToken)
	}
	url := a.gw.InboundURL(ws.Webhook.Token)
	fmt.Fprintf(out, "Demo inbound URL (keep it secret, it is the only key):\n  %s\n\n", url)
	fmt.Fprintf(out, "Send a message:\n  curl -sS -X POST '%s' -H 'Content-Type: application/json' -d '{\"action\":\"send\",\"phone\":\"%s\",\"text\":\"Hello from wagate\"}'\n\n", url, demoRecipient)
	fmt.Fprintf(out, "Watch the dryrun transport \"send\" it, about %s after the previous message:\n  tail -f %s\n\n", a.cfg.SendInterval, filepath.Join(a.cfg.DataDir, dryrunOutboxFile))
	return nil
}

// findDemoWorkspace returns the workspace named "demo", or nil.
func (a *App) findDemoWorkspace(ctx context.Context) (*wagate.Workspace, error) {
	all, err := a.db.ListWorkspaces(ctx)
	if err != nil {
		return nil, err
	}
	for _, ws := range all {
		if ws.Name == demoWorkspaceName {
			return ws, nil
		}
	}
	return nil, nil
}
