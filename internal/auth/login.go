package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// LoginInput is a login attempt.
type LoginInput struct {
	Identifier string // email or username
	Password   string
	Client     Client
}

// Login checks credentials and starts a session. Unknown user, wrong password
// and disabled account all cost one hash and give the same error; a locked
// account (or unknown name) is refused before any hashing, the same way.
func (s *Service) Login(ctx context.Context, in LoginInput) (*Tokens, error) {
	ident := CanonicalIdentifier(in.Identifier)
	if ident == "" || in.Password == "" || len(in.Password) > password.MaxBytes || len(ident) > 254 {
		return nil, errInvalidCredentials
	}
	user, hash, err := s.store.UserCredentials(ctx, ident)
	known := err == nil
	if err != nil && ErrorCode(err) != CodeNotFound {
		return nil, fmt.Errorf("login: %w", err)
	}
	// Failures count per account, whichever of its email or username was
	// typed; unknown names count under the name itself.
	lockKey := "name:" + ident
	if known {
		lockKey = "user:" + user.ID
	}
	if err := s.checkLock(ctx, lockKey); err != nil {
		return nil, err
	}
	ok := false
	if known {
		var rehash bool
		if ok, rehash, err = s.hasher.Verify(ctx, in.Password, hash); err != nil {
			return nil, hashError(err)
		}
		if ok && rehash {
			s.upgradeHash(ctx, user.ID, in.Password)
		}
	} else if err := s.hasher.VerifyDummy(ctx, in.Password); err != nil {
		return nil, hashError(err)
	}
	if !ok || user.Disabled {
		reason := "unknown account"
		switch {
		case known && !ok:
			reason = "wrong password"
		case known:
			reason = "disabled account"
		}
		s.audit(ctx, EventLoginFailed, user.ID, reason)
		s.recordFailure(ctx, lockKey, user.ID)
		return nil, errInvalidCredentials
	}
	if s.lockout != nil {
		_ = s.lockout.Succeed(ctx, lockKey)
	}
	tokens, err := s.startSession(ctx, user, in.Client)
	if err == nil {
		s.audit(ctx, EventLoginSucceeded, user.ID, "session "+tokens.SessionID)
	}
	return tokens, err
}

// checkLock refuses a login while its account is locked. A failing lockout
// store is logged and ignored: the limits per address still apply.
func (s *Service) checkLock(ctx context.Context, key string) error {
	if s.lockout == nil {
		return nil
	}
	d, err := s.lockout.Locked(ctx, key)
	if err != nil {
		s.log.Warn("lockout check failed", "err", err)
		return nil
	}
	if d > 0 {
		return tooManyAttempts(d)
	}
	return nil
}

func (s *Service) recordFailure(ctx context.Context, key, userID string) {
	if s.lockout == nil {
		return
	}
	d, err := s.lockout.Fail(ctx, key)
	if err != nil {
		s.log.Warn("lockout record failed", "err", err)
	} else if d > 0 {
		s.log.Warn("security: login locked after repeated failures", "user", userID, "lock", d.String())
		s.audit(ctx, EventAccountLocked, userID, "locked for "+d.String())
	}
}

// tooManyAttempts is the one answer for a locked account, known or not.
func tooManyAttempts(d time.Duration) error {
	return &Error{Code: CodeTooManyRequests, Message: "Too many failed attempts; wait before trying again.", RetryAfter: d}
}

// upgradeHash replaces a hash made with older parameters. A failure is
// logged, not fatal: the old hash still verifies.
func (s *Service) upgradeHash(ctx context.Context, userID, pw string) {
	hash, err := s.hasher.Hash(ctx, pw)
	if err == nil {
		err = s.store.SetPasswordHash(ctx, userID, hash)
	}
	if err != nil {
		s.log.Warn("password rehash failed", "user", userID, "err", err)
	}
}

// checkPassword verifies a signed-in user's password (for changing it or
// deleting the account). A wrong one is invalid_credentials.
func (s *Service) checkPassword(ctx context.Context, userID, pw string) (User, error) {
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
	ok, _, err := s.hasher.Verify(ctx, pw, hash)
	if err != nil {
		return User{}, hashError(err)
	}
	if !ok {
		return User{}, errInvalidCredentials
	}
	return u, nil
}
