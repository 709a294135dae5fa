// Package mfa holds Gatehouse's second factors as plain functions: TOTP
// (RFC 6238) secrets, their otpauth:// URIs and QR codes, code matching
// that reports the time step it matched, and recovery codes. It keeps no
// state: which step a user last used, and which recovery codes are spent,
// live in the database (internal/auth decides, internal/store records).
package mfa

import (
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// The TOTP parameters every authenticator app understands (RFC 6238's
// defaults, Google Authenticator's only ones): 30-second steps, 6 digits,
// HMAC-SHA-1, 160-bit secrets.
const (
	Period     = 30 * time.Second
	Digits     = 6
	SecretSize = 20
	// Skew is how many steps before and after the current one a code may
	// come from: one step of clock drift either way.
	Skew = 1
	// Issuer names Gatehouse in authenticator apps.
	Issuer = "Gatehouse"
)

// TOTPKey is a new TOTP secret and how an authenticator app takes it in.
type TOTPKey struct {
	Secret string // base32, no padding: what the user may type in
	URI    string // otpauth://totp/Gatehouse:ann@example.com?secret=...&issuer=Gatehouse&...
}

// NewTOTP makes a random secret for account (the user's email or username).
func NewTOTP(account string) (TOTPKey, error) {
	if strings.TrimSpace(account) == "" {
		return TOTPKey{}, errors.New("totp: an account name is required")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: Issuer, AccountName: account, Period: uint(Period / time.Second),
		SecretSize: SecretSize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPKey{}, fmt.Errorf("totp: %w", err)
	}
	return TOTPKey{Secret: key.Secret(), URI: key.URL()}, nil
}

// KeyFor is the TOTPKey of an existing secret (to show a pending
// enrolment again).
func KeyFor(account, secret string) (TOTPKey, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secret))
	if err != nil {
		return TOTPKey{}, fmt.Errorf("totp: the secret is not base32: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: Issuer, AccountName: account, Period: uint(Period / time.Second),
		Secret: raw, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPKey{}, fmt.Errorf("totp: %w", err)
	}
	return TOTPKey{Secret: key.Secret(), URI: key.URL()}, nil
}

// Step is the number of the time step t falls in: Unix time / 30 s.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// CodeAt is the code of secret for time step step.
func CodeAt(secret string, step int64) (string, error) {
	if step < 0 {
		return "", errors.New("totp: negative step")
	}
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// Match finds the time step, within Skew steps of now, whose code is code,
// and only among steps after after (the last step the user used): a code
// of a step already used, or older, never matches. ok is false when none
// does. Codes are compared in constant time; a malformed code (not six
// digits, spaces allowed) matches nothing.
func Match(secret, code string, now time.Time, after int64) (step int64, ok bool) {
	code = NormalizeCode(code)
	if len(code) != Digits {
		return 0, false
	}
	current := Step(now)
	for s := current - Skew; s <= current+Skew; s++ {
		if s <= after || s < 0 {
			continue
		}
		want, err := CodeAt(secret, s)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// NormalizeCode drops the spaces and dashes people type or paste into a
// six-digit code ("123 456"); anything but digits then makes it malformed.
func NormalizeCode(code string) string {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if len(code) > 16 {
		return ""
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return ""
		}
	}
	return code
}
