package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/wagate/wagate/gateway/api"
)

// setFlag is a string flag that remembers whether it was given, so
// `wagate account set` sends only the rules named on its command line and
// the others keep their values.
type setFlag struct {
	v   string
	set bool
}

func (f *setFlag) String() string     { return f.v }
func (f *setFlag) Set(s string) error { f.v, f.set = s, true; return nil }

func cmdAccountSet() cliCommand {
	var daily, quiet, tz, interval, jitter, start, growth setFlag
	return cliCommand{
		noun: "account", verb: "set", args: "PHONE --daily-limit N --quiet-hours HH:MM-HH:MM …", nargs: 1, inWorkspace: true,
		summary: "set an account's careful-sending rules (owner); rules not named keep their values",
		flags: func(fs *flag.FlagSet) {
			fs.Var(&daily, "daily-limit", "at most N sends in any 24 h; 0: no limit")
			fs.Var(&quiet, "quiet-hours", `no sends while it is HH:MM-HH:MM where the recipient is, e.g. 21:00-08:00; "" for none`)
			fs.Var(&start, "warmup-start", "a new number's sends on its first day, growing to --daily-limit; 0: no warm-up")
			fs.Var(&growth, "warmup-growth", "the warm-up's daily factor, e.g. 1.3 (+30 % a day)")
			fs.Var(&tz, "time-zone", "IANA zone for the quiet hours of groups, e.g. Europe/Berlin")
			fs.Var(&interval, "send-interval", "this account's gap between sends, e.g. 5s; 0s: the server's")
			fs.Var(&jitter, "send-jitter", "random spread of the gap, e.g. 1s")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			var in api.SetAccount
			if daily.set {
				n, err := strconv.Atoi(daily.v)
				if err != nil {
					return usagef("--daily-limit %q is not a whole number; give e.g. 200, or 0 for no limit", daily.v)
				}
				in.DailyLimit = &n
			}
			if start.set || growth.set {
				w := api.WarmupRule{}
				var err error
				if w.Start, err = strconv.Atoi(orDefault(start.v, "0")); err != nil {
					return usagef("--warmup-start %q is not a whole number; give e.g. 20", start.v)
				}
				if w.Growth, err = strconv.ParseFloat(orDefault(growth.v, "0"), 64); err != nil {
					return usagef("--warmup-growth %q is not a number; give e.g. 1.3 for +30 %% a day", growth.v)
				}
				if w.Start > 0 && !growth.set {
					return usagef("--warmup-start needs --warmup-growth (e.g. 1.3 for +30 %% a day)")
				}
				in.Warmup = &w
			}
			for _, f := range []struct {
				flag *setFlag
				dst  **string
			}{{&quiet, &in.QuietHours}, {&tz, &in.TimeZone}, {&interval, &in.SendInterval}, {&jitter, &in.SendJitter}} {
				if f.flag.set {
					v := f.flag.v
					*f.dst = &v
				}
			}
			if in == (api.SetAccount{}) {
				return usagef("nothing to set; give one or more of --daily-limit, --quiet-hours, --warmup-start with --warmup-growth, --time-zone, --send-interval, --send-jitter")
			}
			acct, err := cl.api.UpdateAccount(ctx, cl.workspace, args[0], in)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(acct)
			}
			fmt.Fprintf(cl.stdout, "Account %s: %s.\n", acct.Phone, rulesText(acct))
			return nil
		},
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// rulesText says an account's careful-sending rules in a line.
func rulesText(a *api.Account) string {
	var parts []string
	if a.DailyLimit > 0 {
		parts = append(parts, fmt.Sprintf("at most %d sends a day", a.DailyLimit))
	}
	if a.Warmup != nil {
		parts = append(parts, fmt.Sprintf("warm-up from %d a day, ×%g a day", a.Warmup.Start, a.Warmup.Growth))
	}
	if a.QuietHours != "" {
		parts = append(parts, "quiet "+a.QuietHours+" recipient's time")
	}
	if a.TimeZone != "" {
		parts = append(parts, "groups in "+a.TimeZone)
	}
	if a.SendInterval != "" {
		parts = append(parts, "a send every "+a.SendInterval+" ± "+a.SendJitter)
	}
	if len(parts) == 0 {
		return "no careful-sending rules (the server's pace, any hour, no limit)"
	}
	return strings.Join(parts, ", ")
}
