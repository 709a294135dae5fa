package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// Recovery codes: RecoveryCodeCount codes of 16 base32 characters (80
// random bits), shown as four groups of four ("k7qp-2mza-x4rd-9..."), each
// good for one sign-in when the authenticator is lost.
//
// They are stored as SHA-256 hashes, not with a password hash: a password
// needs a slow, salted hash because people choose guessable ones, but these
// codes are random and 80 bits long, so even with a copy of the database
// finding one from its hash means trying 2^79 candidates on average, which
// no amount of SHA-256 speed brings within reach; online guessing is
// stopped by the guarded path's limits long before. A fast hash also lets
// the store find the code by its hash in one indexed, atomic UPDATE.
const (
	RecoveryCodeCount = 10
	recoveryCodeLen   = 16
)

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes makes a fresh set of codes, as shown to the user.
func NewRecoveryCodes() []string {
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		b := make([]byte, recoveryCodeLen*5/8)
		_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
		s := strings.ToLower(recoveryEncoding.EncodeToString(b))
		codes[i] = s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
	}
	return codes
}

// NormalizeRecoveryCode is a code as typed, in the form that is hashed:
// lower case without spaces or dashes; "" when it cannot be a code.
func NormalizeRecoveryCode(code string) string {
	if len(code) > 64 {
		return ""
	}
	code = strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
	if len(code) != recoveryCodeLen {
		return ""
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return ""
		}
	}
	return code
}

// HashRecoveryCode is the stored form of a code: hex SHA-256 of its
// normalised spelling, so "K7QP 2MZA..." and "k7qp-2mza-..." are one code.
// A code that cannot be one hashes to "".
func HashRecoveryCode(code string) string {
	n := NormalizeRecoveryCode(code)
	if n == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("gatehouse recovery code\x00" + n))
	return hex.EncodeToString(sum[:])
}
