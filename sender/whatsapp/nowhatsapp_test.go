//go:build nowhatsapp

package whatsapp

import (
	"context"
	"errors"
	"testing"
)

// Built without the transport, Open says so and how to get it.
func TestOpenNotBuilt(t *testing.T) {
	if Built {
		t.Fatal("Built is true in a nowhatsapp build")
	}
	svc, err := Open(context.Background(), Config{DataDir: t.TempDir()})
	if svc != nil || !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Open = %v, %v; want ErrNotBuilt", svc, err)
	}
}
