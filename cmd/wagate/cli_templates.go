package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/wagate/wagate/gateway/api"
)

// The template commands (SPEC §11): stored texts with {{variables}}, sent
// by name from the inbound URL. Owners create, change and delete them;
// support staff list, show and preview.

// varsFlag collects repeated --var name=value.
type varsFlag map[string]string

func (v varsFlag) String() string { return "" }

func (v varsFlag) Set(s string) error {
	k, val, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return errors.New("write it as name=value, e.g. --var name=Jane")
	}
	v[strings.TrimSpace(k)] = val
	return nil
}

// listFlag collects a repeated flag's values in order.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// templateText is --text, or the contents of --text-file (a long text with
// newlines is easier in a file than in a shell quote).
func templateText(text, file string) (string, bool, error) {
	switch {
	case text != "" && file != "":
		return "", false, usagef("give --text or --text-file, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, usagef("--text-file: %v", err)
		}
		return strings.TrimSuffix(string(b), "\n"), true, nil
	}
	return text, text != "", nil
}

// cloudFlags are the flags of a Cloud API mapping.
type cloudFlags struct {
	account, name, language string
	params                  listFlag
}

func (c *cloudFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&c.account, "cloudapi-account", "", "map to a template of this Cloud API account (its phone)")
	fs.StringVar(&c.name, "cloudapi-name", "", "the approved Cloud API template's name")
	fs.StringVar(&c.language, "cloudapi-language", "", "its language code, e.g. en_US")
	fs.Var(&c.params, "cloudapi-param", "a variable of the text for the template's next body parameter (repeat, in order)")
}

func (c *cloudFlags) mapping() *api.TemplateCloudAPI {
	if c.account == "" && c.name == "" && c.language == "" && len(c.params) == 0 {
		return nil
	}
	return &api.TemplateCloudAPI{AccountPhone: c.account, Name: c.name, Language: c.language, Parameters: append([]string{}, c.params...)}
}

func (cl *admin) printTemplate(t *api.Template) {
	fmt.Fprintf(cl.stdout, "Template %s\n  Text:      %s\n", t.Name, strings.ReplaceAll(t.Text, "\n", "\n             "))
	fmt.Fprintf(cl.stdout, "  Variables: %s\n", orDash(strings.Join(t.Variables, ", ")))
	if t.FileURL != "" {
		fmt.Fprintf(cl.stdout, "  File:      %s (%s)\n", t.FileName, t.FileURL)
	}
	if c := t.CloudAPI; c != nil {
		fmt.Fprintf(cl.stdout, "  Cloud API: %s (%s) of %s, parameters %s\n", c.Name, c.Language, c.AccountPhone, orDash(strings.Join(c.Parameters, ", ")))
	}
}

func cmdTemplateCreate() cliCommand {
	var text, textFile, fileURL, fileName string
	var cloud cloudFlags
	return cliCommand{
		noun: "template", verb: "create", args: "NAME --text T", nargs: 1, inWorkspace: true,
		summary: "store a message template with {{variables}} (owner)",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&text, "text", "", `the text, e.g. "Hi {{name}}, order {{order}} shipped"`)
			fs.StringVar(&textFile, "text-file", "", "read the text from this file")
			fs.StringVar(&fileURL, "file-url", "", "a file sent with every message of the template")
			fs.StringVar(&fileName, "file-name", "", "the file's name (with --file-url)")
			cloud.add(fs)
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			t, _, err := templateText(text, textFile)
			if err != nil {
				return err
			}
			out, err := cl.api.CreateTemplate(ctx, cl.workspace, &api.CreateTemplate{Name: args[0], Text: t, FileURL: fileURL, FileName: fileName, CloudAPI: cloud.mapping()})
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(out)
			}
			cl.printTemplate(out)
			fmt.Fprintf(cl.stdout, "Send it with {\"action\":\"send\",\"phone\":\"+1…\",\"template\":%q,\"variables\":{…}} on the inbound URL.\n", out.Name)
			return nil
		},
	}
}

