package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/store"
	"github.com/wagate/wagate/store/postgres"
)

// runMigrate is `wagate migrate --from DIR --to postgres://…` (SPEC §12):
// it copies a stopped wagate's bbolt store into an empty PostgreSQL
// database and checks the copy. The order is what makes it safe:
//
//  1. the store is opened read-only (a running server holds its lock, so
//     a live store is refused) and must pass `wagate check` first: a
//     damaged store is repaired where it is, not copied;
//  2. what cannot be copied is refused up front, by name: WhatsApp Web
//     accounts linked to a device (their keys in whatsapp.db are not
//     copied, so they would need linking again anyway: --relink-whatsapp
//     copies them marked unlinked, on purpose);
//  3. postgres.Import inserts every record in one transaction, compares
//     counts and credit sums with the store's before committing, and
//     refuses a database that already holds data;
//  4. the database is audited as `wagate check --database-url` does.
//
// The URL's password is never printed: the database is named by host and
// name only.
func runMigrate(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("wagate migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "data folder of a STOPPED wagate whose store (wagate.db) to copy")
	to := fs.String("to", getenv("WAGATE_DATABASE_URL"), "postgres://user@host/database: an EMPTY database to copy into (default $WAGATE_DATABASE_URL); its schema is created")
	relink := fs.Bool("relink-whatsapp", false, "copy WhatsApp Web accounts that are linked anyway, marked unlinked: their device keys stay behind, so each must be linked again on the new server (wagate account link PHONE)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "wagate migrate: usage: wagate migrate --from DIR --to postgres://user@host/database (both are required; --to may come from WAGATE_DATABASE_URL)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := migrateStore(ctx, *from, *to, *relink, stdout); err != nil {
		fmt.Fprintf(stderr, "wagate migrate: %v\n", err)
		return 1
	}
	return 0
}

// migrateStore is runMigrate after the command line.
func migrateStore(ctx context.Context, dataDir, databaseURL string, relink bool, stdout io.Writer) error {
	name := databaseName(databaseURL)
	path := filepath.Join(dataDir, storeFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("--from: no store at %s: %w", path, err)
	}
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%w (is wagate serve still running on %s? stop it first: a migration copies a stopped store)", err, dataDir)
	}
	defer db.Close()
	problems, err := db.Audit(ctx)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("the store in %s has %d problem(s) (first: %s); run wagate check --data %s, repair it, then migrate: nothing was copied", dataDir, len(problems), problems[0], dataDir)
	}
	linked, err := linkedWhatsApp(ctx, db)
	if err != nil {
		return err
	}
	if len(linked) > 0 && !relink {
		return fmt.Errorf("%d WhatsApp Web account(s) are linked to a device (%s): their device keys in %s are not copied, so each would have to be linked again on the new server. Either log them out first, or migrate with --relink-whatsapp, then run `wagate account link PHONE` for each against the new server: nothing was copied",
			len(linked), strings.Join(linked, ", "), filepath.Join(dataDir, whatsapp.DBFile))
	}
	now := time.Now().UTC()
	export := func(yield func(rec any) error) error {
		return db.Export(ctx, func(rec any) error {
			if a, ok := rec.(*wagate.Account); ok && a.Transport == wagate.TransportWhatsApp && !a.Link.NeedsLinking() {
				a.Link = wagate.AccountLink{State: wagate.LinkUnlinked, Since: now,
					Error: "moved to PostgreSQL by wagate migrate without its device keys: link it again (wagate account link " + a.Phone + ")"}
			}
			return yield(rec)
		})
	}
	counts, err := postgres.Import(ctx, databaseURL, export)
	if errors.Is(err, postgres.ErrNotEmpty) {
		return fmt.Errorf("%s already holds wagate data (workspaces, tokens or chat windows): --to must name an EMPTY database (e.g. createdb a new one); nothing was copied", name)
	}
	if err != nil {
		return fmt.Errorf("%w; nothing was copied to %s", err, name)
	}
	problems, err = postgres.AuditDatabase(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("the copy is committed, but auditing it failed: %w; run wagate check --database-url", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("the copy is committed, but %s has %d problem(s) (first: %s); run wagate check --database-url for the list", name, len(problems), problems[0])
	}
	fmt.Fprintf(stdout, "wagate migrate: copied %s to %s, and it is consistent:\n", path, name)
	for _, kind := range slices.Sorted(maps.Keys(counts.Records)) {
		fmt.Fprintf(stdout, "  %-20s %d\n", kind, counts.Records[kind])
	}
	fmt.Fprintf(stdout, "  credits: balance %d, granted %d, held by messages %d, pruned %d\n", counts.Balance, counts.Granted, counts.Held, counts.Pruned)
	if len(linked) > 0 {
		fmt.Fprintf(stdout, "Link these WhatsApp Web accounts again on the new server (wagate account link PHONE): %s\n", strings.Join(linked, ", "))
	}
	return nil
}

// linkedWhatsApp names the WhatsApp Web accounts whose device is linked
// (or was, and may reconnect), as "PHONE (workspace ID)".
func linkedWhatsApp(ctx context.Context, db *store.DB) ([]string, error) {
	accounts, err := db.AllAccounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range accounts {
		if a.Transport == wagate.TransportWhatsApp && !a.Link.NeedsLinking() {
			out = append(out, fmt.Sprintf("%s (workspace %s)", a.Phone, a.WorkspaceID))
		}
	}
	return out, nil
}
