package main

import (
	"context"
	"flag"
	"fmt"
)

// cmdWorkspaceSet changes a workspace's settings: the credits.low threshold
// of the outbound event webhooks (SPEC §9).
func cmdWorkspaceSet() cliCommand {
	low := int64(-1)
	return cliCommand{
		noun: "workspace", verb: "set", args: "--low-credits N", inWorkspace: true,
		summary: "change a workspace's settings (owner): --low-credits N writes a credits.low event when the balance falls below N (0: off)",
		flags: func(fs *flag.FlagSet) {
			fs.Int64Var(&low, "low-credits", low, "the credits.low threshold; 0 switches it off")
		},
		run: func(ctx context.Context, cl *admin, _ []string) error {
			if low < 0 {
				return usagef("nothing to set: give --low-credits N (0 or more; 0 switches credits.low off)")
			}
			ws, err := cl.api.SetLowCredits(ctx, cl.workspace, low)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(ws)
			}
			if ws.LowCredits == 0 {
				fmt.Fprintf(cl.stdout, "Workspace %s: credits.low is off.\n", ws.ID)
				return nil
			}
			fmt.Fprintf(cl.stdout, "Workspace %s: a credits.low event is written when the balance (now %d) falls below %d.\n", ws.ID, ws.Credits, ws.LowCredits)
			return nil
		},
	}
}
