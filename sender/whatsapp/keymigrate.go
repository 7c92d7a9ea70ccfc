//go:build !nowhatsapp

package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Moving the device keys (wagate migrate, SPEC §12): the key store of a
// data folder (DataDir/whatsapp.db, SQLite) is copied into the schema
// KeySchema of a PostgreSQL database, where a replica started with
// Config.DatabaseURL finds each linked device as it was: same JID, same
// identity, so WhatsApp sees the same companion device and nobody links
// again.
//
// The copy is three steps, in this order:
//
//  1. SnapshotKeys takes a consistent copy of the file (SQLite's VACUUM
//     INTO, from a read-only connection: the data folder is not written)
//     into a private temporary folder, and brings the copy to the schema
//     version this wagate's whatsmeow expects with whatsmeow's own
//     upgrade code, so both sides have the same tables and columns;
//  2. PrepareKeySchema creates and upgrades the database's schema the way
//     a replica does at start (whatsmeow's upgrade code again). It only
//     creates empty tables, and does nothing when they are there already:
//     it can run again after any failure. A schema it created is dropped
//     again (DropKeySchema) when the copy fails, so a failed migrate
//     leaves the database as it found it;
//  3. KeySnapshot.CopyInto copies every table's rows inside the caller's
//     transaction (postgres.Import's, so the keys are committed with the
//     rest of the store or not at all), refuses a schema that already
//     holds rows, and compares the row count of every table.
//
// whatsmeow's DDL runs in transactions of its own (go.mau.fi/util/dbutil
// on database/sql), which cannot join pgx's transaction: that is why step
// 2 comes first and holds no data.
//
// The snapshot holds private keys: Close removes it on every way out of a
// migrate (an error, an interrupt). A migrate killed outright (kill -9)
// leaves its folder; the next SnapshotKeys removes such stale folders,
// but not one a running migrate holds (it keeps its folder locked while
// it lives, snapshotlock_unix.go).

// snapshotPrefix names the snapshot folders in a data folder, and
// tempPrefix those in the system's temporary folder.
const (
	snapshotPrefix = ".migrate-keys-"
	tempPrefix     = "wagate-keys-"
)

// KeySnapshot is a consistent, upgraded copy of a data folder's key
// store, ready to be copied into PostgreSQL. Close removes it.
type KeySnapshot struct {
	dir  string
	ks   *keystore
	lock io.Closer
}

// KeyCounts are the rows copied, by table of KeySchema.
type KeyCounts map[string]int64

// Rows is the total of c.
func (c KeyCounts) Rows() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// ErrKeysNotEmpty is CopyInto's refusal of a schema that already holds
// device keys or ledger rows: a copy must never merge two key stores.
var ErrKeysNotEmpty = errors.New("whatsapp: the database's key schema already holds rows")

// versionTable is whatsmeow's schema version table: not copied, both
// sides are upgraded to the same version instead, and compared.
const versionTable = "whatsmeow_version"

// SnapshotKeys copies dataDir's key store into a private temporary folder
// (mode 0700, in dataDir; it holds private keys) and upgrades the copy.
// The key store in dataDir is only read. A missing file is an error wrapping
// fs.ErrNotExist.
func SnapshotKeys(ctx context.Context, dataDir string) (*KeySnapshot, error) {
	src := filepath.Join(dataDir, DBFile)
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("whatsapp: the key store %s: %w", src, err)
	}
	removeStaleSnapshots(filepath.Join(dataDir, snapshotPrefix+"*"))
	removeStaleSnapshots(filepath.Join(os.TempDir(), tempPrefix+"*"))
	// Beside the original, which holds the same keys, so no other place
	// does; the system's temporary folder when the data folder is read-only.
	dir, err := os.MkdirTemp(dataDir, snapshotPrefix)
	if err != nil {
		dir, err = os.MkdirTemp("", tempPrefix)
	}
	if err != nil {
		return nil, fmt.Errorf("whatsapp: a folder for the copy of the key store: %w", err)
	}
	lock, err := lockSnapshot(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("whatsapp: locking the folder of the copy of the key store: %w", err)
	}
	fail := func(err error) (*KeySnapshot, error) {
		_ = os.RemoveAll(dir)
		_ = lock.Close()
		return nil, err
	}
	r := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")
	ro, err := sql.Open("sqlite", "file:"+r.Replace(filepath.ToSlash(src))+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return fail(fmt.Errorf("whatsapp: opening the key store %s: %w", src, err))
	}
	copyPath := filepath.Join(dir, DBFile)
	_, err = ro.ExecContext(ctx, "VACUUM INTO ?", copyPath)
	if cerr := ro.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(fmt.Errorf("whatsapp: copying the key store %s: %w", src, err))
	}
	ks, err := openKeystore(ctx, copyPath, zap.NewNop())
	if err != nil {
		return fail(err)
	}
	return &KeySnapshot{dir: dir, ks: ks, lock: lock}, nil
}

