//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A database left world-readable by an earlier version is narrowed to 0600
// when the server starts, and the server says so in one log line.
func TestServeTightensAWorldReadableDatabase(t *testing.T) {
	t.Parallel()
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	if out, code := cliRun(t, "", "migrate", "--db", db); code != 0 {
		t.Fatalf("migrate: %s", out)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, db)
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), m)
		}
	}
	s.stop()
	if n := strings.Count(s.stderr.String(), "permissions are now 0600"); n != 1 {
		t.Fatalf("%d log lines about the narrowed permissions, want 1:\n%s", n, s.stderr)
	}
}
