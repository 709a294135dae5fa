package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// GuardedCheck is a check of a secret made outside this package (a client
// secret, an authorization code), run through the one guarded path.
type GuardedCheck struct {
	Kind    CheckKind
	Client  Client
	Account string // the lockout key
	UserID  string // "" when not known
	Secret  string // what was presented: failures are padded by hashing it
	// Check compares the secret (in constant time) and says why it failed.
	Check func(ctx context.Context) (ok bool, reason string, err error)
	// Bucket and BucketLimit: the per-address bucket of a known client
	// (secretCheck.Bucket); Authenticated: the caller is a confidential
	// client that has just proved itself, so no per-address limit applies
	// (its backend speaks for all its users; an authorization code is 256
	// random bits).
	Bucket        string
	BucketLimit   ratelimit.Limit
	Authenticated bool
	// Machine: the secret is a machine's, 256 random bits or a signature,
	// checked at the cost of one SHA-256 or one signature whatever the
	// outcome. No guessing reaches it, so it takes no lockout slot (Account
	// is ignored) and no padding, and only failures take from the address's
	// bucket: a service asking thousands of tokens a second is not slowed,
	// a caller guessing is cut off (too_many_requests) after the bucket's
	// worth of failures, each audited.
	Machine bool
}

// Checks is the guarded path every check of a secret takes (with
// floor.go): the per-address limit, the account's lockout, the check, and
// on failure the floor's padding, an audit event and one answer.
type Checks struct {
	*core
	store       checksStore
	hasher      Hasher
	lockout     Lockout
	limiter     Limiter
	checkLimit  ratelimit.Limit
	rateLimited func(action string)
	floor       *checkFloor // every failed check ends no sooner (floor.go)
}

// The one guarded path: every check of a secret (a login's password, the
// current password of a password change or an account deletion, and later
// re-authentication, MFA and recovery codes, reset links, client secrets)
// goes through Checks.guarded, which applies, in this order:
//
//  1. the per-address limit, one bucket per client address for every kind
//     of check (IPv6 keyed by /64), so a flood is refused before any hash;
//  2. the per-account lockout (internal/ratelimit.Lockout): Begin refuses
//     at once while the account is locked, else takes one of its slots for
//     checks in flight, waiting for one (as long as the hash pool queues)
//     while all are taken, so a burst gets no more checks than a sequence
//     and a right answer is not refused for the checks beside it (unless
//     they hold every slot for the whole wait: 429);
//  3. the check itself, supplied by the caller (a password hash, a code),
//     whose outcome settles the slot: only a failure counts towards the
//     lock, a right answer ends the streak;
//  4. on failure: an audit event naming the kind of check; padding, so
//     that every failure ends no sooner than the check floor (floor.go: the
//     slowest check this instance expects, whatever the stored hash, by
//     sleeping, not hashing); and one answer for every kind of failure,
//     invalid_credentials (refusals: too_many_requests).
//
// A machine's secret (GuardedCheck.Machine: a client secret of 256 random
// bits, a signed client assertion) skips step 2 and the padding of step 4,
// and takes from the address's bucket only when it fails: no guessing
// reaches it, and a service asking for thousands of tokens a second must
// not queue behind a lockout.
//
// A new kind of secret plugs in with its own CheckKind and check function.

// CheckKind names what a guarded check verifies, for the audit log.
type CheckKind string

// Kinds of checks.
const (
	CheckLogin           CheckKind = "login"
	CheckPasswordChange  CheckKind = "password change"
	CheckAccountDeletion CheckKind = "account deletion"
	CheckReauth          CheckKind = "reauthentication"  // POST /me/reauthenticate with a password
	CheckTOTP            CheckKind = "totp code"         // a login's second step, or a re-authentication
	CheckRecoveryCode    CheckKind = "recovery code"     // likewise
	CheckTOTPConfirm     CheckKind = "totp confirmation" // the first code of a new authenticator
	CheckMFAToken        CheckKind = "mfa token"         // a login's second step with a dead mfa_token
	CheckEmailChange     CheckKind = "email change"
	// A passkey assertion (passkeys.go): a passwordless login, bound to no
	// account before the credential is looked up (no lockout: a signature
	// is not guessed), or a login's second step (the account's lockout).
	CheckPasskey CheckKind = "passkey assertion"
	// One-time links (recovery.go): bound to no account before the lookup,
	// so they skip the lockout (256 random bits no guessing reaches) and
	// answer invalid_code; the per-address limit applies as to every check.
	CheckVerifyLink  CheckKind = "email verification link"
	CheckResetLink   CheckKind = "password reset link"
	CheckConfirmLink CheckKind = "email change link"
	// CheckClientSecret and CheckAuthorizationCode (clients.go) are the
	// OpenID Connect provider's.
)