// Close closes the snapshot and deletes it.
func (s *KeySnapshot) Close() error {
	err := s.ks.close()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	_ = s.lock.Close()
	return err
}

// removeStaleSnapshots removes the snapshot folders matching pattern that
// no running migrate holds: those a migrate killed outright left behind.
// A folder that cannot be removed (another user's) stays.
func removeStaleSnapshots(pattern string) {
	if !canLockSnapshots {
		return
	}
	dirs, _ := filepath.Glob(pattern)
	for _, dir := range dirs {
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
			continue
		}
		lock, err := lockSnapshot(dir)
		if err != nil {
			continue // a running migrate's, or not ours
		}
		_ = os.RemoveAll(dir)
		_ = lock.Close()
	}
}

// Devices returns the accounts that have a device recorded in the key
// store (the ones a replica finds linked).
func (s *KeySnapshot) Devices(ctx context.Context) (map[wagate.AccountRef]bool, error) {
	rows, err := s.ks.db.QueryContext(ctx, "SELECT workspace, phone FROM wagate_account_device")
	if err != nil {
		return nil, fmt.Errorf("whatsapp: reading the devices of the key store: %w", err)
	}
	defer rows.Close()
	out := map[wagate.AccountRef]bool{}
	for rows.Next() {
		var ref wagate.AccountRef
		if err := rows.Scan(&ref.WorkspaceID, &ref.Phone); err != nil {
			return nil, err
		}
		out[ref] = true
	}
	return out, rows.Err()
}

// PrepareKeySchema creates the schema KeySchema of the database at url
// and brings it to this wagate's version, as a replica does at start. It
// reports whether it created the schema (it was not there before): a
// migrate whose copy then fails drops it again with DropKeySchema. When
// it fails itself, a schema it created is dropped.
func PrepareKeySchema(ctx context.Context, url string) (created bool, err error) {
	existed, err := keySchemaExists(ctx, url)
	if err != nil {
		return false, err
	}
	ks, err := openPostgresKeystore(ctx, url, zap.NewNop())
	if err == nil {
		err = ks.close()
	}
	if err != nil {
		if !existed {
			if derr := DropKeySchema(context.WithoutCancel(ctx), url); derr != nil {
				err = fmt.Errorf("%w (and the schema %s it created could not be dropped: %w)", err, KeySchema, derr)
			}
		}
		return false, err
	}
	return !existed, nil
}

// connectKeys connects to the database at url for the schema's own
// statements; errors never show url, which may hold a password.
func connectKeys(ctx context.Context, url string) (*pgx.Conn, error) {
	poolCfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("whatsapp: the database URL is not a valid postgres://user@host/database URL")
	}
	conn, err := pgx.ConnectConfig(ctx, poolCfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: connecting to the database: %w", err)
	}
	return conn, nil
}

// keySchemaExists reports whether the database at url has the schema
// KeySchema.
func keySchemaExists(ctx context.Context, url string) (bool, error) {
	conn, err := connectKeys(ctx, url)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, KeySchema).Scan(&ok); err != nil {
		return false, fmt.Errorf("whatsapp: looking for the key schema %s: %w", KeySchema, err)
	}
	return ok, nil
}

