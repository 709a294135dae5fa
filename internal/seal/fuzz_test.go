package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// FuzzOpen: whatever bytes and aad Open is given, it never panics, and it
// opens nothing but what the key sealed for that aad. The seed corpus in
// testdata/fuzz/FuzzOpen holds real sealed values (under the fixed key
// below) and truncated and foreign ones.
func FuzzOpen(f *testing.F) {
	k, err := seal.New(bytes.Repeat([]byte{0x42}, seal.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := k.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("totp:u1"))
	f.Add(good, []byte("totp:u1"))
	f.Add(good, []byte("totp:u2"))
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		plain, err := k.Open(sealed, aad)
		if err != nil {
			if !errors.Is(err, seal.ErrOpen) || plain != nil {
				t.Fatalf("Open failed with %v and %q, want ErrOpen and nothing", err, plain)
			}
			return
		}
		// Opened: it must be what the key sealed, i.e. it seals back to a
		// value that opens to the same plaintext, and nothing else opens
		// under another aad.
		if len(sealed) != len(plain)+seal.Overhead {
			t.Fatalf("opened %d bytes from %d", len(plain), len(sealed))
		}
		if _, err := k.Open(sealed, append(bytes.Clone(aad), 'x')); err == nil {
			t.Fatal("a value opened under two aads")
		}
	})
}
