package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrations.
//
// The schema is the migrations in migrations/, applied in order of their
// version, the number that starts each file name (0001_workspaces_tokens.sql
// is version 1). A migration is never edited once released: a change of the
// schema is a new file. schema_migrations records the versions applied.
//
// Open applies the missing migrations in ONE transaction, under an
// advisory lock so replicas starting together do not race: either every
// missing migration is applied, or none is and Open fails. A database with
// a version this wagate does not know was migrated by a newer wagate, which
// Open refuses rather than half-understand its tables.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the key of the advisory lock taken while migrating: any
// fixed number, the same in every wagate ("wagate" in ASCII).
const migrationLock = 0x776167617465

// migration is one file of migrations/.
type migration struct {
	version int
	name    string // the file name
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// readMigrations reads the *.sql files of dir in fsys, ordered by version.
func readMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("migration %q is not named NNNN_words.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if other, ok := seen[v]; ok || v == 0 {
			return nil, fmt.Errorf("migrations %q and %q have the same version %d (versions start at 1)", other, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the migrations of dir in fsys that the database lacks,
// in one transaction, and returns the versions it applied.
func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, dir string) ([]int, error) {
	ms, err := readMigrations(fsys, dir)
	if err != nil {
		return nil, err
	}
	var applied []int
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		applied = nil
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		have, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		done := map[int]bool{}
		for _, v := range have {
			done[int(v)] = true
		}
		known := map[int]bool{}
		for _, m := range ms {
			known[m.version] = true
		}
		for v := range done {
			if !known[v] {
				return fmt.Errorf("the database has schema version %d, which this wagate does not know: it was migrated by a newer wagate; run that one (or a newer) on it", v)
			}
		}
		for _, m := range ms {
			if done[m.version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return err
			}
			applied = append(applied, m.version)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	return applied, nil
}