// DropKeySchema drops the schema KeySchema of the database at url, which
// PrepareKeySchema created for a copy that failed, under the lock that
// replicas take to create it. A schema with a row in any table is never
// dropped: that is ErrKeysNotEmpty. A missing schema is nothing to do.
func DropKeySchema(ctx context.Context, url string) error {
	conn, err := connectKeys(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(keysLock)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, KeySchema)
		if err != nil {
			return err
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, t := range tables {
			if t == versionTable {
				continue
			}
			var used bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+pgx.Identifier{KeySchema, t}.Sanitize()+")").Scan(&used); err != nil {
				return err
			}
			if used {
				return fmt.Errorf("%w (table %s): it is left as it is", ErrKeysNotEmpty, t)
			}
		}
		_, err = tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{KeySchema}.Sanitize()+" CASCADE")
		return err
	})
}

// keyColumn is a column of a table of KeySchema.
type keyColumn struct{ name, pgType string }

// CopyInto copies every table of the snapshot into the schema KeySchema
// through tx (PrepareKeySchema must have run), and checks the copy: the
// schema versions must be equal, every table and column of the snapshot
// must exist in the schema, the schema's tables must be empty
// (ErrKeysNotEmpty), and each table must hold as many rows as the
// snapshot's afterwards. Errors name tables and columns, never a value:
// the values are private keys.
func (s *KeySnapshot) CopyInto(ctx context.Context, tx pgx.Tx) (KeyCounts, error) {
	var srcVersion, dstVersion int
	if err := s.ks.db.QueryRowContext(ctx, "SELECT version FROM "+versionTable).Scan(&srcVersion); err != nil {
		return nil, fmt.Errorf("whatsapp: the key store's version: %w", err)
	}
	if err := tx.QueryRow(ctx, "SELECT version FROM "+pgx.Identifier{KeySchema, versionTable}.Sanitize()).Scan(&dstVersion); err != nil {
		return nil, fmt.Errorf("whatsapp: the version of the database's key schema: %w", err)
	}
	if srcVersion != dstVersion {
		return nil, fmt.Errorf("whatsapp: the key store is at whatsmeow schema version %d and the database's at %d: both should be this wagate's", srcVersion, dstVersion)
	}
	tables, err := s.tables(ctx)
	if err != nil {
		return nil, err
	}
	dst, err := schemaColumns(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		if dst[t] == nil {
			return nil, fmt.Errorf("whatsapp: the key store has a table %s that the database's key schema lacks", t)
		}
		var used bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+pgx.Identifier{KeySchema, t}.Sanitize()+")").Scan(&used); err != nil {
			return nil, err
		}
		if used {
			return nil, fmt.Errorf("%w (table %s)", ErrKeysNotEmpty, t)
		}
	}
	order, err := referenceOrder(ctx, tx, tables)
	if err != nil {
		return nil, err
	}
	counts := KeyCounts{}
	for _, t := range order {
		n, err := s.copyTable(ctx, tx, t, dst[t])
		if err != nil {
			return nil, err
		}
		var want, got int64
		if err := s.ks.db.QueryRowContext(ctx, `SELECT count(*) FROM "`+t+`"`).Scan(&want); err != nil {
			return nil, err
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{KeySchema, t}.Sanitize()).Scan(&got); err != nil {
			return nil, err
		}
		if n != want || got != want {
			return nil, fmt.Errorf("whatsapp: table %s: %d rows in the key store, %d copied, %d in the database", t, want, n, got)
		}
		counts[t] = got
	}
	return counts, nil
}

// tables lists the snapshot's tables but the version table.
func (s *KeySnapshot) tables(ctx context.Context) ([]string, error) {
	rows, err := s.ks.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: listing the key store's tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if name != versionTable {
			out = append(out, name)
		}
	}
	return out, rows.Err()
}

