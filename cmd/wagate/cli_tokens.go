package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/wagate/wagate/gateway/api"
)

// The token commands: workspace tokens are made, listed and revoked by an
// owner (SPEC §4). The secret is printed once, by create; list shows only
// a prefix, so a person can tell tokens apart without seeing them.

func cmdTokenCreate() cliCommand {
	var role, name string
	return cliCommand{
		noun: "token", verb: "create", args: "--role owner|support [--name N]", inWorkspace: true,
		summary: "make a workspace token (owner); prints it once",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&role, "role", "", "owner (read and write) or support (read only) (required)")
			fs.StringVar(&name, "name", "", "who or what the token is for, shown by token list")
		},
		run: func(ctx context.Context, cl *admin, _ []string) error {
			if role != "owner" && role != "support" {
				return usagef("--role %q: give --role owner or --role support", role)
			}
			tok, err := cl.api.CreateToken(ctx, cl.workspace, role, name)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(tok)
			}
			fmt.Fprintf(cl.stdout, "New %s token for workspace %s (shown only now; store it safely):\n  %s\n", tok.Role, tok.WorkspaceID, tok.Token)
			if tok.ID != "" {
				fmt.Fprintf(cl.stdout, "Its id is %s; to revoke it: wagate token revoke %s --yes\n", tok.ID, tok.ID)
			}
			return nil
		},
	}
}

func cmdTokenList() cliCommand {
	return cliCommand{
		noun: "token", verb: "list", inWorkspace: true,
		summary: "list the workspace's tokens (owner), never their secrets",
		run: func(ctx context.Context, cl *admin, _ []string) error {
			list, err := cl.api.ListTokens(ctx, cl.workspace)
			if err != nil {
				return err
			}
			out := api.TokenList{Tokens: list}
			if cl.json {
				return cl.printJSON(&out)
			}
			if len(list) == 0 {
				fmt.Fprintln(cl.stdout, "No tokens. Make one with: wagate token create --role support --name NAME")
				return nil
			}
			rows := [][]string{}
			for _, t := range list {
				lastUsed := cliTime(t.LastUsedAt)
				if t.LastUsedAt == nil {
					lastUsed = "never"
				}
				rows = append(rows, []string{t.ID, t.Role, orDash(t.Name), t.Prefix + "…", cliTime(t.CreatedAt), lastUsed})
			}
			cl.table([]string{"ID", "ROLE", "NAME", "PREFIX", "CREATED", "LAST USED"}, rows)
			return nil
		},
	}
}

// cmdTokenRevoke asks for --yes, as webhook regenerate does: both cut off
// whoever holds the old secret at once, with no undo.
func cmdTokenRevoke() cliCommand {
	var yes bool
	return cliCommand{
		noun: "token", verb: "revoke", args: "ID --yes", nargs: 1, inWorkspace: true,
		summary: "revoke a token (owner); it and its console sessions stop at once",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&yes, "yes", false, "confirm: whoever uses the token is refused at once")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			id := args[0]
			if !yes {
				return usagef("revoking token %s stops every script and console session that uses it at once; run again with --yes to do it (wagate token list shows the ids)", id)
			}
			if err := cl.api.RevokeToken(ctx, cl.workspace, id); err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(map[string]any{"id": id, "revoked": true})
			}
			fmt.Fprintf(cl.stdout, "Revoked token %s: it and its console sessions no longer work.\n", id)
			return nil
		},
	}
}
