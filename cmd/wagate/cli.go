package main

// The admin commands (wagate workspace|credits|webhook|attempts|account|
// chat|token …) talk to a running wagate over the admin API, never to the
// store file, which the server holds locked. This file has what they share:
// the command table, flag parsing, the exit codes and what they make of
// the typed client's errors (gateway/client).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/wagate/wagate/gateway/client"
)

// Exit codes of the admin commands. Scripts branch on them, so each means
// one thing.
const (
	exitOK          = 0
	exitRefused     = 1 // the server answered with an error (4xx, 5xx), or its answer could not be saved
	exitUsage       = 2 // the command line is wrong; nothing was sent
	exitUnreachable = 3 // no answer from the server
)

// Defaults of the admin commands.
const (
	DefaultServer = "http://127.0.0.1:8080"
	// cliTimeout bounds one call; the admin API answers in milliseconds,
	// so this only stops a stuck server from hanging a script.
	cliTimeout = 60 * time.Second
)

// cliOpts are the flags every admin command has, and the workspace.
type cliOpts struct {
	server    string
	token     string
	data      string
	json      bool
	workspace string
	getenv    func(string) string
}

// cliCommand is one `wagate NOUN VERB`.
type cliCommand struct {
	noun, verb string
	args       string // the positional arguments, for the usage line
	nargs      int    // how many positional arguments it takes
	summary    string
	// inWorkspace commands need --workspace.
	inWorkspace bool
	// flags adds the command's own flags; nil for none.
	flags func(fs *flag.FlagSet)
	run   func(ctx context.Context, cl *admin, args []string) error
}

// cliUsage lists the admin commands for the main usage text.
func cliUsage() string {
	var b strings.Builder
	for _, cmd := range cliCommands() {
		line := "wagate " + cmd.noun + " " + cmd.verb
		if cmd.args != "" {
			line += " " + cmd.args
		}
		if len(line) >= 40 {
			fmt.Fprintf(&b, "  %s\n  %-40s %s\n", line, "", cmd.summary)
			continue
		}
		fmt.Fprintf(&b, "  %-40s %s\n", line, cmd.summary)
	}
	return b.String()
}

const cliCommonHelp = `Common flags:
  --server URL         wagate's address (default ` + DefaultServer + `, env WAGATE_SERVER)
  --token TOKEN        admin token (env WAGATE_TOKEN)
  --data DIR           with no token, use the operator token in DIR/operator.token (env WAGATE_DATA)
  -w, --workspace WS   the workspace, for commands on one (env WAGATE_WORKSPACE)
  --json               print the server's JSON answer, for scripts
Exit codes: 0 done; 1 the server refused (its message is printed) or the answer could
not be saved; 2 wrong command line, nothing was sent; 3 the server could not be reached.
`