// schemaColumns returns the columns of every table of KeySchema, with
// their PostgreSQL types.
func schemaColumns(ctx context.Context, tx pgx.Tx) (map[string]map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1`, KeySchema)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: reading the database's key schema: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var t, c, typ string
		if err := rows.Scan(&t, &c, &typ); err != nil {
			return nil, err
		}
		if out[t] == nil {
			out[t] = map[string]string{}
		}
		out[t][c] = typ
	}
	return out, rows.Err()
}

// referenceOrder orders tables so that a table comes after those its
// foreign keys point at (whatsmeow_device first): the constraints are
// checked row by row as the copy goes.
func referenceOrder(ctx context.Context, tx pgx.Tx, tables []string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT cl.relname, rf.relname FROM pg_constraint c
		JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class rf ON rf.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = c.connamespace
		WHERE c.contype = 'f' AND n.nspname = $1`, KeySchema)
	if err != nil {
		return nil, err
	}
	refs := map[string][]string{}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			rows.Close()
			return nil, err
		}
		if from != to {
			refs[from] = append(refs[from], to)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	done := map[string]bool{}
	var order []string
	for len(order) < len(tables) {
		progress := false
		for _, t := range tables {
			if done[t] || slices.ContainsFunc(refs[t], func(r string) bool { return slices.Contains(tables, r) && !done[r] }) {
				continue
			}
			done[t], progress = true, true
			order = append(order, t)
		}
		if !progress {
			return nil, errors.New("whatsapp: the key schema's foreign keys form a cycle")
		}
	}
	return order, nil
}

// copyTable streams one table from the snapshot into tx with COPY,
// converting each value to its PostgreSQL column's type.
func (s *KeySnapshot) copyTable(ctx context.Context, tx pgx.Tx, table string, dst map[string]string) (int64, error) {
	srcRows, err := s.ks.db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
	if err != nil {
		return 0, fmt.Errorf("whatsapp: reading table %s of the key store: %w", table, err)
	}
	defer srcRows.Close()
	names, err := srcRows.Columns()
	if err != nil {
		return 0, err
	}
	cols := make([]keyColumn, len(names))
	for i, n := range names {
		typ, ok := dst[n]
		if !ok {
			return 0, fmt.Errorf("whatsapp: column %s.%s of the key store is not in the database's key schema", table, n)
		}
		cols[i] = keyColumn{name: n, pgType: typ}
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	next := func() ([]any, error) {
		if !srcRows.Next() {
			return nil, srcRows.Err()
		}
		if err := srcRows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(cols))
		for i, c := range cols {
			v, err := keyValue(raw[i], c.pgType)
			if err != nil {
				return nil, fmt.Errorf("whatsapp: column %s.%s: %w", table, c.name, err)
			}
			row[i] = v
		}
		return row, nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{KeySchema, table}, names, pgx.CopyFromFunc(next))
	if err != nil {
		return 0, fmt.Errorf("whatsapp: copying table %s of the key store: %w", table, err)
	}
	return n, nil
}

// keyValue converts a value SQLite gave (int64, float64, string, []byte,
// bool or nil) to what a PostgreSQL column of type pgType takes. SQLite
// keeps whatsmeow's BOOLEAN as 0/1 and may keep bytes as text. An error
// says what did not fit, never the value.
func keyValue(v any, pgType string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch pgType {
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "text", "character varying":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case "uuid":
		var u pgtype.UUID
		switch x := v.(type) {
		case string:
			if err := u.Scan(x); err != nil {
				return nil, errors.New("a value that is not a UUID")
			}
			return u, nil
		case []byte:
			if len(x) == 16 {
				return pgtype.UUID{Bytes: [16]byte(x), Valid: true}, nil
			}
			if err := u.Scan(string(x)); err != nil {
				return nil, errors.New("a value that is not a UUID")
			}
			return u, nil
		}
	default:
		return nil, fmt.Errorf("the database's column type %s is not one this copy knows", pgType)
	}
	return nil, fmt.Errorf("a %T value for a %s column", v, pgType)
}
