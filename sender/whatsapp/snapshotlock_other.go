//go:build !unix && !nowhatsapp

package whatsapp

import "io"

// canLockSnapshots is false here: without flock a running migrate's
// snapshot folder cannot be told from a stale one, so the sweep leaves
// every folder.
const canLockSnapshots = false

// lockSnapshot holds nothing on this system.
func lockSnapshot(string) (io.Closer, error) { return nopCloser{}, nil }

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
