//go:build nowhatsapp

package whatsapp

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// The device-key copy of wagate migrate (keymigrate.go) needs whatsmeow's
// schema: a binary built with -tags nowhatsapp answers ErrNotBuilt.

// KeySchema is the PostgreSQL schema of the device keys, as in keystore_pg.go.
const KeySchema = "whatsapp"

// KeySnapshot is nothing in this build.
type KeySnapshot struct{}

// KeyCounts are the rows copied, by table.
type KeyCounts map[string]int64

// Rows is the total of c.
func (c KeyCounts) Rows() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// ErrKeysNotEmpty is CopyInto's refusal of a schema that already holds rows.
var ErrKeysNotEmpty = errors.New("whatsapp: the database's key schema already holds rows")

// SnapshotKeys answers ErrNotBuilt.
func SnapshotKeys(context.Context, string) (*KeySnapshot, error) { return nil, ErrNotBuilt }

// PrepareKeySchema answers ErrNotBuilt.
func PrepareKeySchema(context.Context, string) (bool, error) { return false, ErrNotBuilt }

// DropKeySchema answers ErrNotBuilt.
func DropKeySchema(context.Context, string) error { return ErrNotBuilt }

// Close does nothing.
func (*KeySnapshot) Close() error { return nil }

// Devices answers ErrNotBuilt.
func (*KeySnapshot) Devices(context.Context) (map[wagate.AccountRef]bool, error) {
	return nil, ErrNotBuilt
}

// CopyInto answers ErrNotBuilt.
func (*KeySnapshot) CopyInto(context.Context, pgx.Tx) (KeyCounts, error) { return nil, ErrNotBuilt }
