package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/wagate/wagate/gateway/api"
)

// The endpoint commands (SPEC §9): an owner subscribes the systems of the
// workspace to events. create prints the signing secret once, as token
// create prints a token; secrets on the command line may be written
// env:NAME so that ps and the shell history never see them.

// fieldsFlag collects repeated --field key=value in their order (a form
// body keeps it).
type fieldsFlag []api.Field

func (f *fieldsFlag) String() string { return "" }

func (f *fieldsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return errors.New(`write it as key=value, e.g. --field 'phone={{message.phone}}'`)
	}
	*f = append(*f, api.Field{Key: strings.TrimSpace(k), Value: val})
	return nil
}

// endpointFlags are the flags that create and set share. Each is sent only
// when given, so set changes just what it names.
type endpointFlags struct {
	name, path, method, events string
	account, source            string
	bodyType, template, file   string
	basic, bearer, header      string
	query, headers             settingsFlag
	fields                     fieldsFlag
}

func (ef *endpointFlags) add(fs *flag.FlagSet) {
	ef.query, ef.headers = settingsFlag{}, settingsFlag{}
	fs.StringVar(&ef.name, "name", "", "a label for people")
	fs.StringVar(&ef.path, "path", "", `appended to the URL; may hold placeholders, e.g. /wa/{{message.id}}`)
	fs.StringVar(&ef.method, "method", "", "POST (default), PUT, PATCH, DELETE or GET")
	fs.StringVar(&ef.events, "events", "", "comma-separated events, e.g. message.failed,message.sent (wagate endpoint events lists them)")
	fs.StringVar(&ef.account, "account", "", "only events of this sending account, e.g. +15105566777")
	fs.StringVar(&ef.source, "source", "", "only changes made through inbound, api or console")
	fs.StringVar(&ef.bodyType, "body", "", "body type: json (default), form, multipart, xml, yaml, plain or none")
	fs.StringVar(&ef.template, "template", "", `body template with placeholders, e.g. '{"to":"{{message.phone}}"}'`)
	fs.StringVar(&ef.file, "template-file", "", "read the body template from this file")
	fs.Var(&ef.fields, "field", "a body field key=value, repeatable, in order")
	fs.Var(ef.query, "query", "a query parameter key=value, repeatable")
	fs.Var(ef.headers, "header", "a request header Name=value, repeatable")
	fs.StringVar(&ef.basic, "basic", "", "basic auth USER:PASSWORD (PASSWORD may be env:NAME)")
	fs.StringVar(&ef.bearer, "bearer", "", "bearer auth TOKEN (or env:NAME)")
	fs.StringVar(&ef.header, "auth-header", "", "a custom auth header Name:VALUE (VALUE may be env:NAME)")
}

// input builds the request from the flags that were given.
func (ef *endpointFlags) input(fs *flag.FlagSet, getenv func(string) string) (*api.EndpointInput, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	in := &api.EndpointInput{}
	set := func(name string, v string, dst **string) {
		if given[name] {
			*dst = &v
		}
	}
	set("name", ef.name, &in.Name)
	set("path", ef.path, &in.Path)
	set("method", ef.method, &in.Method)
	if given["events"] {
		ev := []string{}
		for _, e := range strings.Split(ef.events, ",") {
			if e = strings.TrimSpace(e); e != "" {
				ev = append(ev, e)
			}
		}
		in.Events = &ev
	}
	if given["account"] || given["source"] {
		in.Filter = &api.EndpointFilter{AccountPhone: ef.account, Source: ef.source}
	}
	if given["query"] {
		q := map[string]string(ef.query)
		in.Query = &q
	}
	if given["header"] {
		h := map[string]string(ef.headers)
		in.Headers = &h
	}
	if given["body"] || given["template"] || given["template-file"] || given["field"] {
		if given["template"] && given["template-file"] {
			return nil, usagef("give --template or --template-file, not both")
		}
		tpl := ef.template
		if given["template-file"] {
			b, err := os.ReadFile(ef.file)
			if err != nil {
				return nil, usagef("--template-file: %v", err)
			}
			tpl = string(b)
		}
		in.Body = &api.EndpointBody{Type: ef.bodyType, Template: tpl, Fields: ef.fields}
	}
	auth, err := ef.auth(given, getenv)
	if err != nil {
		return nil, err
	}
	in.Auth = auth
	return in, nil
}

