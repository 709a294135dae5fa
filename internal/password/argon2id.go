// Package password hashes and verifies passwords with argon2id on a bounded
// worker pool, and checks new passwords against the contract's policy.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// DefaultParams are OWASP's argon2id minimum: m=19 MiB, t=2, p=1.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// ErrBusy means every hashing worker is taken and the queue is full; the
// caller should answer 503 with Retry-After rather than wait without bound.
var ErrBusy = errors.New("password: hashing pool is busy")

// DefaultMaxWait is how long a hash waits for a worker before ErrBusy. The
// account lockout waits as long for a free slot (ratelimit.LockoutPolicy),
// so a check that queues behind others waits one bounded time, not two.
const DefaultMaxWait = 2 * time.Second

// errMalformed is returned for a stored hash this package cannot parse.
var errMalformed = errors.New("password: malformed hash")

// Hasher hashes and verifies passwords. At most Workers hashes run at once, so
// memory stays under Workers × Params.Memory however many logins arrive.
type Hasher struct {
	params Params
	pool   *pool
	dummy  string // a real hash, verified against when the user is unknown
}

// Options size the worker pool. Zero values take defaults.
type Options struct {
	Params  Params
	Workers int                 // concurrent hashes; default GOMAXPROCS
	Queue   int                 // callers allowed to wait; default 16 × Workers
	MaxWait time.Duration       // longest wait for a worker; default DefaultMaxWait
	OnWait  func(time.Duration) // told how long each hash waited for a worker (metrics)
	OnIdle  func()              // called once the pool has stayed idle for a second after a burst
}

// NewHasher returns a Hasher with its pool started.
func NewHasher(o Options) (*Hasher, error) {
	if o.Params == (Params{}) {
		o.Params = DefaultParams
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Queue <= 0 {
		o.Queue = 16 * o.Workers
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	h := &Hasher{params: o.Params, pool: newPool(o.Workers, o.Queue, o.MaxWait, o.OnWait)}
	h.pool.onIdle = o.OnIdle
	dummy, err := h.hash(rand.Text())
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	var encoded string
	var err error
	if perr := h.pool.do(ctx, func() { encoded, err = h.hash(password) }); perr != nil {
		return "", perr
	}
	return encoded, err
}

// Verify reports whether password matches encoded: an argon2id PHC string,
// or one of the legacy formats of legacy.go. needsRehash is true when the
// hash is legacy or was made with other parameters than the Hasher's.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	ok, needsRehash, _, err = h.VerifyCost(ctx, password, encoded)
	return ok, needsRehash, err
}

// VerifyDummy costs what Verify costs and always fails. Login calls it for
// unknown users so that timing does not reveal whether an account exists.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

func (h *Hasher) hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func (h *Hasher) verify(password, encoded string) (ok, needsRehash bool, err error) {
	if legacy, found := legacyVerifier(encoded); found {
		ok, err := legacy(password)
		return ok, true, err
	}
	p, salt, key, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	needsRehash = p.Memory != h.params.Memory || p.Time != h.params.Time || p.Threads != h.params.Threads
	return ok, needsRehash, nil
}

// parsePHC parses an argon2id PHC string.
func parsePHC(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errMalformed
	}
	// Bound the costs a stored hash may ask for, so a corrupt row cannot make
	// one verification take gigabytes or minutes.
	if p.Memory == 0 || p.Memory > 1<<20 || p.Time == 0 || p.Time > 16 || p.Threads == 0 {
		return p, nil, nil, errMalformed
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errMalformed
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errMalformed
	}
	return p, salt, key, nil
}
