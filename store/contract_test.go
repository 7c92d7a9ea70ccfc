package store

import (
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate/store/storetest"
)

// TestContract runs the store contract (storetest) on bbolt: the same
// behaviours every backend must pass.
func TestContract(t *testing.T) {
	storetest.Run[*DB](t, boltHarness{})
}

// boltHarness opens each store in its own temp folder. At cleanup it checks
// the file (bbolt's check and the credit/queue audit) before closing it.
type boltHarness struct{}

func (boltHarness) Open(t *testing.T, env storetest.Env) *DB {
	return openContract(t, filepath.Join(t.TempDir(), "wagate.db"), env)
}

func (boltHarness) Reopen(t *testing.T, db *DB, env storetest.Env) *DB {
	t.Helper()
	closeContract(t, db)
	return openContract(t, db.Path(), env)
}

// closed remembers the stores Reopen closed, so the cleanup of the first
// Open does not close them again.
var closed sync.Map // *DB -> struct{}

func openContract(t *testing.T, path string, env storetest.Env) *DB {
	t.Helper()
	db, err := Open(path, Options{Logger: zaptest.NewLogger(t), Now: env.Now, FailCommit: env.Fault,
		MaxAccounts: env.MaxAccounts, MaxChats: env.MaxChats})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeContract(t, db) })
	return db
}

func closeContract(t *testing.T, db *DB) {
	t.Helper()
	if _, done := closed.LoadOrStore(db, struct{}{}); done {
		return
	}
	if !t.Failed() {
		checkConsistent(t, db)
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
