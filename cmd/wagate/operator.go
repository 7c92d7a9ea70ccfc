package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/store/postgres"
)

// runOperator is `wagate operator rotate-token --database-url …`: a new
// operator token for a PostgreSQL database that replicas share (SPEC §12).
// With bbolt the operator deletes {data}/operator.token and restarts; with
// PostgreSQL the token belongs to the database, and no start ever rotates
// it (replicas would revoke each other's), so this command does: it works
// on the database directly, like check and migrate, while the replicas
// serve.
//
// The old token is revoked for every replica at once: the admin API and
// the console look the token up in the database at every request (no
// replica caches it), so the first request after the command returns is
// answered with the new token only; the old operator's console sessions
// end with it. The new token is printed once, to the person running the
// command, and written to --data's operator.token when --data is given.
func runOperator(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] != "rotate-token" {
		fmt.Fprintln(stderr, "wagate operator: usage: wagate operator rotate-token --database-url postgres://user@host/database [--data DIR]")
		return 2
	}
	fs := flag.NewFlagSet("wagate operator rotate-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	databaseURL := fs.String("database-url", getenv("WAGATE_DATABASE_URL"), "postgres://user@host/database whose operator token to replace (default $WAGATE_DATABASE_URL)")
	dataDir := fs.String("data", "", "also write the new token to DIR/"+operatorTokenFile+" (the --data folder of a replica), replacing the old one")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *databaseURL == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "wagate operator rotate-token: --database-url is required (or WAGATE_DATABASE_URL); with bbolt, delete operator.token in --data and restart wagate serve instead")
		return 2
	}
	if err := (Config{DatabaseURL: *databaseURL}).validateDatabase(); err != nil {
		fmt.Fprintf(stderr, "wagate operator rotate-token: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rotateOperatorToken(ctx, *databaseURL, *dataDir, stdout); err != nil {
		fmt.Fprintf(stderr, "wagate operator rotate-token: %v\n", err)
		return 1
	}
	return 0
}

// rotateOperatorToken is runOperator after the command line. With dataDir,
// the new token is written next to operator.token before the database
// changes (so it is never lost) and moved over it after the commit.
func rotateOperatorToken(ctx context.Context, databaseURL, dataDir string, stdout io.Writer) error {
	token, err := wagate.NewToken(rand.Reader)
	if err != nil {
		return err
	}
	var path, next string
	if dataDir != "" {
		path = filepath.Join(dataDir, operatorTokenFile)
		next = path + ".new"
		if err := os.Remove(next); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--data: %w", err)
		}
		if err := writeFileSync(next, []byte(token+"\n"), 0o600); err != nil {
			return fmt.Errorf("--data: %w", err)
		}
	}
	replaced, err := postgres.RotateOperatorToken(ctx, databaseURL, &wagate.Token{Hash: wagate.HashToken(token), Role: wagate.RoleOperator}, time.Now())
	if err != nil {
		if next != "" {
			_ = os.Remove(next)
		}
		return fmt.Errorf("%s: %w (the old token still works)", databaseName(databaseURL), err)
	}
	what := "New operator token"
	if !replaced {
		what = "Operator token (the database had none)"
	}
	fmt.Fprintf(stdout, "%s of %s, for every replica (shown once):\n  %s\n\n", what, databaseName(databaseURL), token)
	fmt.Fprint(stdout, "The old token is revoked on every replica from now on, and its console sessions are ended.\n")
	if next == "" {
		fmt.Fprintf(stdout, "Replace %s in the --data folder of the replica that keeps it (or delete it there).\n", operatorTokenFile)
		return nil
	}
	if err := os.Rename(next, path); err != nil {
		return fmt.Errorf("the token was rotated, but moving it into %s failed (it is in %s): %w", path, next, err)
	}
	fmt.Fprintf(stdout, "Written to %s.\n", path)
	return nil
}
