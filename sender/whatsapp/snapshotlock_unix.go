//go:build unix && !nowhatsapp

package whatsapp

import (
	"io"
	"os"
	"syscall"
)

// canLockSnapshots: a running migrate's snapshot folder is told from a
// stale one by its lock.
const canLockSnapshots = true

// lockSnapshot takes an exclusive lock on the snapshot folder dir, held
// until the returned Closer closes or the process ends (a kill -9
// included): the next migrate's sweep (removeStaleSnapshots) removes only
// a folder whose lock it can take. An error when another process holds it.
func lockSnapshot(dir string) (io.Closer, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
