package auth

import (
	"context"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// The one guarded path: every check of a secret (a login's password, the
// current password of a password change or an account deletion, and later
// re-authentication, MFA and recovery codes, reset links, client secrets)
// goes through Service.guarded, which applies, in this order:
//
//  1. the per-address limit, one bucket per client address for every kind
//     of check (IPv6 keyed by /64), so a flood is refused before any hash;
//  2. the per-account lockout, atomically: Begin refuses while locked and
//     otherwise charges the attempt as a failure before the check runs, so
//     a burst gets no more checks than a sequence; a right answer refunds;
//  3. the check itself, supplied by the caller (a password hash, a code);
//  4. on failure: padding, so that every failure costs at least one
//     argon2id at the current parameters whatever the stored hash; an
//     audit event naming the kind of check; and one answer for every kind
//     of failure, invalid_credentials (refusals: too_many_requests).
//
// A new kind of secret plugs in with its own CheckKind and check function.

// CheckKind names what a guarded check verifies, for the audit log.
type CheckKind string

// Kinds of checks.
const (
	CheckLogin           CheckKind = "login"
	CheckPasswordChange  CheckKind = "password change"
	CheckAccountDeletion CheckKind = "account deletion"
	// CheckClientSecret and CheckAuthorizationCode (clients.go) are the
	// OpenID Connect provider's.
)

// secretCheck is one check of a secret.
type secretCheck struct {
	Kind   CheckKind
	Client Client
	// Account is the lockout key: accountKey for a known account,
	// unknownKey for a name no account has.
	Account string
	UserID  string // "" when no account matched
	Secret  string // what was presented: the padding hashes it too
	Check   func(ctx context.Context) (checkOutcome, error)
}

// checkOutcome is what a check function found.
type checkOutcome struct {
	OK bool
	// FullCost says the check already cost one argon2id at the current
	// parameters; a failure that did not is padded with the dummy hash.
	FullCost bool
	Reason   string // why it failed, for the audit log
}

// accountKey is the lockout key of an account, whichever of its email or
// username was typed.
func accountKey(userID string) string { return "user:" + userID }

// unknownKey is the lockout key of an identifier no account has. It is
// folded like the lookup (case-blind, canonical), so "alice" and "ALICE"
// share one lock whether an account exists or not.
func unknownKey(ident string) string { return "name:" + foldEmail(ident) }

// addressAction is the per-address bucket every secret check shares.
const addressAction = "login"

// guarded runs c through the guarded path (see the top of this file). It
// returns nil when the secret is right; a refusal or invalid_credentials
// otherwise; or the check's own error (503 when the hash pool is full: the
// attempt stays charged).
func (s *Service) guarded(ctx context.Context, c secretCheck) error {
	if c.Client != (Client{}) {
		ctx = WithClient(ctx, c.Client)
	} else {
		c.Client, _ = ctx.Value(clientKey{}).(Client)
	}
	if err := s.limitAddress(ctx, c.Client); err != nil {
		return err
	}
	lock, err := s.beginCheck(ctx, c.Account)
	if err != nil {
		return err
	}
	out, err := c.Check(ctx)
	if err != nil {
		return err
	}
	if out.OK {
		if s.lockout != nil {
			if err := s.lockout.Succeed(ctx, c.Account); err != nil {
				s.log.Warn("lockout reset failed", "err", err)
			}
		}
		return nil
	}
	if !out.FullCost {
		if err := s.hasher.VerifyDummy(ctx, c.Secret); err != nil {
			return hashError(err)
		}
	}
	event, detail := EventReauthFailed, string(c.Kind)+": "+out.Reason
	switch c.Kind {
	case CheckLogin:
		event, detail = EventLoginFailed, out.Reason
	case CheckClientSecret, CheckAuthorizationCode:
		event = EventOAuthCheckFailed
	}
	s.audit(ctx, event, c.UserID, detail)
	if lock > 0 {
		s.log.Warn("security: account locked after repeated failures", "check", string(c.Kind), "user", c.UserID, "lock", lock.String())
		s.audit(ctx, EventAccountLocked, c.UserID, "locked for "+lock.String())
	}
	return errInvalidCredentials
}

// limitAddress takes a token from the client address's bucket. Calls
// without an address (the command line) are not limited; a failing limiter
// is logged and ignored (the lockout still applies).
func (s *Service) limitAddress(ctx context.Context, c Client) error {
	if s.limiter == nil || c.IP == "" {
		return nil
	}
	ok, retry, err := s.limiter.Allow(ctx, addressAction+":"+ratelimit.AddressKey(c.IP), s.checkLimit)
	if err != nil {
		s.log.Warn("rate limiter failed", "err", err)
		return nil
	}
	if !ok {
		s.rateLimited(addressAction)
		return &Error{Code: CodeTooManyRequests, Message: "Too many requests from your address; wait before trying again.", RetryAfter: retry}
	}
	return nil
}

// beginCheck charges an attempt to the account's lockout, or refuses it
// while the account is locked. It returns the lock this attempt starts if
// it fails. A failing lockout store is logged and ignored: the per-address
// limit still applies.
func (s *Service) beginCheck(ctx context.Context, key string) (lock time.Duration, err error) {
	if s.lockout == nil {
		return 0, nil
	}
	retry, lock, err := s.lockout.Begin(ctx, key)
	if err != nil {
		s.log.Warn("lockout check failed", "err", err)
		return 0, nil
	}
	if retry > 0 {
		return 0, tooManyAttempts(retry)
	}
	return lock, nil
}

// tooManyAttempts is the one answer for a locked account, known or not.
func tooManyAttempts(d time.Duration) error {
	return &Error{Code: CodeTooManyRequests, Message: "Too many failed attempts; wait before trying again.", RetryAfter: d}
}

// passwordCheck is the check function of a stored password hash. A right
// password of a disabled account is a failure like any other. rehash is set
// when the password is right and its hash should be replaced.
func (s *Service) passwordCheck(pw, hash string, disabled bool, rehash *bool) func(context.Context) (checkOutcome, error) {
	return func(ctx context.Context) (checkOutcome, error) {
		ok, needsRehash, err := s.hasher.Verify(ctx, pw, hash)
		if err != nil {
			return checkOutcome{}, hashError(err)
		}
		// A legacy hash, or argon2id with other parameters, may cost less
		// than one argon2id now: such failures are padded.
		full := !needsRehash
		switch {
		case !ok:
			return checkOutcome{FullCost: full, Reason: "wrong password"}, nil
		case disabled:
			return checkOutcome{FullCost: full, Reason: "disabled account"}, nil
		}
		*rehash = needsRehash
		return checkOutcome{OK: true}, nil
	}
}

// unknownAccountCheck costs what a password check costs and always fails.
func (s *Service) unknownAccountCheck(pw string) func(context.Context) (checkOutcome, error) {
	return func(ctx context.Context) (checkOutcome, error) {
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return checkOutcome{}, hashError(err)
		}
		return checkOutcome{FullCost: true, Reason: "unknown account"}, nil
	}
}
