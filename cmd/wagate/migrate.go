package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/whatsapp"
	"github.com/wagate/wagate/store"
	"github.com/wagate/wagate/store/postgres"
)

// runMigrate is `wagate migrate --from DIR --to postgres://…` (SPEC §12):
// it copies a stopped wagate's bbolt store, and the WhatsApp Web device
// keys beside it, into an empty PostgreSQL database and checks the copy.
// The order is what makes it safe:
//
//  1. the store is opened read-only (a running server holds its lock, so
//     a live store is refused) and must pass `wagate check` first: a
//     damaged store is repaired where it is, not copied;
//  2. the key store (whatsapp.db) is snapshotted and upgraded in a
//     temporary folder, and every WhatsApp Web account linked to a device
//     must have its device there, else the copy is refused by name
//     (--relink-whatsapp copies such accounts marked unlinked instead,
//     and leaves the keys behind);
//  3. the database's key schema is created by whatsmeow's own upgrade
//     code (empty tables only; whatsmeow runs it in transactions of its
//     own, so it comes before, and is a no-op when repeated); a schema
//     created so is dropped again when the copy fails or is interrupted,
//     and the snapshot is removed on every way out (one left by a kill -9
//     is removed by the next migrate);
//  4. postgres.Import inserts every record and copies every key table in
//     ONE transaction, compares counts, credit sums and key rows with the
//     store's before committing, and refuses a database that already
//     holds data or keys;
//  5. the database is audited as `wagate check --database-url` does.
//
// The URL's password is never printed: the database is named by host and
// name only. Keys are never printed either: errors name tables, not values.
func runMigrate(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("wagate migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "data folder of a STOPPED wagate whose store (wagate.db) to copy")
	to := fs.String("to", getenv("WAGATE_DATABASE_URL"), "postgres://user@host/database: an EMPTY database to copy into (default $WAGATE_DATABASE_URL); its schema is created")
	relink := fs.Bool("relink-whatsapp", false, "do not copy the WhatsApp Web device keys (whatsapp.db): linked accounts are copied marked unlinked, and each must be linked again on the new server (wagate account link PHONE)")
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
func migrateStore(ctx context.Context, dataDir, databaseURL string, relink bool, stdout io.Writer) (err error) {
	committed := false // the copy is in the database: nothing to undo
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
	var keys *whatsapp.KeySnapshot
	if !relink {
		if keys, err = snapshotKeys(ctx, dataDir, linked); err != nil {
			return err
		}
	}
	if keys != nil {
		defer keys.Close()
		created, perr := whatsapp.PrepareKeySchema(ctx, databaseURL)
		if perr != nil {
			return fmt.Errorf("%w; nothing was copied to %s", perr, name)
		}
		if created {
			// A copy that fails or is interrupted leaves the database as it
			// found it: without the (empty) key schema made for it.
			defer func() {
				if committed {
					return
				}
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				if derr := whatsapp.DropKeySchema(dctx, databaseURL); derr != nil {
					err = fmt.Errorf("%w; the empty key schema %s it made could not be dropped (%w): drop it by hand (DROP SCHEMA %s CASCADE) or migrate again", err, whatsapp.KeySchema, derr, whatsapp.KeySchema)
				}
			}()
		}
	}
	now := time.Now().UTC()
	export := func(yield func(rec any) error) error {
		return db.Export(ctx, func(rec any) error {
			if a, ok := rec.(*wagate.Account); ok && keys == nil && a.Transport == wagate.TransportWhatsApp && !a.Link.NeedsLinking() {
				a.Link = wagate.AccountLink{State: wagate.LinkUnlinked, Since: now,
					Error: "moved to PostgreSQL by wagate migrate without its device keys: link it again (wagate account link " + a.Phone + ")"}
			}
			return yield(rec)
		})
	}
	var keyCounts whatsapp.KeyCounts
	var replaced int64
	opts := postgres.ImportOptions{Replaced: &replaced}
	if keys != nil {
		opts.InTx = func(ctx context.Context, tx pgx.Tx) (err error) {
			keyCounts, err = keys.CopyInto(ctx, tx)
			return err
		}
	}
	counts, err := postgres.Import(ctx, databaseURL, export, opts)
	if errors.Is(err, postgres.ErrNotEmpty) || errors.Is(err, whatsapp.ErrKeysNotEmpty) {
		return fmt.Errorf("%s already holds wagate data (workspaces, tokens, chat windows or WhatsApp Web keys): --to must name an EMPTY database (e.g. createdb a new one); nothing was copied", name)
	}
	if err != nil {
		return fmt.Errorf("%w; nothing was copied to %s", err, name)
	}
	committed = true
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
	if replaced > 0 {
		fmt.Fprintf(stdout, "  %d value(s) held a NUL character or bytes that are not UTF-8, which PostgreSQL cannot store: they were copied with U+FFFD in their place\n", replaced)
	}
	if keys != nil {
		fmt.Fprintf(stdout, "  %-20s %d rows in %d tables (schema %s)\n", "whatsapp keys", keyCounts.Rows(), len(keyCounts), whatsapp.KeySchema)
	}
	if keys == nil && len(linked) > 0 {
		fmt.Fprintf(stdout, "Link these WhatsApp Web accounts again on the new server (wagate account link PHONE): %s\n", strings.Join(names(linked), ", "))
	}
	return nil
}

// snapshotKeys takes the snapshot of the data folder's key store that
// migrate copies (whatsapp.SnapshotKeys), after checking that every
// linked account has its device in it. nil, nil: there is no key store
// and nothing needs one.
func snapshotKeys(ctx context.Context, dataDir string, linked []wagate.Account) (*whatsapp.KeySnapshot, error) {
	file := filepath.Join(dataDir, whatsapp.DBFile)
	_, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) && len(linked) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%d WhatsApp Web account(s) are linked to a device (%s), but their device keys cannot be read: %w. Either restore %s, or log them out first, or migrate with --relink-whatsapp (they arrive unlinked), then run `wagate account link PHONE` for each against the new server: nothing was copied",
			len(linked), strings.Join(names(linked), ", "), err, file)
	}
	if !whatsapp.Built {
		if len(linked) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("%d WhatsApp Web account(s) are linked to a device (%s), and this wagate was built without WhatsApp Web (-tags nowhatsapp), so it cannot copy their device keys from %s: migrate with a full build of wagate, or with --relink-whatsapp (they arrive unlinked): nothing was copied",
			len(linked), strings.Join(names(linked), ", "), file)
	}
	keys, err := whatsapp.SnapshotKeys(ctx, dataDir)
	if err != nil {
		return nil, fmt.Errorf("%w (with --relink-whatsapp, the keys are left behind and linked accounts arrive unlinked); nothing was copied", err)
	}
	devices, err := keys.Devices(ctx)
	if err != nil {
		_ = keys.Close()
		return nil, err
	}
	var missing []wagate.Account
	for _, a := range linked {
		if !devices[wagate.AccountRef{WorkspaceID: a.WorkspaceID, Phone: a.Phone}] {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		_ = keys.Close()
		return nil, fmt.Errorf("%d WhatsApp Web account(s) are linked to a device (%s), but %s holds no device for them, so they could not connect on the new server. Either log them out first, or migrate with --relink-whatsapp (they arrive unlinked), then run `wagate account link PHONE` for each against the new server: nothing was copied",
			len(missing), strings.Join(names(missing), ", "), file)
	}
	return keys, nil
}

// names names accounts as "PHONE (workspace ID)".
func names(accounts []wagate.Account) []string {
	out := make([]string, len(accounts))
	for i, a := range accounts {
		out[i] = fmt.Sprintf("%s (workspace %s)", a.Phone, a.WorkspaceID)
	}
	return out
}

// linkedWhatsApp returns the WhatsApp Web accounts whose device is linked
// (or was, and may reconnect).
func linkedWhatsApp(ctx context.Context, db *store.DB) ([]wagate.Account, error) {
	accounts, err := db.AllAccounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []wagate.Account
	for _, a := range accounts {
		if a.Transport == wagate.TransportWhatsApp && !a.Link.NeedsLinking() {
			out = append(out, *a)
		}
	}
	return out, nil
}
