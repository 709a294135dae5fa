package seal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

func mustNew(t testing.TB, b byte) (*seal.Key, []byte) {
	t.Helper()
	raw := bytes.Repeat([]byte{b}, seal.KeySize)
	k, err := seal.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k, raw
}

func TestNewWantsExactly32Bytes(t *testing.T) {
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		if _, err := seal.New(make([]byte, n)); err == nil {
			t.Errorf("New accepted a %d-byte key", n)
		}
	}
	if _, err := seal.New(make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k, _ := seal.Generate()
	for _, tt := range []struct {
		name       string
		plain, aad []byte
	}{
		{"empty", nil, nil},
		{"empty with aad", []byte{}, []byte("totp:u1")},
		{"signing key", bytes.Repeat([]byte{0x30}, 48), []byte("signing-key:abc")},
		{"large", bytes.Repeat([]byte("x"), 1<<16), []byte("a")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := k.Seal(tt.plain, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) != len(tt.plain)+seal.Overhead {
				t.Fatalf("sealed %d bytes into %d, want %d", len(tt.plain), len(sealed), len(tt.plain)+seal.Overhead)
			}
			if len(tt.plain) > 0 && bytes.Contains(sealed, tt.plain) {
				t.Fatal("the plaintext shows in the sealed value")
			}
			if sealed[0] != 1 || hex.EncodeToString(sealed[1:5]) != k.ID() {
				t.Fatalf("header %x, want version 1 and key id %s", sealed[:5], k.ID())
			}
			got, err := k.Open(sealed, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plain) {
				t.Fatalf("opened %q, want %q", got, tt.plain)
			}
			again, _ := k.Seal(tt.plain, tt.aad)
			if bytes.Equal(again, sealed) {
				t.Fatal("two seals of one plaintext are equal: the nonce repeats")
			}
		})
	}
}

// Every change to a sealed value, or opening it elsewhere, fails with ErrOpen
// and returns nothing.
func TestOpenRefusesTampering(t *testing.T) {
	k, _ := mustNew(t, 1)
	other, _ := mustNew(t, 2)
	plain, aad := []byte("JBSWY3DPEHPK3PXP"), []byte("totp:user-1")
	sealed, err := k.Seal(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	cases := []struct {
		name   string
		key    *seal.Key
		sealed []byte
		aad    []byte
	}{
		{"wrong aad (another row)", k, sealed, []byte("totp:user-2")},
		{"wrong aad (another purpose)", k, sealed, []byte("signing-key:user-1")},
		{"no aad", k, sealed, nil},
		{"wrong key", other, sealed, aad},
		{"truncated to nothing", k, nil, aad},
		{"truncated to the header", k, sealed[:5], aad},
		{"truncated tag", k, sealed[:len(sealed)-1], aad},
		{"truncated to the overhead", k, sealed[:seal.Overhead-1], aad},
		{"extended", k, append(bytes.Clone(sealed), 0), aad},
		{"version changed", k, flip(0), aad},
		{"key id changed", k, flip(2), aad},
		{"nonce changed", k, flip(8), aad},
		{"ciphertext changed", k, flip(seal.Overhead - 16 + 1), aad},
		{"tag changed", k, flip(len(sealed) - 1), aad},
	}
	for i := range sealed { // every single bit flipped
		for bit := range 8 {
			b := bytes.Clone(sealed)
			b[i] ^= 1 << bit
			cases = append(cases, struct {
				name   string
				key    *seal.Key
				sealed []byte
				aad    []byte
			}{fmt.Sprintf("bit %d of byte %d", bit, i), k, b, aad})
		}
	}
	for _, tt := range cases {
		got, err := tt.key.Open(tt.sealed, tt.aad)
		if !errors.Is(err, seal.ErrOpen) || got != nil {
			t.Errorf("%s: Open = %q, %v; want nil, ErrOpen", tt.name, got, err)
		}
	}
	if _, err := other.Open(sealed, aad); !strings.Contains(err.Error(), k.ID()) || !strings.Contains(err.Error(), other.ID()) {
		t.Errorf("wrong-key error %q names neither the sealing key %s nor the loaded %s", err, k.ID(), other.ID())
	}
}

// A key file of several keys seals with the first and opens with every one;
// Reseal moves a value to the first.
func TestSeveralKeysRotate(t *testing.T) {
	_, oldRaw := mustNew(t, 1)
	_, newRaw := mustNew(t, 2)
	old, err := seal.Parse(seal.Encode(oldRaw))
	if err != nil {
		t.Fatal(err)
	}
	both, err := seal.Parse(seal.Encode(newRaw, oldRaw))
	if err != nil {
		t.Fatal(err)
	}
	newOnly, _ := seal.New(newRaw)
	if both.ID() != newOnly.ID() || len(both.IDs()) != 2 || both.IDs()[1] != old.ID() {
		t.Fatalf("ids %v, want [%s %s]", both.IDs(), newOnly.ID(), old.ID())
	}
	aad := []byte("signing-key:k1")
	byOld, _ := old.Seal([]byte("secret"), aad)
	if got, err := both.Open(byOld, aad); err != nil || string(got) != "secret" {
		t.Fatalf("the rotated file does not open a value of the old key: %q %v", got, err)
	}
	if both.Current(byOld) {
		t.Fatal("a value of the old key counts as current")
	}
	resealed, changed, err := both.Reseal(byOld, aad)
	if err != nil || !changed || !both.Current(resealed) {
		t.Fatalf("Reseal: changed %v, current %v, %v", changed, both.Current(resealed), err)
	}
	if got, err := newOnly.Open(resealed, aad); err != nil || string(got) != "secret" {
		t.Fatalf("the new key alone does not open the resealed value: %q %v", got, err)
	}
	if same, changed, err := both.Reseal(resealed, aad); err != nil || changed || !bytes.Equal(same, resealed) {
		t.Fatalf("Reseal of a current value: changed %v, %v", changed, err)
	}
	if _, _, err := both.Reseal(byOld, []byte("signing-key:k2")); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("Reseal with the wrong aad: %v", err)
	}
	if _, err := seal.Parse(seal.Encode(oldRaw, oldRaw)); err == nil {
		t.Fatal("a file with one key twice was accepted")
	}
}