// secretCheck is one check of a secret.
type secretCheck struct {
	Kind   CheckKind
	Client Client
	// Account is the lockout key: accountKey for a known account,
	// unknownKey for a name no account has; "" for a check bound to no
	// account (a one-time link), which the lockout does not count.
	Account string
	UserID  string // "" when no account matched
	Secret  string // what was presented: the padding hashes it too
	Check   func(ctx context.Context) (checkOutcome, error)
	// Bucket, when set, is the per-address bucket the check takes from
	// instead of the one every password and code shares (a known OpenID
	// Connect client's own, with its own Limit); NoAddressLimit skips it
	// (a check made for a caller that has already proved who it is).
	Bucket         string
	BucketLimit    ratelimit.Limit
	NoAddressLimit bool
	// KeepStreak: a right answer frees its slot without ending the
	// account's streak of failures. A password that only opens the second
	// step does not count, but only that step's success ends the streak,
	// so wrong codes between right passwords still add up to a lock.
	KeepStreak bool
	// Unpadded says every outcome of Check costs the same (a lookup by a
	// hash), so failures need no padding to the check floor.
	Unpadded bool
	// FailuresOnly: only a failure takes from the address's bucket, after
	// the check; an empty bucket turns it into too_many_requests, not
	// audited (the bucket bounds what one address writes to the log).
	FailuresOnly bool
	// Refusal is the one answer for every failure; nil: invalid_credentials.
	Refusal error
	// FailEvent is the audit event of a failure; "": login_failed for a
	// login, reauthentication_failed otherwise.
	FailEvent string
}

// checkOutcome is what a check function found.
type checkOutcome struct {
	OK bool
	// Cost is what the check's hash cost (hashing only, not waiting for a
	// worker), 0 for a check without one: it raises the check floor.
	Cost time.Duration
	// Scheme is the hash's scheme (password.Scheme), "" for none: a check
	// of a scheme as costly as the dummy measures the machine's speed.
	Scheme string
	Reason string // why it failed, for the audit log
	UserID string // the account the check found, when secretCheck had none
}

// accountKey is the lockout key of an account, whichever of its email or
// username was typed.
func accountKey(userID string) string { return "user:" + userID }

// unknownKey is the lockout key of an identifier no account has. It is
// folded exactly like the lookup, so "alice" and "ALICE" share one lock
// whether an account exists or not: an email canonically (foldEmail), a
// username by ASCII case only (usernames are ASCII), and a name no username
// can be (fullwidth, Kelvin sign, ...) not at all, since it never matches
// an account either.
func unknownKey(ident string) string {
	switch {
	case strings.Contains(ident, "@"):
		return "name:" + foldEmail(ident)
	case usernamePattern.MatchString(ident):
		return "name:" + strings.ToLower(ident)
	}
	return "name:" + ident
}

// addressAction is the per-address bucket every secret check shares.
const addressAction = "login"

// guarded runs c through the guarded path (see the top of this file). It
// returns nil when the secret is right; a refusal or invalid_credentials
// otherwise; or the check's own error (503 when the hash pool is full),
// which counts as a failure: nothing proved the secret right.
func (s *Checks) guarded(ctx context.Context, c secretCheck) error {
	if c.Client != (Client{}) {
		ctx = WithClient(ctx, c.Client)
	} else {
		c.Client, _ = ctx.Value(clientKey{}).(Client)
	}
	bucket, limit := addressAction, s.checkLimit
	if c.Bucket != "" {
		bucket, limit = c.Bucket, c.BucketLimit
	}
	if !c.NoAddressLimit && !c.FailuresOnly {
		if err := s.limitAddress(ctx, c.Client, bucket, limit); err != nil {
			return err
		}
	}
	// A machine's secret charges its bucket only when it fails, but an
	// empty bucket refuses before the check: otherwise guesses would go on
	// being checked, a 429 meaning "wrong" and the right one passing.
	if !c.NoAddressLimit && c.FailuresOnly {
		if err := s.addressExhausted(ctx, c.Client, bucket, limit); err != nil {
			return err
		}
	}
	slot, err := s.beginCheck(ctx, c.Account)
	if err != nil {
		return err
	}
	start := s.floor.now()
	out, lock, err := s.check(ctx, c, slot)
	if err != nil {
		return err
	}
	s.floor.observe(out.Scheme, out.Cost)
	if out.OK {
		return nil
	}
	if !c.NoAddressLimit && c.FailuresOnly {
		if err := s.limitAddress(ctx, c.Client, bucket, limit); err != nil {
			return err
		}
	}
	event, detail := EventReauthFailed, string(c.Kind)+": "+out.Reason
	switch c.Kind {
	case CheckLogin:
		event, detail = EventLoginFailed, out.Reason
	case CheckClientSecret, CheckAuthorizationCode, CheckClientAssertion:
		event = EventOAuthCheckFailed
	}
	if c.FailEvent != "" {
		event = c.FailEvent
	}
	if c.UserID == "" {
		c.UserID = out.UserID
	}
	s.audit(ctx, event, c.UserID, detail)
	if lock > 0 {
		s.log.Warn("security: account locked after repeated failures", "check", string(c.Kind), "user", c.UserID, "lock", lock.String())
		s.audit(ctx, EventAccountLocked, c.UserID, "locked for "+lock.String())
	}
	if !c.Unpadded {
		s.floor.pad(ctx, start, out.Scheme, out.Cost)
	}
	if c.Refusal != nil {
		return c.Refusal
	}
	return errInvalidCredentials
}

