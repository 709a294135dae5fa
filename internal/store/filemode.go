package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// Tightened lists the database files whose permissions Open narrowed to
// 0600 (an SQLite database made by an earlier version, or by another tool),
// for the server to log once at start.
func (s *Store) Tightened() []string { return s.tightened }

// ownerOnly is the mode of every file Gatehouse keeps secrets in: the SQLite
// database holds the private signing keys.
const ownerOnly fs.FileMode = 0o600

// secureSQLiteFiles creates the database file 0600 if it does not exist yet
// (SQLite would create it with the process umask, typically 0644, and then
// gives its -wal and -shm the main file's mode), and narrows an existing
// database, -wal or -shm readable or writable by others to 0600. It returns
// the files it narrowed.
func secureSQLiteFiles(path string) (tightened []string, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, ownerOnly)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f.Close()
	if runtime.GOOS == "windows" { // no unix modes to narrow
		return nil, nil
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return tightened, fmt.Errorf("check permissions of %s: %w", p, err)
		}
		if fi.Mode().Perm()&^ownerOnly == 0 {
			continue
		}
		if err := os.Chmod(p, ownerOnly); err != nil {
			return tightened, fmt.Errorf("narrow permissions of %s to 0600: %w", p, err)
		}
		tightened = append(tightened, p)
	}
	return tightened, nil
}
