package password

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// Hashes imported from other systems verify too, and always ask for a
// rehash, so they are replaced by argon2id at the first successful login:
//
//	pbkdf2:sha256:600000$<salt>$<hex>  werkzeug generate_password_hash (pbkdf2)
//	scrypt:32768:8:1$<salt>$<hex>       werkzeug generate_password_hash (scrypt)
//	sha256$<salt>$<hex>                 werkzeug before 2.3 with method="sha256": HMAC(salt, password)
//	$2a$ / $2b$ / $2y$                  bcrypt (Flask-Bcrypt)
//
// Costs are bounded, so a hostile import file cannot make one login take
// minutes or gigabytes.

// Recognized reports whether encoded is a hash format Verify understands.
func Recognized(encoded string) bool {
	_, ok := legacyVerifier(encoded)
	return ok || strings.HasPrefix(encoded, "$argon2id$")
}

// legacyVerifier returns the check for encoded's format, if it has one.
func legacyVerifier(encoded string) (func(password string) (bool, error), bool) {
	switch {
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		return func(pw string) (bool, error) { return verifyBcrypt(pw, encoded) }, true
	case strings.HasPrefix(encoded, "pbkdf2:"):
		return func(pw string) (bool, error) { return verifyWerkzeugPBKDF2(pw, encoded) }, true
	case strings.HasPrefix(encoded, "scrypt:"):
		return func(pw string) (bool, error) { return verifyWerkzeugScrypt(pw, encoded) }, true
	case strings.HasPrefix(encoded, "sha1$"), strings.HasPrefix(encoded, "sha256$"), strings.HasPrefix(encoded, "sha512$"):
		return func(pw string) (bool, error) { return verifyWerkzeugHMAC(pw, encoded) }, true
	}
	return nil, false
}

// verifyBcrypt refuses passwords over bcrypt's 72-byte limit instead of
// comparing their truncation, which would accept any password sharing the
// first 72 bytes.
func verifyBcrypt(pw, encoded string) (bool, error) {
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil || cost > 16 {
		return false, errMalformed
	}
	if len(pw) > 72 {
		return false, nil
	}
	err = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw))
	if err == bcrypt.ErrMismatchedHashAndPassword {
		return false, nil
	}
	return err == nil, err
}

// splitWerkzeug splits "<method>$<salt>$<hex>".
func splitWerkzeug(encoded string) (method, salt string, sum []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 3 || parts[1] == "" {
		return "", "", nil, errMalformed
	}
	if sum, err = hex.DecodeString(parts[2]); err != nil || len(sum) < 16 {
		return "", "", nil, errMalformed
	}
	return parts[0], parts[1], sum, nil
}

func hashByName(name string) (func() hash.Hash, bool) {
	switch name {
	case "sha1":
		return sha1.New, true
	case "sha256":
		return sha256.New, true
	case "sha512":
		return sha512.New, true
	}
	return nil, false
}

func verifyWerkzeugPBKDF2(pw, encoded string) (bool, error) {
	method, salt, sum, err := splitWerkzeug(encoded)
	if err != nil {
		return false, err
	}
	args := strings.Split(method, ":") // pbkdf2:<hash>:<iterations>
	if len(args) != 3 {
		return false, errMalformed
	}
	h, ok := hashByName(args[1])
	iterations, err := strconv.Atoi(args[2])
	if !ok || err != nil || iterations < 1 || iterations > 10_000_000 {
		return false, errMalformed
	}
	got, err := pbkdf2.Key(h, pw, []byte(salt), iterations, len(sum))
	if err != nil {
		return false, errMalformed
	}
	return subtle.ConstantTimeCompare(got, sum) == 1, nil
}

func verifyWerkzeugScrypt(pw, encoded string) (bool, error) {
	method, salt, sum, err := splitWerkzeug(encoded)
	if err != nil {
		return false, err
	}
	args := strings.Split(method, ":") // scrypt:<N>:<r>:<p>
	if len(args) != 4 {
		return false, errMalformed
	}
	n, err1 := strconv.Atoi(args[1])
	r, err2 := strconv.Atoi(args[2])
	p, err3 := strconv.Atoi(args[3])
	if err1 != nil || err2 != nil || err3 != nil || n < 2 || n > 1<<20 || r < 1 || r > 32 || p < 1 || p > 16 || 128*n*r > 256<<20 {
		return false, errMalformed
	}
	got, err := scrypt.Key([]byte(pw), []byte(salt), n, r, p, len(sum))
	if err != nil {
		return false, errMalformed
	}
	return subtle.ConstantTimeCompare(got, sum) == 1, nil
}

func verifyWerkzeugHMAC(pw, encoded string) (bool, error) {
	method, salt, sum, err := splitWerkzeug(encoded)
	if err != nil {
		return false, err
	}
	h, ok := hashByName(method)
	if !ok {
		return false, errMalformed
	}
	mac := hmac.New(h, []byte(salt))
	mac.Write([]byte(pw))
	return hmac.Equal(mac.Sum(nil), sum), nil
}