// limitAddress takes a token from the client address's bucket. Calls
// without an address (the command line) are not limited; a failing limiter
// is logged and ignored (the lockout still applies).
func (s *Checks) limitAddress(ctx context.Context, c Client, bucket string, limit ratelimit.Limit) error {
	if s.limiter == nil || c.IP == "" {
		return nil
	}
	ok, retry, err := s.limiter.Allow(ctx, bucket+":"+ratelimit.AddressKey(c.IP), limit)
	if err != nil {
		s.log.Warn("rate limiter failed", "err", err)
		return nil
	}
	if !ok {
		s.rateLimited(bucket)
		return &Error{Code: CodeTooManyRequests, Message: "Too many requests from your address; wait before trying again.", RetryAfter: retry}
	}
	return nil
}

// addressExhausted refuses, without taking a token, when the address's
// bucket is empty (limiters that cannot tell are never refused here).
func (s *Checks) addressExhausted(ctx context.Context, c Client, bucket string, limit ratelimit.Limit) error {
	e, ok := s.limiter.(ratelimit.EmptyChecker)
	if !ok || c.IP == "" {
		return nil
	}
	empty, retry, err := e.Empty(ctx, bucket+":"+ratelimit.AddressKey(c.IP), limit)
	if err != nil || !empty {
		return nil
	}
	s.rateLimited(bucket)
	return &Error{Code: CodeTooManyRequests, Message: "Too many requests from your address; wait before trying again.", RetryAfter: max(retry, time.Second)}
}

// beginCheck takes a slot of the account's lockout for a check (nil: no
// lockout applies), or refuses it while the account is locked, or when its
// checks in flight kept every slot for the whole wait. A failing lockout
// store is logged and ignored: the per-address limit still applies.
func (s *Checks) beginCheck(ctx context.Context, key string) (*ratelimit.Slot, error) {
	if s.lockout == nil || key == "" {
		return nil, nil
	}
	slot, err := s.lockout.Begin(ctx, key)
	if refused, ok := errors.AsType[*ratelimit.Refused](err); ok {
		if refused.Locked {
			return nil, tooManyAttempts(refused.RetryAfter)
		}
		return nil, &Error{Code: CodeTooManyRequests, Message: "Too many attempts at this account at once; try again.", RetryAfter: refused.RetryAfter}
	}
	if err != nil {
		if ctx.Err() != nil { // the caller left while waiting: no check for it
			return nil, ctx.Err()
		}
		s.log.Warn("lockout check failed", "err", err)
		return nil, nil
	}
	return &slot, nil
}

// check runs c's check in slot and settles the slot, whatever happens (a
// panic too): a right answer ends the account's streak (or, KeepStreak,
// only frees the slot); anything else counts as a failure. It returns the
// lock a failure starts.
func (s *Checks) check(ctx context.Context, c secretCheck, slot *ratelimit.Slot) (out checkOutcome, lock time.Duration, err error) {
	if slot != nil {
		defer func() {
			outcome := ratelimit.Failed // also after a panic: out is zero
			if err == nil && out.OK {
				outcome = ratelimit.Succeeded
				if c.KeepStreak {
					outcome = ratelimit.Released
				}
			}
			// Settled even when the caller has left: a failure always counts.
			var serr error
			if lock, serr = s.lockout.Settle(context.WithoutCancel(ctx), *slot, outcome); serr != nil {
				s.log.Warn("lockout settle failed", "err", serr)
			}
		}()
	}
	out, err = c.Check(ctx)
	return out, lock, err
}

