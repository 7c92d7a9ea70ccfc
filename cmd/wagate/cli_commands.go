package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wagate/wagate/gateway/api"
	"github.com/wagate/wagate/gateway/client"
	"github.com/wagate/wagate/gateway/console"
)

// cliCommands is the table of admin commands, built fresh for each run so
// each command's flag variables start at their defaults.
func cliCommands() []cliCommand {
	return []cliCommand{
		cmdWorkspaceCreate(), cmdWorkspaceList(), cmdWorkspaceShow(),
		cmdCreditsAdd(),
		cmdWebhookShow(), cmdWebhookSwitch("enable", true), cmdWebhookSwitch("disable", false), cmdWebhookRegenerate(),
		cmdAttemptsList(), cmdAttemptsDownload(),
		cmdAccountAdd(), cmdAccountList(), cmdAccountSwitch("enable", true), cmdAccountSwitch("disable", false), cmdAccountSet(), cmdAccountShow(), cmdAccountLink(),
		cmdChatAdd(), cmdChatList(),
		cmdMessageList(), cmdMessageShow(),
		cmdTokenCreate(), cmdTokenList(), cmdTokenRevoke(),
		cmdWorkspaceSet(),
		cmdEndpointCreate(), cmdEndpointList(), cmdEndpointShow(), cmdEndpointSet(),
		cmdEndpointSwitch("enable", true), cmdEndpointSwitch("disable", false),
		cmdEndpointRotate(), cmdEndpointTest(), cmdEndpointDeliveries(), cmdEndpointEvents(),
		cmdTemplateCreate(), cmdTemplateList(), cmdTemplateShow(), cmdTemplatePreview(), cmdTemplateTest(), cmdTemplateDelete(),
	}
}

func cmdWorkspaceCreate() cliCommand {
	var credits int64
	return cliCommand{
		noun: "workspace", verb: "create", args: "NAME [--credits N]", nargs: 1,
		summary: "create a workspace (operator); prints its URL and owner token once",
		flags: func(fs *flag.FlagSet) {
			fs.Int64Var(&credits, "credits", 0, "credits to start with")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			ws, err := cl.api.CreateWorkspace(ctx, args[0], credits)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(ws)
			}
			fmt.Fprintf(cl.stdout, "Created workspace %q: %s, with %d credits.\n\n", ws.Name, ws.ID, ws.Credits)
			fmt.Fprintf(cl.stdout, "Inbound URL (keep it secret: it is the only key):\n  %s\n\n", ws.Webhook.URL)
			fmt.Fprintf(cl.stdout, "Owner token (shown only now; store it safely):\n  %s\n\n", ws.OwnerToken)
			fmt.Fprintf(cl.stdout, "Next: connect a WhatsApp account:\n  wagate account add +15105566777 --workspace %s --token <owner token>\n", ws.ID)
			return nil
		},
	}
}

func cmdWorkspaceList() cliCommand {
	return cliCommand{
		noun: "workspace", verb: "list", summary: "list every workspace (operator)",
		run: func(ctx context.Context, cl *admin, _ []string) error {
			list, err := cl.api.ListWorkspaces(ctx)
			if err != nil {
				return err
			}
			out := api.WorkspaceList{Workspaces: list}
			if cl.json {
				return cl.printJSON(&out)
			}
			if len(out.Workspaces) == 0 {
				fmt.Fprintln(cl.stdout, "No workspaces yet. Create one with: wagate workspace create NAME --credits 100")
				return nil
			}
			rows := [][]string{}
			for _, ws := range out.Workspaces {
				rows = append(rows, []string{ws.ID, ws.Name, strconv.FormatInt(ws.Credits, 10), onOff(ws.Webhook.Enabled), strconv.Itoa(len(ws.Accounts)), cliTime(ws.CreatedAt)})
			}
			cl.table([]string{"ID", "NAME", "CREDITS", "INBOUND URL", "ACCOUNTS", "CREATED"}, rows)
			return nil
		},
	}
}

func cmdWorkspaceShow() cliCommand {
	return cliCommand{
		noun: "workspace", verb: "show", summary: "show a workspace: credits, inbound URL, accounts",
		inWorkspace: true,
		run: func(ctx context.Context, cl *admin, _ []string) error {
			ws, err := cl.api.Workspace(ctx, cl.workspace)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(ws)
			}
			tw := tabwriter.NewWriter(cl.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "ID\t%s\n", ws.ID)
			fmt.Fprintf(tw, "Name\t%s\n", cell(ws.Name))
			fmt.Fprintf(tw, "Credits\t%d\n", ws.Credits)
			if ws.LowCredits > 0 {
				fmt.Fprintf(tw, "Low credits\tbelow %d (credits.low)\n", ws.LowCredits)
			}
			fmt.Fprintf(tw, "Inbound URL\t%s (%s)\n", ws.Webhook.URL, onOff(ws.Webhook.Enabled))
			fmt.Fprintf(tw, "Created\t%s\n", cliTime(ws.CreatedAt))
			if len(ws.Accounts) == 0 {
				fmt.Fprintf(tw, "Accounts\tnone yet (wagate account add PHONE)\n")
			}
			for i, acct := range ws.Accounts {
				label := ""
				if i == 0 {
					label = "Accounts"
				}
				fmt.Fprintf(tw, "%s\t%s %s, %s\n", label, acct.Phone, acct.Transport, activeText(acct.Active))
			}
			return tw.Flush()
		},
	}
}

