package seal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// LoadFile reads the master key file at path (see Parse for its forms: the
// first key seals, every key opens).
//
// A file that its group or other users may read or write is refused, not
// narrowed: if others could read it, narrowing it now would not take the
// key back from them, and a key file with the wrong mode is more likely a
// mistake in how it was provisioned (a Kubernetes secret's default 0644, a
// copy with cp) that the operator must fix where it is made. The error says
// how ("chmod 600").
func LoadFile(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: other users may read the master key; make it readable by the server's user alone (chmod 600 %s)",
			path, perm, path)
	}
	if fi.Size() > 64<<10 {
		return nil, fmt.Errorf("%s is %d bytes: not a master key file", path, fi.Size())
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateFile loads the master key file at path, or, when there is
// none, creates it (mode 0600) with a new random key and reports created.
//
// It never overwrites: the new file is written and synced under a temporary
// name in the same directory, then linked to path, which fails if path has
// appeared meanwhile (another process starting at the same moment), in
// which case that file is loaded. So path is never seen half written. On a
// file system without hard links it falls back to O_CREATE|O_EXCL.
func LoadOrCreateFile(path string) (*Key, bool, error) {
	k, err := LoadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, raw := Generate()
	data := Encode(raw)
	created, err := createExclusive(path, data)
	if err != nil {
		return nil, false, fmt.Errorf("create master key file: %w", err)
	}
	if !created { // another process made it first: use that one
		k, err := LoadFile(path)
		return k, false, err
	}
	return k, true, nil
}

// createExclusive writes data to a new file at path, mode 0600, unless path
// exists (then it reports false).
func createExclusive(path string, data []byte) (bool, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	err = os.Link(tmp.Name(), path)
	switch {
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case err != nil: // no hard links here: create exclusively instead
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			os.Remove(path)
			return false, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(path)
			return false, err
		}
		if err := f.Close(); err != nil {
			return false, err
		}
	}
	if d, err := os.Open(dir); err == nil { // make the new name durable
		d.Sync()
		d.Close()
	}
	return true, nil
}