// tooManyAttempts is the one answer for a locked account, known or not.
func tooManyAttempts(d time.Duration) error {
	return &Error{Code: CodeTooManyRequests, Message: "Too many failed attempts; wait before trying again.", RetryAfter: d}
}

// passwordCheck is the check function of a stored password hash. A right
// password of a disabled account is a failure like any other. rehash is set
// when the password is right and its hash should be replaced.
func (s *Checks) passwordCheck(pw, hash string, disabled bool, rehash *bool) func(context.Context) (checkOutcome, error) {
	return func(ctx context.Context) (checkOutcome, error) {
		if hash == "" { // an account without a password (made through an upstream provider)
			cost, err := s.verifyDummy(ctx, pw)
			if err != nil {
				return checkOutcome{}, hashError(err)
			}
			return checkOutcome{Cost: cost, Reason: "the account has no password"}, nil
		}
		ok, needsRehash, cost, err := s.verify(ctx, pw, hash)
		if err != nil {
			return checkOutcome{}, hashError(err)
		}
		scheme := password.Scheme(hash)
		switch {
		case !ok:
			return checkOutcome{Cost: cost, Scheme: scheme, Reason: "wrong password"}, nil
		case disabled:
			return checkOutcome{Cost: cost, Scheme: scheme, Reason: "disabled account"}, nil
		}
		*rehash = needsRehash
		return checkOutcome{OK: true, Cost: cost, Scheme: scheme}, nil
	}
}

// unknownAccountCheck hashes like an argon2id account's check (the same
// worker pool, the same CPU) and always fails; the floor pads the rest.
func (s *Checks) unknownAccountCheck(pw string) func(context.Context) (checkOutcome, error) {
	return func(ctx context.Context) (checkOutcome, error) {
		cost, err := s.verifyDummy(ctx, pw)
		if err != nil {
			return checkOutcome{}, hashError(err)
		}
		scheme := ""
		if h, is := s.hasher.(costHasher); is {
			scheme = h.Scheme()
		}
		return checkOutcome{Cost: cost, Scheme: scheme, Reason: "unknown account"}, nil
	}
}

// Guarded runs c through the guarded path: the per-address
// limit, the lockout of c.Account, the check, and on failure padding, an
// audit event and invalid_credentials.
func (s *Checks) Guarded(ctx context.Context, c GuardedCheck) error {
	if c.Machine {
		c.Account = ""
	}
	return s.guarded(ctx, secretCheck{Kind: c.Kind, Client: c.Client, Account: c.Account, UserID: c.UserID, Secret: c.Secret,
		Bucket: c.Bucket, BucketLimit: c.BucketLimit, NoAddressLimit: c.Authenticated,
		Unpadded: c.Machine, FailuresOnly: c.Machine,
		Check: func(ctx context.Context) (checkOutcome, error) {
			ok, reason, err := c.Check(ctx)
			return checkOutcome{OK: ok, Reason: reason}, err
		}})
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
// path (changing the password or the email, re-authenticating, deleting
// the account). A wrong one is invalid_credentials. An old hash is not
// upgraded here: a login does that.
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
	var rehash bool // left to the next login
	err = s.guarded(ctx, secretCheck{Kind: kind, Client: c, Account: accountKey(u.ID), UserID: u.ID, Secret: pw,
		Check: s.passwordCheck(pw, hash, u.Disabled, &rehash)})
	return u, err
}

// confirmPassword is checkPassword for an account that has a password. An
// account without one (made through an upstream provider) has nothing more
// to confirm with than the recent sign-in its caller has required already
// (requireRecentAuth: through the provider, a passkey or a code), so pw is
// not asked of it.
func (s *Checks) confirmPassword(ctx context.Context, kind CheckKind, userID, pw string, c Client) (User, error) {
	hash, err := s.store.PasswordHash(ctx, userID)
	if err != nil {
		return User{}, err
	}
	if hash == "" {
		return s.store.User(ctx, userID)
	}
	return s.checkPassword(ctx, kind, userID, pw, c)
}

// allow takes a token from a recovery bucket; a failing limiter is logged
// and ignored.
func (s *Checks) allow(ctx context.Context, key string, l ratelimit.Limit) (bool, time.Duration) {
	if s.limiter == nil {
		return true, 0
	}
	ok, retry, err := s.limiter.Allow(ctx, key, l)
	if err != nil {
		s.log.Warn("rate limiter failed", "err", err)
		return true, 0
	}
	if !ok {
		s.rateLimited(strings.SplitN(key, ":", 2)[0])
	}
	return ok, retry
}
