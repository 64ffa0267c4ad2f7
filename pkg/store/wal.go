package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// walSync makes SQLite ingest commits durable without holding the one writer connection
// during the disk sync. The connection runs with synchronous=NORMAL, so COMMIT leaves the
// write-ahead log in the page cache; before an Ingest is answered, the syncer goroutine
// fsyncs the -wal file, which puts on disk every frame committed so far, so one sync serves
// all the groups committed while the previous sync ran, and the committer writes the next
// group meanwhile. This is what synchronous=FULL does inside COMMIT, moved off the writer.
type walSync struct {
	path  string // the database's -wal file
	f     *os.File
	fsync func(*os.File) error
	err   error // sticky: after a failed fsync the kernel may have dropped the dirty pages
}

// openWALSync opens dbPath's write-ahead log (it exists once the database has been written
// in WAL mode) and syncs its folder, so the log's directory entry is durable too.
func openWALSync(dbPath string) (*walSync, error) {
	w := &walSync{path: dbPath + "-wal", fsync: (*os.File).Sync}
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open the write-ahead log: %w", err)
	}
	w.f = f
	if runtime.GOOS != "windows" { // Windows cannot sync a folder; NTFS journals its entries
		d, err := os.Open(filepath.Dir(w.path))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("sync the database folder: %w", err)
		}
		defer d.Close()
		if err := d.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync the database folder: %w", err)
		}
	}
	return w, nil
}

// sync puts the write-ahead log on disk. SQLite removes the log only when its last
// connection closes, after checkpointing it into the database and syncing that; if the file
// at the path is not the one held, the new one is synced, and if there is none, what was
// committed is already in the synced database.
func (w *walSync) sync() error {
	if w.err != nil {
		return w.err
	}
	cur, err := os.Stat(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		if held, herr := w.f.Stat(); herr != nil || !os.SameFile(held, cur) {
			var f *os.File
			if f, err = os.OpenFile(w.path, os.O_RDWR, 0); err == nil {
				w.f.Close()
				w.f = f
			}
		}
	}
	if err == nil {
		err = w.fsync(w.f)
	}
	if err != nil {
		w.err = fmt.Errorf("sync the write-ahead log %s (restart gtc; events answered with an error will be redelivered): %w", w.path, err)
	}
	return w.err
}

func (w *walSync) close() error { return w.f.Close() }

// syncUnit is requests committed in one group, waiting for the sync.
type syncUnit struct {
	reqs    []*ingestReq
	results []IngestResult
}

// syncer answers committed requests after the sync that makes them durable: it takes every
// unit queued while the previous sync ran and syncs once for all of them.
func (s *Store) syncer() {
	for u := range s.syncCh {
		units := []syncUnit{u}
	more:
		for {
			select {
			case u, ok := <-s.syncCh:
				if !ok {
					break more
				}
				units = append(units, u)
			default:
				break more
			}
		}
		err := s.wal.sync()
		if err == nil && s.synced != nil {
			s.synced()
		}
		for _, u := range units {
			for i, r := range u.reqs {
				s.answer(r, u.results[i], err)
			}
		}
	}
}