// runCLI runs an admin command line (args[0] is the noun) and returns the
// exit code.
func runCLI(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	noun := args[0]
	var verbs []cliCommand
	for _, cmd := range cliCommands() {
		if cmd.noun == noun {
			verbs = append(verbs, cmd)
		}
	}
	nounHelp := func(w io.Writer) {
		fmt.Fprintf(w, "Usage:\n")
		for _, cmd := range verbs {
			fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace("wagate "+cmd.noun+" "+cmd.verb+" "+cmd.args), cmd.summary)
		}
		fmt.Fprintf(w, "\nwagate %s VERB -h shows a command's flags.\n", noun)
	}
	if len(args) < 2 {
		fmt.Fprintf(stderr, "wagate %s: say what to do.\n", noun)
		nounHelp(stderr)
		return exitUsage
	}
	if isHelp(args[1]) {
		nounHelp(stdout)
		return exitOK
	}
	var cmd *cliCommand
	for i := range verbs {
		if verbs[i].verb == args[1] {
			cmd = &verbs[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "wagate %s: unknown command %q.\n", noun, args[1])
		nounHelp(stderr)
		return exitUsage
	}

	o := &cliOpts{
		server:    envOr(getenv, "WAGATE_SERVER", DefaultServer),
		token:     getenv("WAGATE_TOKEN"),
		data:      getenv("WAGATE_DATA"),
		workspace: getenv("WAGATE_WORKSPACE"),
		getenv:    getenv,
	}
	name := "wagate " + cmd.noun + " " + cmd.verb
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.server, "server", o.server, "wagate's address (env WAGATE_SERVER)")
	fs.StringVar(&o.token, "token", o.token, "admin token (env WAGATE_TOKEN)")
	fs.StringVar(&o.data, "data", o.data, "read the operator token from DIR/operator.token when no token is given (env WAGATE_DATA)")
	fs.BoolVar(&o.json, "json", false, "print the server's JSON answer, for scripts")
	if cmd.inWorkspace {
		fs.StringVar(&o.workspace, "workspace", o.workspace, "the workspace id, ws_… (env WAGATE_WORKSPACE)")
		fs.StringVar(&o.workspace, "w", o.workspace, "short for --workspace")
	}
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	cmdHelp := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: %s\n  %s\n\n", strings.TrimSpace(name+" "+cmd.args), cmd.summary)
		if own := ownFlags(fs); own != "" {
			fmt.Fprintf(w, "Flags:\n%s\n\n", own)
		}
		if cmd.inWorkspace {
			fmt.Fprintf(w, "Needs -w/--workspace WS or WAGATE_WORKSPACE.\n\n")
		}
		fmt.Fprint(w, cliCommonHelp)
	}
	pos, err := parseInterleaved(fs, args[2:])
	if errors.Is(err, flag.ErrHelp) {
		cmdHelp(stdout)
		return exitOK
	}
	if err == nil && len(pos) != cmd.nargs {
		switch {
		case cmd.nargs == 0:
			err = fmt.Errorf("unexpected argument %q", pos[0])
		case len(pos) < cmd.nargs:
			err = fmt.Errorf("missing %s", cmd.args)
		default:
			err = fmt.Errorf("too many arguments: %s takes %s", name, cmd.args)
		}
	}
	if err == nil && cmd.inWorkspace && o.workspace == "" {
		err = errors.New("which workspace? give --workspace ws_… or set WAGATE_WORKSPACE (wagate workspace list shows the ids)")
	}
	var cl *admin
	if err == nil {
		cl, err = newAdmin(o, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nUsage: %s (-h for help)\n", name, err, strings.TrimSpace(name+" "+cmd.args))
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	return cl.report(name, cmd.run(ctx, cl, pos))
}

func isHelp(s string) bool {
	switch s {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// negativeNumber is an argument that looks like a flag but is a number,
// as in `wagate credits add -50`.
var negativeNumber = regexp.MustCompile(`^-[0-9]+$`)

// parseInterleaved parses flags anywhere on the command line, before and
// after the positional arguments (the flag package stops at the first
// positional one), and returns the positional arguments. "--" ends the
// flags; -N is a number, not a flag.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' || negativeNumber.MatchString(a) {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		if name == "h" || name == "help" {
			return nil, flag.ErrHelp
		}
		f := fs.Lookup(name)
		if f == nil || name == "" || strings.HasPrefix(name, "-") {
			return nil, fmt.Errorf("unknown flag %s", a)
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() && !hasValue {
			value = "true"
		} else if !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if err := fs.Set(name, value); err != nil {
			return nil, fmt.Errorf("--%s %q: %v", name, value, err)
		}
	}
	return pos, nil
}

// commonFlags are described once, in cliCommonHelp.
var commonFlags = map[string]bool{"server": true, "token": true, "data": true, "json": true, "workspace": true, "w": true}

// ownFlags lists a command's own flags the way our docs write flags (--name).
func ownFlags(fs *flag.FlagSet) string {
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		if commonFlags[f.Name] {
			return
		}
		line := "  --" + f.Name
		if len(f.Name) == 1 {
			line = "  -" + f.Name
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
			line += " VALUE"
		}
		line = fmt.Sprintf("%-22s %s", line, f.Usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		lines = append(lines, line)
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// admin runs one admin command: the typed client of the admin API, the
// workspace, and where the command writes.
type admin struct {
	api            *client.Client
	data           string
	json           bool
	workspace      string
	getenv         func(string) string
	stdout, stderr io.Writer
}

func newAdmin(o *cliOpts, stdout, stderr io.Writer) (*admin, error) {
	server := strings.TrimRight(o.server, "/")
	if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
		return nil, fmt.Errorf("--server %q: give wagate's address with http:// or https://, e.g. %s", o.server, DefaultServer)
	}
	token := strings.TrimSpace(o.token)
	if token == "" && o.data != "" {
		path := filepath.Join(o.data, operatorTokenFile)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("no --token given, and the operator token could not be read from %s: %v; give --token or set WAGATE_TOKEN", path, err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return nil, fmt.Errorf("no admin token: give --token TOKEN, set WAGATE_TOKEN, or --data DIR to use the operator token in DIR/%s", operatorTokenFile)
	}
	return &admin{
		api:       client.New(server, token, client.WithHTTPClient(&http.Client{Timeout: cliTimeout})),
		data:      o.data,
		json:      o.json,
		workspace: o.workspace,
		getenv:    o.getenv,
		stdout:    stdout,
		stderr:    stderr,
	}, nil
}

// printJSON writes v indented, for --json. The client decodes into the
// same api types the server renders from, so this is the server's answer.
func (c *admin) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	c.printRaw(b)
	return nil
}

// printRaw writes JSON bytes indented (as they are, when they are not JSON).
func (c *admin) printRaw(raw []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	c.stdout.Write(buf.Bytes()) //nolint:errcheck // nothing to do about a closed stdout
}

// report prints what went wrong, with what to do about it, and returns the
// exit code.
func (c *admin) report(name string, err error) int {
	var refused *client.Error
	var unreachable *client.ConnError
	var usage *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(c.stderr, "%s: %s\n", name, usage.msg)
		return exitUsage
	case errors.As(err, &refused):
		if c.json && len(refused.Body) > 0 {
			c.printRaw(refused.Body)
		}
		fmt.Fprintf(c.stderr, "%s: the server refused (HTTP %d): %s\n", name, refused.Status, refused.Message)
		if hint := c.hint(refused); hint != "" {
			fmt.Fprintf(c.stderr, "hint: %s\n", hint)
		}
		return exitRefused
	case errors.As(err, &unreachable):
		fmt.Fprintf(c.stderr, "%s: %v\n", name, unreachable)
		fmt.Fprintf(c.stderr, "hint: is it running? Start it with `wagate serve` (or `make run`), or point --server / WAGATE_SERVER at it.\n")
		return exitUnreachable
	default:
		fmt.Fprintf(c.stderr, "%s: %v\n", name, err)
		return exitRefused
	}
}

// hint says what to do about a refusal, beyond the server's message.
func (c *admin) hint(e *client.Error) string {
	switch {
	case e.Status == http.StatusUnauthorized:
		h := "check --token or WAGATE_TOKEN; the operator token is in the server's data folder (" + operatorTokenFile + "), workspace tokens are shown once, when made"
		if c.data != "" {
			h += "; the token read from " + filepath.Join(c.data, operatorTokenFile) + " is not this server's: is --server the wagate that uses that folder?"
		}
		return h
	case e.Status == http.StatusForbidden && e.Code == "forbidden":
		return "creating workspaces and adding credits need the operator token; changes inside a workspace need its owner token (support tokens only read)"
	case e.Status == http.StatusNotFound && strings.Contains(e.Message, "workspace"):
		return "check --workspace; `wagate workspace list` (operator token) shows the ids"
	case e.Status == http.StatusNotFound && e.Code == "not_found" && strings.HasPrefix(e.Message, "no such endpoint"):
		return "this server does not know the command's endpoint: is it an older wagate?"
	case e.Status == http.StatusServiceUnavailable:
		return "the server is shutting down or its storage is failing; try again in a moment"
	case e.Status >= 500:
		return "see the server's log for request id " + e.RequestID
	}
	return ""
}

// usageError is a wrong command line found while running a command.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }
