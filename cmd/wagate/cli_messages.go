package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/wagate/wagate/gateway/api"
	"github.com/wagate/wagate/gateway/client"
)

// The message commands show why a queued message waits (SPEC §2: a
// careful-sending rule, its send_at, a retry, an earlier message to the
// same recipient) and until when, as the console's message page does.

func cmdAccountShow() cliCommand {
	return cliCommand{
		noun: "account", verb: "show", args: "PHONE", nargs: 1, inWorkspace: true,
		summary: "show an account and its careful-sending rules",
		run: func(ctx context.Context, cl *admin, args []string) error {
			list, err := cl.api.ListAccounts(ctx, cl.workspace)
			if err != nil {
				return err
			}
			want := digits(args[0])
			for i := range list {
				a := &list[i]
				if digits(a.Phone) != want || want == "" {
					continue
				}
				if cl.json {
					return cl.printJSON(a)
				}
				tw := tabwriter.NewWriter(cl.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintf(tw, "Phone\t%s\n", a.Phone)
				fmt.Fprintf(tw, "Transport\t%s\n", a.Transport)
				fmt.Fprintf(tw, "State\t%s\n", activeText(a.Active))
				fmt.Fprintf(tw, "Connected\t%s\n", cliTime(a.ConnectedAt))
				fmt.Fprintf(tw, "Daily limit\t%s\n", orOff(a.DailyLimit > 0, strconv.Itoa(a.DailyLimit)+" sends in any 24 h"))
				warm := ""
				if a.Warmup != nil {
					warm = fmt.Sprintf("from %d a day, ×%g a day", a.Warmup.Start, a.Warmup.Growth)
				}
				fmt.Fprintf(tw, "Warm-up\t%s\n", orOff(warm != "", warm))
				fmt.Fprintf(tw, "Quiet hours\t%s\n", orOff(a.QuietHours != "", a.QuietHours+" in the recipient's time"))
				fmt.Fprintf(tw, "Time zone\t%s\n", orDefault(a.TimeZone, "UTC (quiet hours of groups)"))
				fmt.Fprintf(tw, "Send interval\t%s\n", orOff(a.SendInterval != "", a.SendInterval+" ± "+a.SendJitter))
				return tw.Flush()
			}
			return fmt.Errorf("account %q is not in this workspace; `wagate account list` shows its accounts", args[0])
		},
	}
}

// digits keeps the digits of a phone number, so "+1 510 556 6777" and
// "15105566777" name the same account.
func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func orOff(on bool, s string) string {
	if !on {
		return "off"
	}
	return s
}

func cmdMessageList() cliCommand {
	var status, cursor string
	limit := 50
	return cliCommand{
		noun: "message", verb: "list", inWorkspace: true,
		summary: "list the messages of a workspace, newest first, with why a queued one waits",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&status, "status", "", "only queued, sending, sent or failed")
			fs.IntVar(&limit, "limit", limit, "how many, 1 to 1000")
			fs.StringVar(&cursor, "cursor", "", "the next_cursor of the page before")
		},
		run: func(ctx context.Context, cl *admin, _ []string) error {
			if limit < 1 || limit > 1000 {
				return usagef("--limit %d: give a number from 1 to 1000", limit)
			}
			out, err := cl.api.ListMessages(ctx, cl.workspace, client.ListQuery{Status: status, Limit: limit, Cursor: cursor})
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(out)
			}
			if len(out.Messages) == 0 {
				fmt.Fprintln(cl.stdout, "No messages.")
				return nil
			}
			rows := [][]string{}
			for _, m := range out.Messages {
				rows = append(rows, []string{m.ID, m.Status, m.AccountPhone, m.JID, orDash(waitingWhy(&m)), cliTime(m.NextTryAt), cliTime(m.CreatedAt)})
			}
			cl.table([]string{"ID", "STATUS", "ACCOUNT", "TO", "WAITING", "NEXT TRY", "ACCEPTED"}, rows)
			if out.NextCursor != "" {
				fmt.Fprintf(cl.stdout, "More: wagate message list --cursor %s\n", out.NextCursor)
			}
			return nil
		},
	}
}

// waitingWhy says in a word why a queued message waits: its
// waiting_reason, a retry, or the message it waits behind.
func waitingWhy(m *api.Message) string {
	switch {
	case m.Status != "queued":
		return ""
	case m.WaitingReason != "":
		return m.WaitingReason
	case m.WaitingFor != "":
		return "behind " + m.WaitingFor
	case m.NextTryAt != nil:
		return "retry"
	}
	return ""
}

// waitingExplained says what a waiting_reason means for the message.
var waitingExplained = map[string]string{
	"scheduled":   "its send_at has not come",
	"daily_limit": "the account has sent its daily limit in the last 24 h",
	"quiet_hours": "it is quiet hours where the recipient is",
}

func cmdMessageShow() cliCommand {
	return cliCommand{
		noun: "message", verb: "show", args: "ID", nargs: 1, inWorkspace: true,
		summary: "show a message: its state, why it waits and until when, its tries",
		run: func(ctx context.Context, cl *admin, args []string) error {
			m, err := cl.api.Message(ctx, cl.workspace, args[0])
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(m)
			}
			tw := tabwriter.NewWriter(cl.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "ID\t%s\n", m.ID)
			fmt.Fprintf(tw, "Status\t%s\n", m.Status)
			fmt.Fprintf(tw, "Account\t%s\n", m.AccountPhone)
			fmt.Fprintf(tw, "To\t%s\n", m.JID)
			fmt.Fprintf(tw, "Text\t%s\n", cell(shorten(m.Text, 200)))
			if m.FileName != "" {
				fmt.Fprintf(tw, "File\t%s\n", m.FileName)
			}
			fmt.Fprintf(tw, "Credits\t%d\n", m.Credits)
			if m.Error != "" {
				fmt.Fprintf(tw, "Error\t%s\n", cell(m.Error))
			}
			if why := waitingWhy(m); why != "" {
				if text := waitingExplained[why]; text != "" {
					why += ": " + text
				}
				fmt.Fprintf(tw, "Waiting\t%s\n", why)
			}
			if m.NextTryAt != nil {
				fmt.Fprintf(tw, "Next try\t%s\n", cliTime(m.NextTryAt))
			}
			if m.SendAt != nil {
				fmt.Fprintf(tw, "Send at\t%s\n", cliTime(m.SendAt))
			}
			fmt.Fprintf(tw, "Accepted\t%s\n", cliTime(m.CreatedAt))
			fmt.Fprintf(tw, "Sent\t%s\n", cliTime(m.SentAt))
			for i, try := range m.Tries {
				fmt.Fprintf(tw, "Try %d\t%s %s %s\n", i+1, cliTime(try.At), try.Result, cell(try.Error))
			}
			return tw.Flush()
		},
	}
}
