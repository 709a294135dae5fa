// Package seal keeps secrets at rest unreadable without the master key: it
// seals them with AES-256-GCM under a 32-byte master key that lives in a
// file of its own, outside the database, so a copy of the database (a dump,
// a backup, a stolen disk image of the database volume) holds no usable
// private key or TOTP secret.
//
// A sealed value is
//
//	version (1 byte, 1) || key id (4 bytes) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// and its GCM additional data is the version, the key id and the caller's
// aad. The aad binds a secret to its row and purpose ("signing-key:"+id,
// "totp:"+userID): a sealed value copied to another row, or used for
// another purpose, does not open. The key id names the master key that
// sealed the value, so a Key may hold several master keys: the first seals,
// every one opens, which is how a master key is rotated (see LoadFile).
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// KeySize is the size of a master key: 32 random bytes (AES-256).
const KeySize = 32

// version is the format of sealed values this package writes.
const version byte = 1

const (
	idSize    = 4
	nonceSize = 12
	header    = 1 + idSize
	// Overhead is how many bytes sealing adds to a plaintext.
	Overhead = header + nonceSize + 16
)

// ErrOpen is wrapped by every error of Open: the value was sealed under a
// master key this Key does not hold, for another aad, or was changed.
var ErrOpen = errors.New("sealed value cannot be opened")

// Key is one or more master keys: the first seals, all of them open. It
// never prints its key material (String, GoString and LogValue show only the
// key ids).
type Key struct {
	keys []master // keys[0] seals
}

type master struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// New makes a Key of one master key, raw, which must be exactly 32 bytes.
func New(raw []byte) (*Key, error) {
	m, err := newMaster(raw)
	if err != nil {
		return nil, err
	}
	return &Key{keys: []master{m}}, nil
}

// newKey makes a Key of several master keys, the first of which seals.
func newKey(raws [][]byte) (*Key, error) {
	if len(raws) == 0 {
		return nil, errors.New("no master key")
	}
	k := &Key{}
	for i, raw := range raws {
		m, err := newMaster(raw)
		if err != nil {
			return nil, fmt.Errorf("master key %d: %w", i+1, err)
		}
		for _, other := range k.keys {
			if other.id == m.id {
				return nil, fmt.Errorf("master key %d: the same key twice", i+1)
			}
		}
		k.keys = append(k.keys, m)
	}
	return k, nil
}

func newMaster(raw []byte) (master, error) {
	if len(raw) != KeySize {
		return master{}, fmt.Errorf("a master key is %d bytes, not %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return master{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return master{}, err
	}
	m := master{aead: aead}
	// The id is a hash of the key under a label of its own: it names the key
	// without saying anything about it.
	sum := sha256.Sum256(append([]byte("gatehouse seal key id\x00"), raw...))
	copy(m.id[:], sum[:])
	return m, nil
}

// Generate makes a Key from 32 new random bytes and returns them too, for
// the caller to keep (LoadOrCreateFile writes them to a file).
func Generate() (*Key, []byte) {
	raw := make([]byte, KeySize)
	rand.Read(raw) // never fails (crypto/rand, Go 1.24+)
	k, err := New(raw)
	if err != nil {
		panic(err) // unreachable: raw is 32 bytes
	}
	return k, raw
}

// ID is the hex id of the master key that seals (the first).
func (k *Key) ID() string { return hex.EncodeToString(k.keys[0].id[:]) }

// IDs are the hex ids of every master key, the sealing one first.
func (k *Key) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, m := range k.keys {
		ids[i] = hex.EncodeToString(m.id[:])
	}
	return ids
}

func (k *Key) String() string       { return "seal.Key(" + strings.Join(k.IDs(), ",") + ")" }
func (k *Key) GoString() string     { return k.String() }
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Seal encrypts plaintext under the first master key, bound to aad.
func (k *Key) Seal(plaintext, aad []byte) ([]byte, error) {
	m := k.keys[0]
	out := make([]byte, header+nonceSize, Overhead+len(plaintext))
	out[0] = version
	copy(out[1:header], m.id[:])
	rand.Read(out[header:]) // a random 96-bit nonce per value
	return m.aead.Seal(out, out[header:], plaintext, additional(out[:header], aad)), nil
}

