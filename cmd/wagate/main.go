// Command wagate is the inbound WhatsApp-send webhook gateway: `wagate serve`
// runs it, `wagate check` audits a stopped store, and the admin commands
// (`wagate workspace create`, `wagate webhook regenerate`, …) drive a running
// one over its admin API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wagate/wagate/cmd/internal/gctune"
	"github.com/wagate/wagate/store"
	"github.com/wagate/wagate/store/postgres"
)

var usage = `wagate — inbound WhatsApp-send webhook gateway

Usage:
  wagate serve [flags]        run the gateway (wagate serve -h lists the flags)
  wagate check --data DIR     audit a stopped store; exits 1 when something is off
  wagate check --database-url postgres://…
                              audit a PostgreSQL database (read-only; replicas may be serving)
  wagate migrate --from DIR --to postgres://…
                              copy a stopped store into an empty PostgreSQL database, and check the copy
  wagate operator rotate-token --database-url postgres://… [--data DIR]
                              replace the database's operator token (revoked on every replica at once)
  wagate version              the version, commit and Go version of this binary
  wagate help                 this text

Every serve flag can also be set as WAGATE_<FLAG>, e.g. WAGATE_SEND_INTERVAL=2s.
The web console is at http://<addr>/ui/ (sign in with a workspace or operator token).

Admin commands, over the admin API of a running wagate:
` + cliUsage() + `
` + cliCommonHelp

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run executes one command line and returns the process exit code: 0 ok,
// 1 the work failed, 2 the command line was wrong.
func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stdout, stderr, getenv)
	case "check":
		return runCheck(args[1:], stdout, stderr, getenv)
	case "migrate":
		return runMigrate(args[1:], stdout, stderr, getenv)
	case "operator":
		return runOperator(args[1:], stdout, stderr, getenv)
	case "workspace", "credits", "webhook", "attempts", "account", "chat", "message", "token", "endpoint", "template":
		return runCLI(args, stdout, stderr, getenv)
	case "version", "--version", "-version":
		return runVersion(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wagate: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func runServe(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("wagate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serveFlags(fs, &cfg)
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "wagate serve: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "wagate serve: %v\n", err)
		return 2
	}
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wagate serve: --log-level: %v\n", err)
		return 2
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if gctune.Enabled() {
		gcCtx, stopGC := context.WithCancel(context.Background())
		defer stopGC()
		go gctune.Run(gcCtx, gctune.DefaultHeadroom)
		log.Info("garbage collection paced with a heap headroom; set GOGC to choose the pace yourself", zap.Int("headroom_mib", gctune.DefaultHeadroom>>20))
	}
	app, err := Start(ctx, cfg, stdout, log)
	if err != nil {
		log.Error("start failed", zap.Error(err))
		fmt.Fprintf(stderr, "wagate serve: %v\n", err)
		return 1
	}
	if err := app.Wait(); err != nil {
		log.Error("shutdown", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}

func runCheck(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("wagate check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data folder of a stopped wagate")
	databaseURL := fs.String("database-url", "", "postgres://user@host/database: audit this PostgreSQL database instead of the store in --data; it only reads, in one snapshot, so replicas may be serving")
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "wagate check: %v\n", err)
		return 2
	}
	if *databaseURL != "" {
		return checkPostgres(*databaseURL, stdout, stderr)
	}
	path := filepath.Join(cfg.DataDir, storeFile)
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "wagate check: no store at %s: %v\n", path, err)
		return 1
	}
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintf(stderr, "wagate check: %v (is wagate serve still running on this folder? stop it first)\n", err)
		return 1
	}
	defer db.Close()
	problems, err := db.Audit(context.Background())
	if err != nil {
		fmt.Fprintf(stderr, "wagate check: %v\n", err)
		return 1
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "wagate check: %d problem(s) in %s:\n", len(problems), path)
		for _, p := range problems {
			fmt.Fprintf(stdout, "  - %s\n", p)
		}
		return 1
	}
	fmt.Fprintf(stdout, "wagate check: %s is consistent\n", path)
	return 0
}

// checkPostgres is `wagate check --database-url`: postgres.AuditDatabase, with
// the same answers and exit codes as the bbolt check. The database is
// named by host and name only: the URL may hold a password.
func checkPostgres(databaseURL string, stdout, stderr io.Writer) int {
	name := databaseName(databaseURL)
	problems, err := postgres.AuditDatabase(context.Background(), databaseURL)
	if err != nil {
		fmt.Fprintf(stderr, "wagate check: %v\n", err)
		return 1
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "wagate check: %d problem(s) in %s:\n", len(problems), name)
		for _, p := range problems {
			fmt.Fprintf(stdout, "  - %s\n", p)
		}
		return 1
	}
	fmt.Fprintf(stdout, "wagate check: %s is consistent\n", name)
	return 0
}

// databaseName names a database URL for messages: its host and database,
// never its user's password or its parameters.
func databaseName(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "the PostgreSQL database of --database-url"
	}
	return "the PostgreSQL database " + u.Host + u.Path
}

// newLogger returns a JSON zap logger at level writing to w.
func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core), nil
}