func cmdCreditsAdd() cliCommand {
	return cliCommand{
		noun: "credits", verb: "add", args: "AMOUNT", nargs: 1, inWorkspace: true,
		summary: "add credits (operator); a negative AMOUNT takes away, never below 0",
		run: func(ctx context.Context, cl *admin, args []string) error {
			n, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usagef("AMOUNT %q is not a whole number, e.g. 100 or -20", args[0])
			}
			ws, err := cl.api.AddCredits(ctx, cl.workspace, n)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(ws)
			}
			fmt.Fprintf(cl.stdout, "Workspace %s now has %d credits.\n", ws.ID, ws.Credits)
			return nil
		},
	}
}

func cmdWebhookShow() cliCommand {
	return cliCommand{
		noun: "webhook", verb: "show", summary: "show the inbound URL and whether it is on",
		inWorkspace: true,
		run: func(ctx context.Context, cl *admin, _ []string) error {
			ws, err := cl.api.Workspace(ctx, cl.workspace)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(&ws.Webhook)
			}
			cl.printWebhook(ws.Webhook)
			return nil
		},
	}
}

func cmdWebhookSwitch(verb string, on bool) cliCommand {
	summary := "switch the inbound URL on again (owner)"
	if !on {
		summary = "switch the inbound URL off (owner): calls get 403; the URL stays"
	}
	return cliCommand{
		noun: "webhook", verb: verb, summary: summary, inWorkspace: true,
		run: func(ctx context.Context, cl *admin, _ []string) error {
			wh, err := cl.api.SetWebhookEnabled(ctx, cl.workspace, on)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(wh)
			}
			if on {
				fmt.Fprintln(cl.stdout, "The inbound URL is on: calls are accepted.")
			} else {
				fmt.Fprintln(cl.stdout, "The inbound URL is off: calls get 403 \"Webhook is disabled\" until you run `wagate webhook enable`.")
			}
			return nil
		},
	}
}

func cmdWebhookRegenerate() cliCommand {
	var yes bool
	return cliCommand{
		noun: "webhook", verb: "regenerate", args: "--yes", inWorkspace: true,
		summary: "new inbound URL (owner); the old one answers 404 at once",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&yes, "yes", false, "confirm: the current URL stops working at once")
		},
		run: func(ctx context.Context, cl *admin, _ []string) error {
			if !yes {
				return usagef("regenerating stops the current inbound URL at once (it will answer 404 to every system that calls it); run again with --yes to do it")
			}
			wh, err := cl.api.RegenerateWebhook(ctx, cl.workspace)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(wh)
			}
			fmt.Fprintf(cl.stdout, "New inbound URL (the old one now answers 404; paste this one into every system that calls it):\n  %s\n", wh.URL)
			return nil
		},
	}
}

func cmdAttemptsList() cliCommand {
	limit := 100
	return cliCommand{
		noun: "attempts", verb: "list", inWorkspace: true,
		summary: "list the last calls of the inbound URL, newest first",
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&limit, "limit", limit, "how many, 1 to 100")
		},
		run: func(ctx context.Context, cl *admin, _ []string) error {
			if limit < 1 || limit > 100 {
				return usagef("--limit %d: give a number from 1 to 100", limit)
			}
			list, err := cl.api.ListAttempts(ctx, cl.workspace, limit)
			if err != nil {
				return err
			}
			out := api.AttemptList{Attempts: list}
			if cl.json {
				return cl.printJSON(&out)
			}
			if len(out.Attempts) == 0 {
				fmt.Fprintln(cl.stdout, "No calls of the inbound URL yet.")
				return nil
			}
			rows := [][]string{}
			for _, at := range out.Attempts {
				answer := at.Message
				if answer == "" {
					answer = fmt.Sprintf("accepted (%d credit%s)", at.Credits, plural(at.Credits))
				}
				rows = append(rows, []string{
					cliTime(at.At), strconv.Itoa(at.HTTPStatus), shorten(answer, 60), orDash(shorten(console.Recipient(at.Body), 40)),
					orDash(at.MessageID), orDash(at.SendStatus), orDash(shorten(at.SendError, 60)),
				})
			}
			cl.table([]string{"TIME", "HTTP", "ANSWER", "RECIPIENT", "MESSAGE", "SEND", "SEND ERROR"}, rows)
			return nil
		},
	}
}

