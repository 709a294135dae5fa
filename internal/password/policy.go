package password

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ccojocar/zxcvbn-go/frequency"
)

// Limits of the contract's password policy.
const (
	MinLength = 8    // characters (runes), not bytes
	MaxBytes  = 1024 // checked before any hashing, so huge inputs cost nothing
)

// PolicyError explains why a new password is refused; its text is safe to
// show the user.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return e.Reason }

// commonPasswords is zxcvbn's list of frequent passwords, restricted to those
// long enough to pass the length rule (the rest are refused anyway).
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{})
	for _, p := range frequency.Lists["Passwords"].List {
		if utf8.RuneCountInString(p) >= MinLength {
			set[strings.ToLower(p)] = struct{}{}
		}
	}
	return set
})

// CheckPolicy returns a *PolicyError when password may not be used. identities
// are the account's email and username, which the password may not equal.
// There are no composition rules: any characters, Unicode and spaces included.
func CheckPolicy(password string, identities ...string) error {
	if len(password) > MaxBytes {
		return &PolicyError{"The password must be at most 1024 bytes long."}
	}
	if !utf8.ValidString(password) {
		return &PolicyError{"The password must be valid UTF-8 text."}
	}
	if utf8.RuneCountInString(password) < MinLength {
		return &PolicyError{"The password must be at least 8 characters long."}
	}
	lower := strings.ToLower(password)
	if _, common := commonPasswords()[lower]; common {
		return &PolicyError{"This password is too common; choose another."}
	}
	for _, id := range identities {
		if id != "" && strings.EqualFold(password, id) {
			return &PolicyError{"The password must not be the same as the email or username."}
		}
	}
	return nil
}
