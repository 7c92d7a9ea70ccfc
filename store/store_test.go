package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/wagate/wagate"
)

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "wagate.db") // Open creates the folder
	db, err := Open(path, Options{})
	mustNoErr(t, err)
	if db.Path() != path {
		t.Fatalf("Path = %s", db.Path())
	}
	checkBolt(t, db)
	mustNoErr(t, db.Close())

	// Reopening the same version works.
	db, err = Open(path, Options{})
	mustNoErr(t, err)
	mustNoErr(t, db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion+1))
	}))
	mustNoErr(t, db.Close())

	_, err = Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema = %v, want a clear refusal", err)
	}
}

func TestStorageFaultsAreUnavailable(t *testing.T) {
	f := newFixture(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.db.FindWorkspace(ctx, f.ws.ID)
	wantCode(t, err, wagate.EUNAVAILABLE)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v does not wrap context.Canceled", err)
	}

	mustNoErr(t, f.db.Close())
	_, err = f.db.FindWorkspace(f.ctx, f.ws.ID)
	wantCode(t, err, wagate.EUNAVAILABLE)
	if !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Fatalf("%v does not wrap berrors.ErrDatabaseNotOpen", err)
	}
	_, err = f.db.Accept(f.ctx, f.request("x", 1))
	wantCode(t, err, wagate.EUNAVAILABLE)
	if msg := wagate.ErrorMessage(err); strings.Contains(msg, "bolt") || strings.Contains(msg, "database") {
		t.Fatalf("client message leaks storage details: %q", msg)
	}
}