// Open decrypts a value sealed by Seal under any of k's master keys with
// the same aad. Every failure wraps ErrOpen.
func (k *Key) Open(sealed, aad []byte) ([]byte, error) {
	m, err := k.master(sealed)
	if err != nil {
		return nil, err
	}
	nonce := sealed[header : header+nonceSize]
	plain, err := m.aead.Open(nil, nonce, sealed[header+nonceSize:], additional(sealed[:header], aad))
	if err != nil {
		return nil, fmt.Errorf("%w: it was changed, or sealed for another record", ErrOpen)
	}
	return plain, nil
}

// Current reports whether sealed was sealed under the master key that seals
// now (the first): a value sealed under an older one should be opened and
// sealed again (see Reseal).
func (k *Key) Current(sealed []byte) bool {
	m, err := k.master(sealed)
	return err == nil && m.id == k.keys[0].id
}

// Reseal opens a value sealed under any of k's master keys and, unless it
// is sealed under the first already, seals it again under the first. It
// reports whether it changed anything.
func (k *Key) Reseal(sealed, aad []byte) ([]byte, bool, error) {
	plain, err := k.Open(sealed, aad)
	if err != nil {
		return nil, false, err
	}
	if k.Current(sealed) {
		return sealed, false, nil
	}
	out, err := k.Seal(plain, aad)
	return out, err == nil, err
}

// master finds the master key that sealed value.
func (k *Key) master(sealed []byte) (master, error) {
	if len(sealed) < Overhead {
		return master{}, fmt.Errorf("%w: %d bytes is too short for a sealed value", ErrOpen, len(sealed))
	}
	if sealed[0] != version {
		return master{}, fmt.Errorf("%w: unknown format version %d", ErrOpen, sealed[0])
	}
	for _, m := range k.keys {
		if bytes.Equal(m.id[:], sealed[1:header]) {
			return m, nil
		}
	}
	return master{}, fmt.Errorf("%w: it is sealed under master key %s, and the key file holds %s",
		ErrOpen, hex.EncodeToString(sealed[1:header]), strings.Join(k.IDs(), ", "))
}

// additional is the GCM additional data: the header, then the caller's aad.
func additional(head, aad []byte) []byte {
	return append(append(make([]byte, 0, len(head)+len(aad)), head...), aad...)
}

// Encode writes raw master keys in the key file's text form: one standard
// base64 line each, under a comment.
func Encode(raws ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString("# Gatehouse master key: it seals the signing keys and TOTP secrets in the database.\n")
	b.WriteString("# Back it up apart from the database; without it they cannot be opened.\n")
	for _, raw := range raws {
		b.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	}
	return b.Bytes()
}

// Parse reads a key file's contents: either exactly 32 raw bytes, or text
// with one master key a line, each 32 bytes in standard base64 (44
// characters, as "openssl rand -base64 32" writes) or hex (64 characters);
// blank lines and lines starting with # are ignored. The first key seals,
// every key opens.
func Parse(data []byte) (*Key, error) {
	if len(data) == KeySize && !isText(data) {
		return New(data)
	}
	var raws [][]byte
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		raw, err := decodeLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		raws = append(raws, raw)
	}
	if len(raws) == 0 {
		return nil, errors.New("no master key in the file (want 32 random bytes, base64 or hex, one key a line)")
	}
	return newKey(raws)
}

func decodeLine(line string) ([]byte, error) {
	var raw []byte
	var err error
	switch len(line) {
	case 64:
		raw, err = hex.DecodeString(line)
	case 44:
		raw, err = base64.StdEncoding.DecodeString(line)
	case 43:
		raw, err = base64.RawURLEncoding.DecodeString(line)
	default:
		return nil, fmt.Errorf("a master key line is 32 bytes in base64 (44 characters) or hex (64), not %d characters", len(line))
	}
	if err != nil || len(raw) != KeySize {
		return nil, errors.New("not 32 bytes in base64 or hex")
	}
	return raw, nil
}

// isText reports whether data is printable ASCII and newlines only.
func isText(data []byte) bool {
	for _, c := range data {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}