func cmdTemplateList() cliCommand {
	return cliCommand{
		noun: "template", verb: "list", inWorkspace: true,
		summary: "list the workspace's templates",
		run: func(ctx context.Context, cl *admin, _ []string) error {
			list, err := cl.api.ListTemplates(ctx, cl.workspace)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(&api.TemplateList{Templates: list})
			}
			if len(list) == 0 {
				fmt.Fprintln(cl.stdout, `No templates. Make one with: wagate template create order_shipped --text "Hi {{name}}, your order has shipped"`)
				return nil
			}
			rows := [][]string{}
			for _, t := range list {
				cloud := "-"
				if t.CloudAPI != nil {
					cloud = t.CloudAPI.Name + " (" + t.CloudAPI.Language + ")"
				}
				rows = append(rows, []string{t.Name, orDash(strings.Join(t.Variables, ",")), cloud, shorten(strings.ReplaceAll(t.Text, "\n", " "), 50)})
			}
			cl.table([]string{"NAME", "VARIABLES", "CLOUD API", "TEXT"}, rows)
			return nil
		},
	}
}

func cmdTemplateShow() cliCommand {
	return cliCommand{
		noun: "template", verb: "show", args: "NAME", nargs: 1, inWorkspace: true,
		summary: "show one template",
		run: func(ctx context.Context, cl *admin, args []string) error {
			t, err := cl.api.Template(ctx, cl.workspace, args[0])
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(t)
			}
			cl.printTemplate(t)
			return nil
		},
	}
}

func cmdTemplatePreview() cliCommand {
	vars := varsFlag{}
	return cliCommand{
		noun: "template", verb: "preview", args: "NAME [--var k=v…]", nargs: 1, inWorkspace: true,
		summary: "render a template with variables, without sending",
		flags: func(fs *flag.FlagSet) {
			fs.Var(vars, "var", "a variable, name=value (repeat)")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			p, err := cl.api.PreviewTemplate(ctx, cl.workspace, args[0], vars)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(p)
			}
			fmt.Fprintln(cl.stdout, p.Text)
			if p.FileURL != "" {
				fmt.Fprintf(cl.stdout, "[file %s]\n", p.FileName)
			}
			fmt.Fprintf(cl.stdout, "(%d credit%s)\n", p.Credits, plural(p.Credits))
			return nil
		},
	}
}

func cmdTemplateTest() cliCommand {
	vars := varsFlag{}
	var to, account string
	return cliCommand{
		noun: "template", verb: "test", args: "NAME --to PHONE [--var k=v…]", nargs: 1, inWorkspace: true,
		summary: "send one message of a template (owner); charged like any other",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&to, "to", "", "the phone (+14155552671) or JID to send to (required)")
			fs.StringVar(&account, "account", "", "the account to send from (default: the most recently connected)")
			fs.Var(vars, "var", "a variable, name=value (repeat)")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			if to == "" {
				return usagef("--to: give the phone or JID to send the test to")
			}
			m, err := cl.api.TestTemplate(ctx, cl.workspace, args[0], &api.TestTemplate{To: to, AccountPhone: account, Variables: vars})
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(m)
			}
			fmt.Fprintf(cl.stdout, "Queued %s from %s to %s (%d credit%s):\n%s\n", m.ID, m.AccountPhone, m.JID, m.Credits, plural(m.Credits), m.Text)
			return nil
		},
	}
}

func cmdTemplateDelete() cliCommand {
	return cliCommand{
		noun: "template", verb: "delete", args: "NAME", nargs: 1, inWorkspace: true,
		summary: "delete a template (owner); requests naming it get a 400",
		run: func(ctx context.Context, cl *admin, args []string) error {
			if err := cl.api.DeleteTemplate(ctx, cl.workspace, args[0]); err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(map[string]any{"name": args[0], "deleted": true})
			}
			fmt.Fprintf(cl.stdout, "Deleted template %s.\n", args[0])
			return nil
		},
	}
}
