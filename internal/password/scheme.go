package password

import (
	"context"
	"strings"
	"time"
)

// Scheme is the part of a stored hash that decides what verifying it costs,
// without its salt or key: "pbkdf2:sha256:600000", "scrypt:32768:8:1" or
// "sha256" for werkzeug (the method before the first "$"), "$2b$12" for
// bcrypt (variant and cost), "$argon2id$v=19$m=19456,t=2,p=1" for argon2id
// (version and parameters). Every hash of one scheme starts with the scheme
// followed by "$". A hash of no format Verify understands has the scheme "".
func Scheme(encoded string) string {
	if !Recognized(encoded) {
		return ""
	}
	parts := strings.Split(encoded, "$")
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		if len(parts) < 4 {
			return ""
		}
		return strings.Join(parts[:4], "$")
	case strings.HasPrefix(encoded, "$2"): // bcrypt: $2b$12$<salt+key>
		if len(parts) < 3 {
			return ""
		}
		return strings.Join(parts[:3], "$")
	}
	return parts[0] // werkzeug: <method>$<salt>$<hex>
}

// Scheme is the scheme of the hashes h makes now (see Scheme).
func (h *Hasher) Scheme() string { return Scheme(h.dummy) }

// VerifyCost is Verify, also telling what the verification itself cost:
// the time spent hashing, not the wait for a worker.
func (h *Hasher) VerifyCost(ctx context.Context, password, encoded string) (ok, needsRehash bool, cost time.Duration, err error) {
	perr := h.pool.do(ctx, func() {
		start := time.Now()
		ok, needsRehash, err = h.verify(password, encoded)
		cost = time.Since(start)
	})
	if perr != nil {
		return false, false, 0, perr
	}
	return ok, needsRehash, cost, err
}

// VerifyDummyCost is VerifyDummy, also telling what it cost (as VerifyCost).
func (h *Hasher) VerifyDummyCost(ctx context.Context, password string) (time.Duration, error) {
	_, _, cost, err := h.VerifyCost(ctx, password, h.dummy)
	return cost, err
}
