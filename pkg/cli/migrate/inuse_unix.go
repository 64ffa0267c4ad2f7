//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package migrate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// sqliteDMS is the byte of a WAL database's -shm file on which every connection holds a
// shared POSIX lock while it has the database open (SQLite's os_unix.c: UNIX_SHM_DMS, the
// "dead man switch", at (22+8)*4 + 8).
const sqliteDMS = 128

// inUse reports whether another process has the SQLite database at path open: it asks the
// kernel whether anyone holds a lock on the -shm file's DMS byte (a question only: no lock
// is taken). No -shm file means nobody has the database open in WAL mode.
func inUse(path string) (bool, error) {
	f, err := os.Open(path + "-shm")
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: sqliteDMS, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return false, fmt.Errorf("probe the lock of %s-shm: %w", path, err)
	}
	return lk.Type != syscall.F_UNLCK, nil
}