// auth reads at most one of --basic, --bearer and --auth-header.
func (ef *endpointFlags) auth(given map[string]bool, getenv func(string) string) (*api.EndpointAuth, error) {
	secret := func(flagName, v string) (string, error) {
		if name, ok := strings.CutPrefix(v, "env:"); ok {
			if v = getenv(name); v == "" {
				return "", usagef("--%s: the variable %s is empty or not set", flagName, name)
			}
		}
		return v, nil
	}
	n := 0
	for _, f := range []string{"basic", "bearer", "auth-header"} {
		if given[f] {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, usagef("give one of --basic, --bearer and --auth-header")
	case given["basic"]:
		user, pw, ok := strings.Cut(ef.basic, ":")
		if !ok || user == "" {
			return nil, usagef("--basic: write it as USER:PASSWORD (PASSWORD may be env:NAME)")
		}
		pw, err := secret("basic", pw)
		return &api.EndpointAuth{Type: "basic", Username: user, Password: pw}, err
	case given["bearer"]:
		tok, err := secret("bearer", ef.bearer)
		return &api.EndpointAuth{Type: "bearer", Token: tok}, err
	case given["auth-header"]:
		name, v, ok := strings.Cut(ef.header, ":")
		if !ok || name == "" {
			return nil, usagef("--auth-header: write it as Name:VALUE, e.g. X-Api-Key:env:CRM_KEY")
		}
		v, err := secret("auth-header", v)
		return &api.EndpointAuth{Type: "header", Name: name, Value: v}, err
	}
	return nil, nil
}

func cmdEndpointCreate() cliCommand {
	var ef endpointFlags
	var fs *flag.FlagSet
	return cliCommand{
		noun: "endpoint", verb: "create", args: "URL --events E[,E…] [flags]", nargs: 1, inWorkspace: true,
		summary: "subscribe a URL to events (owner); prints its signing secret once",
		flags:   func(f *flag.FlagSet) { fs = f; ef.add(f) },
		run: func(ctx context.Context, cl *admin, args []string) error {
			in, err := ef.input(fs, os.Getenv)
			if err != nil {
				return err
			}
			u := args[0]
			in.URL = &u
			e, err := cl.api.CreateEndpoint(ctx, cl.workspace, in)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(e)
			}
			fmt.Fprintf(cl.stdout, "Created endpoint %s: %s %s%s for %s.\n\n", e.ID, e.Method, e.URL, e.Path, strings.Join(e.Events, ", "))
			fmt.Fprintf(cl.stdout, "Signing secret (shown only now; the receiver verifies webhook-signature with it):\n  %s\n\n", e.Secret)
			fmt.Fprintf(cl.stdout, "Try it: wagate endpoint test %s\n", e.ID)
			return nil
		},
	}
}

func cmdEndpointSet() cliCommand {
	var ef endpointFlags
	var fs *flag.FlagSet
	var rawURL string
	return cliCommand{
		noun: "endpoint", verb: "set", args: "ID [flags]", nargs: 1, inWorkspace: true,
		summary: "change an endpoint (owner): only the flags given",
		flags: func(f *flag.FlagSet) {
			fs = f
			ef.add(f)
			f.StringVar(&rawURL, "url", "", "a new base URL")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			in, err := ef.input(fs, os.Getenv)
			if err != nil {
				return err
			}
			fs.Visit(func(f *flag.Flag) {
				if f.Name == "url" {
					in.URL = &rawURL
				}
			})
			e, err := cl.api.UpdateEndpoint(ctx, cl.workspace, args[0], in)
			if err != nil {
				return err
			}
			return printEndpoint(cl, e)
		},
	}
}

func cmdEndpointList() cliCommand {
	return cliCommand{
		noun: "endpoint", verb: "list", inWorkspace: true,
		summary: "list the workspace's endpoints",
		run: func(ctx context.Context, cl *admin, _ []string) error {
			list, err := cl.api.ListEndpoints(ctx, cl.workspace)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(&api.EndpointList{Endpoints: list})
			}
			if len(list) == 0 {
				fmt.Fprintln(cl.stdout, "No endpoints. Subscribe one with: wagate endpoint create https://crm.example/hooks --events message.failed")
				return nil
			}
			rows := [][]string{}
			for _, e := range list {
				state := "enabled"
				if !e.Enabled {
					state = "disabled"
					if e.DisabledReason != "" {
						state += ": " + e.DisabledReason
					}
				}
				rows = append(rows, []string{e.ID, orDash(e.Name), e.Method + " " + e.URL + e.Path, strings.Join(e.Events, ","), state})
			}
			cl.table([]string{"ID", "NAME", "REQUEST", "EVENTS", "STATE"}, rows)
			return nil
		},
	}
}

func cmdEndpointShow() cliCommand {
	return cliCommand{
		noun: "endpoint", verb: "show", args: "ID", nargs: 1, inWorkspace: true,
		summary: "show one endpoint, secrets masked",
		run: func(ctx context.Context, cl *admin, args []string) error {
			e, err := cl.api.Endpoint(ctx, cl.workspace, args[0])
			if err != nil {
				return err
			}
			return printEndpoint(cl, e)
		},
	}
}

// printEndpoint shows an endpoint as JSON: it is a nested object, and JSON
// is what a person would paste into a PATCH anyway.
func printEndpoint(cl *admin, e *api.Endpoint) error {
	return cl.printJSON(e)
}