func TestParseForms(t *testing.T) {
	_, raw := mustNew(t, 7)
	want, _ := seal.New(raw)
	for _, tt := range []struct {
		name string
		data string
		ok   bool
	}{
		{"raw 32 bytes", string(raw), true},
		{"base64 (openssl rand -base64 32)", base64.StdEncoding.EncodeToString(raw) + "\n", true},
		{"base64 without newline", base64.StdEncoding.EncodeToString(raw), true},
		{"base64url", base64.RawURLEncoding.EncodeToString(raw), true},
		{"hex (openssl rand -hex 32)", hex.EncodeToString(raw) + "\r\n", true},
		{"comments and blank lines", "# mine\n\n" + hex.EncodeToString(raw) + "\n", true},
		{"empty", "", false},
		{"only comments", "# nothing\n", false},
		{"short base64", base64.StdEncoding.EncodeToString(raw[:16]), false},
		{"31 raw bytes", string(raw[:31]), false},
		{"a passphrase", "correct horse battery staple\n", false},
		{"bad hex", strings.Repeat("zz", 32), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := seal.Parse([]byte(tt.data))
			if tt.ok != (err == nil) {
				t.Fatalf("Parse: %v, want ok %v", err, tt.ok)
			}
			if tt.ok && k.ID() != want.ID() {
				t.Fatalf("parsed key %s, want %s", k.ID(), want.ID())
			}
		})
	}
}

func TestKeyNeverPrintsItsBytes(t *testing.T) {
	k, raw := seal.Generate()
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, hex.EncodeToString(raw)) || strings.Contains(s, base64.StdEncoding.EncodeToString(raw)) ||
			!strings.Contains(s, k.ID()) {
			t.Fatalf("a Key prints as %q", s)
		}
	}
}

func TestLoadOrCreateFile(t *testing.T) {
	typicalUmask(t)
	path := filepath.Join(t.TempDir(), "gatehouse.db.key")
	k, created, err := seal.LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateFile: created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("created with mode %04o, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	again, created, err := seal.LoadOrCreateFile(path)
	if err != nil || created || again.ID() != k.ID() {
		t.Fatalf("second LoadOrCreateFile: created %v, key %v (first %v), %v", created, again, k, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the key file was rewritten")
	}
	sealed, _ := k.Seal([]byte("x"), nil)
	if _, err := again.Open(sealed, nil); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("left %d files in the directory, want the key file alone", len(entries))
	}
}

// Processes starting at once on a fresh database agree on one key.
func TestLoadOrCreateFileConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.key")
	ids := make([]string, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			k, _, err := seal.LoadOrCreateFile(path)
			if err == nil {
				ids[i] = k.ID()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("creator %d: key %s (creator 0: %s), %v", i, ids[i], ids[0], errs[i])
		}
	}
}

func TestLoadFileRefusesWideModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix file modes on Windows")
	}
	dir := t.TempDir()
	_, raw := mustNew(t, 3)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		path := filepath.Join(dir, fmt.Sprintf("k%o", mode))
		if err := os.WriteFile(path, seal.Encode(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
		_, err := seal.LoadFile(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want a refusal saying chmod 600", mode, err)
		}
		if _, _, err := seal.LoadOrCreateFile(path); err == nil {
			t.Errorf("mode %04o: LoadOrCreateFile accepted it", mode)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != mode {
			t.Errorf("mode %04o changed to %04o", mode, fi.Mode().Perm())
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := filepath.Join(dir, fmt.Sprintf("ok%o", mode))
		os.WriteFile(path, seal.Encode(raw), mode)
		if _, err := seal.LoadFile(path); err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
		}
	}
	if _, err := seal.LoadFile(dir); err == nil {
		t.Error("a directory was loaded as a key file")
	}
}