func cmdAttemptsDownload() cliCommand {
	format, output := "jsonl", ""
	return cliCommand{
		noun: "attempts", verb: "download", args: "[--format jsonl|csv] [-o FILE]", inWorkspace: true,
		summary: "save the log of the last 100 calls (JSONL or CSV)",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&format, "format", format, "jsonl or csv")
			fs.StringVar(&output, "o", "", "the file to write (\"-\" for standard output; default: the server's file name)")
		},
		run: func(ctx context.Context, cl *admin, _ []string) error {
			if format != "jsonl" && format != "csv" {
				return usagef("--format %q: give jsonl or csv", format)
			}
			d, err := cl.api.DownloadAttempts(ctx, cl.workspace, format)
			if err != nil {
				return err
			}
			if output == "-" {
				_, err := cl.stdout.Write(d.Body)
				return err
			}
			name, explicit := output, output != ""
			if !explicit {
				// The client has cut the server's name to a plain one.
				name = cmp.Or(d.Name, "wagate-attempts."+format)
			}
			if err := writeNewFile(name, d.Body, explicit); err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(map[string]any{"file": name, "format": format, "bytes": len(d.Body)})
			}
			fmt.Fprintf(cl.stdout, "Saved the attempt log (%s, %d bytes) to %s\n", format, len(d.Body), name)
			return nil
		},
	}
}

// writeNewFile writes data to path. A name the user gave is overwritten; a
// name the server suggested is never: an existing file is an error.
func writeNewFile(path string, data []byte, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; give -o FILE to choose the file", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// settingsFlag collects repeated --setting key=value.
type settingsFlag map[string]string

func (s settingsFlag) String() string { return "" }

func (s settingsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return errors.New("write it as key=value, e.g. --setting phone_number_id=1234")
	}
	s[strings.TrimSpace(k)] = val
	return nil
}

// resolve replaces each value written env:NAME with the variable NAME, so
// an access token need not be typed on the command line (where ps and the
// shell history would keep it).
func (s settingsFlag) resolve(getenv func(string) string) (map[string]string, error) {
	out := make(map[string]string, len(s))
	for k, v := range s {
		if name, ok := strings.CutPrefix(v, "env:"); ok {
			if v = getenv(name); v == "" {
				return nil, usagef("--setting %s=env:%s: the variable %s is empty or not set", k, name, name)
			}
		}
		out[k] = v
	}
	return out, nil
}

func cmdAccountAdd() cliCommand {
	transport := "dryrun"
	settings := settingsFlag{}
	return cliCommand{
		noun: "account", verb: "add", args: "PHONE", nargs: 1, inWorkspace: true,
		summary: "connect a WhatsApp account (owner), e.g. +15105566777",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&transport, "transport", transport, "dryrun (writes the outbox file), cloudapi, or whatsapp (then: wagate account link PHONE)")
			fs.Var(settings, "setting", "a transport setting key=value, repeatable (cloudapi: phone_number_id, access_token); key=env:NAME reads the value from the variable NAME, so a token stays out of the shell history")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			in := api.CreateAccount{Phone: args[0], Transport: transport}
			if len(settings) > 0 {
				resolved, err := settings.resolve(cl.getenv)
				if err != nil {
					return err
				}
				in.Settings = resolved
			}
			acct, err := cl.api.CreateAccount(ctx, cl.workspace, in)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(acct)
			}
			fmt.Fprintf(cl.stdout, "Connected account %s (%s) to workspace %s; it sends from now on.\n", acct.Phone, acct.Transport, cl.workspace)
			return nil
		},
	}
}

func cmdAccountList() cliCommand {
	return cliCommand{
		noun: "account", verb: "list", inWorkspace: true, summary: "list the WhatsApp accounts of a workspace",
		run: func(ctx context.Context, cl *admin, _ []string) error {
			list, err := cl.api.ListAccounts(ctx, cl.workspace)
			if err != nil {
				return err
			}
			out := api.AccountList{Accounts: list}
			if cl.json {
				return cl.printJSON(&out)
			}
			if len(out.Accounts) == 0 {
				fmt.Fprintln(cl.stdout, "No accounts yet. Connect one with: wagate account add +15105566777")
				return nil
			}
			rows := [][]string{}
			for _, acct := range out.Accounts {
				rows = append(rows, []string{acct.Phone, acct.Transport, activeText(acct.Active), cliTime(acct.ConnectedAt), rulesText(&acct)})
			}
			cl.table([]string{"PHONE", "TRANSPORT", "STATE", "CONNECTED", "CAREFUL SENDING"}, rows)
			return nil
		},
	}
}

