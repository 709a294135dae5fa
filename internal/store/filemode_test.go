//go:build unix

package store_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// withUmask runs the test under the usual umask 022, under which files are
// created 0644 unless their creator asks for less.
func withUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The database holds the private signing keys: a new SQLite database, its
// -wal and its -shm are readable by their owner only.
func TestNewSQLiteFilesAreOwnerOnly(t *testing.T) {
	withUmask(t)
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil { // writes: the -wal and -shm exist now
		t.Fatal(err)
	}
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		if m := modeOf(t, p); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), m)
		}
	}
	if got := st.Tightened(); len(got) != 0 {
		t.Errorf("Tightened() = %v for new files, want none", got)
	}
}

// A database made by an earlier version (0644) is tightened when it opens,
// and the store says which files it changed so the server can log it.
func TestExistingSQLiteFilesAreTightened(t *testing.T) {
	withUmask(t)
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Leftovers of a crash or of an older version: wide -wal and -shm too.
	files := []string{db, db + "-wal", db + "-shm"}
	for _, p := range files {
		if _, err := os.Stat(p); os.IsNotExist(err) { // the last close removed it
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err = store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		if m := modeOf(t, p); m != 0o600 {
			t.Errorf("%s: mode %o after open, want 600", filepath.Base(p), m)
		}
	}
	got := st.Tightened()
	slices.Sort(got)
	if want := []string{db, db + "-shm", db + "-wal"}; !slices.Equal(got, want) {
		t.Errorf("Tightened() = %v, want %v", got, want)
	}
}
