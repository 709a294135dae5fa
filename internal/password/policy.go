package password

import (
	"strings"
	"sync"
	"unicode"
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

// commonPasswords is zxcvbn's list of frequent passwords (from leaked
// password sets), lower-cased.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	list := frequency.Lists["Passwords"].List
	set := make(map[string]struct{}, len(list))
	for _, p := range list {
		set[strings.ToLower(p)] = struct{}{}
	}
	return set
})

// isCommon reports whether a lower-cased password is on the list, or is a
// listed word of four or more letters followed only by digits and symbols
// ("password123", "qwerty2024!"), the commonest way people lengthen one.
func isCommon(lower string) bool {
	set := commonPasswords()
	if _, ok := set[lower]; ok {
		return true
	}
	base := strings.TrimRightFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	if utf8.RuneCountInString(base) < 4 || base == lower {
		return false
	}
	_, ok := set[base]
	return ok
}

// CheckPolicy returns a *PolicyError when password may not be used. identities
// are the account's email and username, which the password may not equal.
// There are no composition rules: any characters, Unicode and spaces included.
// A common password, or one with only digits or symbols appended, is refused.
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
	if isCommon(strings.ToLower(password)) {
		return &PolicyError{"This password is too common; choose another."}
	}
	for _, id := range identities {
		if id != "" && strings.EqualFold(password, id) {
			return &PolicyError{"The password must not be the same as the email or username."}
		}
	}
	return nil
}
