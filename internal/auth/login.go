package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// LoginInput is a login attempt.
type LoginInput struct {
	Identifier string // email or username
	Password   string
	Client     Client
}

// Login checks credentials through the guarded path and starts a session;
// for a user with a second factor it answers *MFARequired instead, whose
// mfa_token LoginMFA takes with a code.
// Unknown user, wrong password and disabled account all hash, end no
// sooner than the check floor (floor.go), and give the same error; a locked account (or unknown name) is
// refused before any hashing, the same way. A login whose user changed
// while its password was checked (password, role, disabled) starts no
// session.
func (s *Sessions) Login(ctx context.Context, in LoginInput) (*Tokens, error) {
	if in.Client != (Client{}) {
		ctx = WithClient(ctx, in.Client) // for the audit log
	}
	ident := CanonicalIdentifier(in.Identifier)
	if ident == "" || in.Password == "" || len(in.Password) > password.MaxBytes || len(ident) > 254 {
		return nil, errInvalidCredentials
	}
	var user User
	var hash string
	err := error(Errorf(CodeNotFound, "The user was not found."))
	if strings.Contains(ident, "@") || usernamePattern.MatchString(ident) { // no other name is an account's
		user, hash, err = s.store.UserCredentials(ctx, ident)
	}
	known := err == nil
	if err != nil && ErrorCode(err) != CodeNotFound {
		return nil, fmt.Errorf("login: %w", err)
	}
	var rehash bool
	check := secretCheck{Kind: CheckLogin, Client: in.Client, Account: unknownKey(ident), Secret: in.Password,
		Check: s.checks.unknownAccountCheck(in.Password)}
	if known {
		check.Account, check.UserID = accountKey(user.ID), user.ID
		check.Check = s.checks.passwordCheck(in.Password, hash, user.Disabled, &rehash)
		check.KeepStreak = user.MFA.Enabled() // the second step (LoginMFA) ends it
	}
	if err := s.checks.guarded(ctx, check); err != nil {
		return nil, err
	}
	if user.MFA.Enabled() { // no session yet: the second step (factors.go) starts it
		if rehash { // the plain password is at hand only now; the challenge holds the new hash
			if upgraded, ok := s.checks.upgradeHash(ctx, user.ID, hash, in.Password); ok {
				hash = upgraded
			}
		}
		return nil, s.beginMFA(ctx, user, hash, in.Client)
	}
	tokens, err := s.startSession(ctx, user, hash, in.Client, []string{AMRPassword})
	if errors.Is(err, ErrCredentialsChanged) {
		s.audit(ctx, EventLoginFailed, user.ID, "account changed during the login")
		return nil, errInvalidCredentials
	}
	if err != nil {
		return nil, err
	}
	if rehash {
		s.checks.upgradeHash(ctx, user.ID, hash, in.Password)
	}
	s.audit(ctx, EventLoginSucceeded, user.ID, "session "+tokens.SessionID)
	return tokens, nil
}

// upgradeHash replaces a hash made with older parameters, only if it is
// still the one the login verified: a password changed meanwhile is never
// overwritten. A failure is logged, not fatal: the old hash still verifies.
// It returns the new hash when it was stored.
func (s *Checks) upgradeHash(ctx context.Context, userID, old, pw string) (string, bool) {
	hash, err := s.hasher.Hash(ctx, pw)
	swapped := false
	if err == nil {
		swapped, err = s.store.SetPasswordHash(ctx, userID, old, hash)
	}
	if err != nil {
		s.log.Warn("password rehash failed", "user", userID, "err", err)
	} else if !swapped {
		s.log.Info("password rehash skipped: the password changed meanwhile", "user", userID)
	}
	return hash, err == nil && swapped
}

// checkPassword verifies a signed-in user's password through the guarded
// path (for changing it or deleting the account). A wrong one is
// invalid_credentials.
func (s *Checks) checkPassword(ctx context.Context, kind CheckKind, userID, pw string, c Client) (User, error) {
	if pw == "" || len(pw) > password.MaxBytes {
		return User{}, errInvalidCredentials
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return User{}, err
	}
	hash, err := s.store.PasswordHash(ctx, userID)
	if err != nil {
		return User{}, err
	}
	var rehash bool // the password is about to change, or the account to go
	err = s.guarded(ctx, secretCheck{Kind: kind, Client: c, Account: accountKey(u.ID), UserID: u.ID, Secret: pw,
		Check: s.passwordCheck(pw, hash, u.Disabled, &rehash)})
	return u, err
}