func cmdEndpointSwitch(verb string, on bool) cliCommand {
	return cliCommand{
		noun: "endpoint", verb: verb, args: "ID", nargs: 1, inWorkspace: true,
		summary: map[bool]string{true: "enable an endpoint (owner); its pending deliveries resume in order", false: "disable an endpoint (owner); its deliveries wait, none is dropped"}[on],
		run: func(ctx context.Context, cl *admin, args []string) error {
			e, err := cl.api.UpdateEndpoint(ctx, cl.workspace, args[0], &api.EndpointInput{Enabled: &on})
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(e)
			}
			fmt.Fprintf(cl.stdout, "Endpoint %s is %sd.\n", e.ID, verb)
			return nil
		},
	}
}

// cmdEndpointRotate asks for --yes: receivers that do not learn the new
// secret within 24 h start refusing deliveries.
func cmdEndpointRotate() cliCommand {
	var yes bool
	return cliCommand{
		noun: "endpoint", verb: "rotate-secret", args: "ID --yes", nargs: 1, inWorkspace: true,
		summary: "give an endpoint a new signing secret (owner); the old one signs too for 24 h",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&yes, "yes", false, "confirm: the receiver must switch to the new secret within 24 h")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			if !yes {
				return usagef("after rotating, the receiver must verify with the new secret within 24 h; run again with --yes to do it")
			}
			r, err := cl.api.RotateEndpointSecret(ctx, cl.workspace, args[0])
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(r)
			}
			fmt.Fprintf(cl.stdout, "New signing secret (shown only now):\n  %s\nThe old secret signs too until %s.\n", r.Secret, cliTime(r.PreviousExpire))
			return nil
		},
	}
}

func cmdEndpointTest() cliCommand {
	var event string
	vars := settingsFlag{}
	return cliCommand{
		noun: "endpoint", verb: "test", args: "ID [--event E] [--var k=v…]", nargs: 1, inWorkspace: true,
		summary: "send a sample event now (owner) and show the request and the answer",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&event, "event", "", "the event to send (default: the endpoint's first)")
			fs.Var(vars, "var", "override a sample variable, e.g. --var message.text=Hello; repeatable")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			d, err := cl.api.TestEndpoint(ctx, cl.workspace, args[0], &api.EndpointTest{Event: event, Variables: vars})
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(d)
			}
			printDelivery(cl, d)
			return nil
		},
	}
}

func printDelivery(cl *admin, d *api.Delivery) {
	fmt.Fprintf(cl.stdout, "%s %s: %s (attempt %d, %d ms)\n", d.Event, d.ID, d.Status, d.Attempt, d.DurationMS)
	fmt.Fprintf(cl.stdout, "> %s %s\n", d.Request.Method, d.Request.URL)
	if d.Request.Body != "" {
		fmt.Fprintf(cl.stdout, "> %s\n", d.Request.Body)
	}
	if d.Response.Status != 0 {
		fmt.Fprintf(cl.stdout, "< %d %s\n", d.Response.Status, d.Response.Body)
	}
	if d.Error != "" {
		fmt.Fprintf(cl.stdout, "error: %s\n", d.Error)
	}
}

func cmdEndpointDeliveries() cliCommand {
	var limit int
	return cliCommand{
		noun: "endpoint", verb: "deliveries", args: "ID [--limit N]", nargs: 1, inWorkspace: true,
		summary: "list an endpoint's deliveries, newest first (the last 100 are kept)",
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&limit, "limit", 20, "how many")
		},
		run: func(ctx context.Context, cl *admin, args []string) error {
			list, err := cl.api.ListDeliveries(ctx, cl.workspace, args[0], limit, "")
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(list)
			}
			if len(list.Deliveries) == 0 {
				fmt.Fprintf(cl.stdout, "No deliveries yet. Send a sample: wagate endpoint test %s\n", args[0])
				return nil
			}
			rows := [][]string{}
			for _, d := range list.Deliveries {
				answer := "-"
				if d.Response.Status != 0 {
					answer = strconv.Itoa(d.Response.Status)
				}
				rows = append(rows, []string{d.ID, d.Event, d.Status, strconv.Itoa(d.Attempt), answer, cliTime(d.At), orDash(d.Error)})
			}
			cl.table([]string{"ID", "EVENT", "STATUS", "ATTEMPT", "ANSWER", "AT", "ERROR"}, rows)
			return nil
		},
	}
}

func cmdEndpointEvents() cliCommand {
	return cliCommand{
		noun: "endpoint", verb: "events",
		summary: "list the events and the variables their placeholders may use",
		run: func(ctx context.Context, cl *admin, _ []string) error {
			list, err := cl.api.Events(ctx)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(&api.EventTypeList{Events: list})
			}
			for _, e := range list {
				fmt.Fprintf(cl.stdout, "%s: %s\n", e.Type, e.Description)
				if len(e.Variables) > 0 {
					fmt.Fprintf(cl.stdout, "  {{%s}}\n", strings.Join(e.Variables, "}} {{"))
				}
			}
			return nil
		},
	}
}
