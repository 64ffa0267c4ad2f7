//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package migrate

import (
	"errors"
	"os"
)

// inUse cannot ask for SQLite's locks here; it says so when the database has a write-ahead
// log with content (a process has it open, or one died without a checkpoint), so the user
// is told to make sure gtc serve is stopped.
func inUse(path string) (bool, error) {
	st, err := os.Stat(path + "-wal")
	if errors.Is(err, os.ErrNotExist) || err == nil && st.Size() == 0 {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return false, errors.New("it has a write-ahead log and this system cannot check its locks")
}
