package postgres

import (
	"context"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate/store/postgres/pgtest"
	"github.com/wagate/wagate/store/storetest"
)

// TestMain starts the throwaway PostgreSQL of this test binary; the tests
// fail, never skip, when it cannot start.
// The contract's stores start from a copy of one migrated database.
func TestMain(m *testing.M) {
	pgtest.Main(m, pgtest.Template{Name: migratedTemplate, Prepare: func(ctx context.Context, url string) error {
		db, err := Open(ctx, url, Options{})
		if err != nil {
			return err
		}
		return db.Close()
	}})
}

// migratedTemplate is the database with every migration applied.
const migratedTemplate = "migrated"

// TestContract runs the whole store contract on this backend, on a
// database of its own per behaviour.
func TestContract(t *testing.T) {
	storetest.Run[*DB](t, pgHarness{})
}

// pgHarness opens each store on a new database; Reopen opens the same
// database again, as a restarted replica would.
type pgHarness struct{}

// urls remembers each store's database, for Reopen.
var urls sync.Map // *DB -> string

func (pgHarness) Open(t *testing.T, env storetest.Env) *DB {
	return openContract(t, pgtest.Clone(t, migratedTemplate), env)
}

func (pgHarness) Reopen(t *testing.T, db *DB, env storetest.Env) *DB {
	t.Helper()
	url, _ := urls.Load(db)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openContract(t, url.(string), env)
}

func openContract(t *testing.T, url string, env storetest.Env) *DB {
	t.Helper()
	db, err := Open(context.Background(), url, Options{Logger: zaptest.NewLogger(t), Now: env.Now, FailCommit: env.Fault,
		MaxAccounts: env.MaxAccounts, MaxChats: env.MaxChats})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	urls.Store(db, url)
	t.Cleanup(func() { _ = db.Close() }) // closing twice is harmless
	return db
}