func cmdAccountSwitch(verb string, on bool) cliCommand {
	summary := "resume an account (owner): its queue is sent again"
	if !on {
		summary = "pause an account (owner): its queue waits"
	}
	return cliCommand{
		noun: "account", verb: verb, args: "PHONE", nargs: 1, inWorkspace: true, summary: summary,
		run: func(ctx context.Context, cl *admin, args []string) error {
			acct, err := cl.api.SetAccountActive(ctx, cl.workspace, args[0], on)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(acct)
			}
			if on {
				fmt.Fprintf(cl.stdout, "Account %s is active: it sends its queued messages.\n", acct.Phone)
			} else {
				fmt.Fprintf(cl.stdout, "Account %s is paused: its queued messages wait until `wagate account enable %s`.\n", acct.Phone, acct.Phone)
			}
			return nil
		},
	}
}

func cmdChatAdd() cliCommand {
	var account, phone, jid, name string
	return cliCommand{
		noun: "chat", verb: "add", args: "--account PHONE --phone P|--jid J", inWorkspace: true,
		summary: "import a chat (owner), to send to by chat_id or chat_name",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&account, "account", "", "the account the chat belongs to (required)")
			fs.StringVar(&phone, "phone", "", "the person's number, e.g. +14155552671")
			fs.StringVar(&jid, "jid", "", "a WhatsApp id instead of --phone, e.g. 1203…@g.us for a group")
			fs.StringVar(&name, "name", "", "the chat's name")
		},
		run: func(ctx context.Context, cl *admin, _ []string) error {
			switch {
			case account == "":
				return usagef("--account is required: the phone of the account the chat belongs to")
			case (phone == "") == (jid == ""):
				return usagef("give exactly one of --phone and --jid")
			}
			chat, err := cl.api.CreateChat(ctx, cl.workspace, api.CreateChat{AccountPhone: account, Phone: phone, JID: jid, Name: name})
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(chat)
			}
			fmt.Fprintf(cl.stdout, "Chat %s: %s on account %s. Send to it with \"chat_id\":\"%s\".\n", chat.ID, chat.JID, chat.AccountPhone, chat.ID)
			return nil
		},
	}
}

// chatPageSize is how many chats `chat list` asks for per page (the
// server's maximum); tests lower it to walk several pages.
var chatPageSize = 1000

func cmdChatList() cliCommand {
	var name string
	return cliCommand{
		noun: "chat", verb: "list", inWorkspace: true, summary: "list the chats of a workspace",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "only chats with exactly this name")
		},
		run: func(ctx context.Context, cl *admin, _ []string) error {
			// The list comes a page at a time: follow next_cursor to the end.
			out := &api.ChatList{Chats: []api.Chat{}}
			q := client.ListQuery{Name: name, Limit: chatPageSize}
			for {
				page, err := cl.api.ListChats(ctx, cl.workspace, q)
				if err != nil {
					return err
				}
				out.Chats = append(out.Chats, page.Chats...)
				if q.Cursor = page.NextCursor; q.Cursor == "" {
					break
				}
			}
			if cl.json {
				return cl.printJSON(out)
			}
			if len(out.Chats) == 0 {
				fmt.Fprintln(cl.stdout, "No chats.")
				return nil
			}
			rows := [][]string{}
			for _, ch := range out.Chats {
				kind := "person"
				if ch.Group {
					kind = "group"
				}
				rows = append(rows, []string{ch.ID, orDash(ch.Name), ch.JID, ch.AccountPhone, kind})
			}
			cl.table([]string{"ID", "NAME", "JID", "ACCOUNT", "KIND"}, rows)
			return nil
		},
	}
}

func (c *admin) printWebhook(wh api.Webhook) {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "URL\t%s\n", wh.URL)
	if wh.Enabled {
		fmt.Fprintf(tw, "State\ton: calls are accepted\n")
	} else {
		fmt.Fprintf(tw, "State\toff: calls get 403 \"Webhook is disabled\" (wagate webhook enable)\n")
	}
	fmt.Fprintf(tw, "Made\t%s\n", cliTime(wh.CreatedAt))
	tw.Flush()
}

// table prints rows under a header, aligned for people.
func (c *admin) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			r[i] = cell(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// cell keeps a value on one table line: tabs and line breaks (which a
// caller of the inbound URL may put in any text) become spaces.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r', '\v', '\f':
			return ' '
		}
		return r
	}, s)
}

func cliTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func activeText(on bool) string {
	if on {
		return "active"
	}
	return "paused"
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
