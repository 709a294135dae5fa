package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// LoginInput is a login attempt.
type LoginInput struct {
	Identifier string // email or username
	Password   string
	Client     Client
	// OrgID, when not empty, is the organization the session acts in
	// (API.md "Organizations and roles"): the user must be a member
	// (not_found otherwise, and no session starts). A login that needs a
	// second step starts in none: the client chooses at refresh.
	OrgID string
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
	if in.OrgID != "" && !user.MFA.Enabled() {
		if err := s.checkMember(ctx, in.OrgID, user.ID); err != nil {
			return nil, err
		}
	}
	if user.MFA.Enabled() { // no session yet: the second step (factors.go) starts it
		if rehash { // the plain password is at hand only now; the challenge holds the new hash
			if upgraded, ok := s.checks.upgradeHash(ctx, user.ID, hash, in.Password); ok {
				hash = upgraded
			}
		}
		return nil, s.beginMFA(ctx, user, hash, in.Client, []string{AMRPassword}, "")
	}
	tokens, err := s.startSession(ctx, user, hash, in.Client, []string{AMRPassword}, in.OrgID, "")
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

// beginMFA starts the second step of a login whose first step proved amr
// (through the upstream provider idp, if any) while u's password hash was
// hash.
func (s *issuer) beginMFA(ctx context.Context, u User, hash string, c Client, amr []string, idp string) error {
	raw := newSecretToken()
	now := s.now()
	ch := MFAChallenge{Hash: hashToken(raw), UserID: u.ID, AMR: amr, PasswordFingerprint: hashToken(hash),
		Client: Client{UserAgent: truncate(c.UserAgent, 512), IP: c.IP}, CreatedAt: now, ExpiresAt: now.Add(MFATokenTTL), IDP: idp}
	if err := s.store.CreateMFAChallenge(ctx, ch); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	s.audit(ctx, EventMFAChallenge, u.ID, strings.Join(amr, " ")+" verified; second factor required")
	return &MFARequired{Token: raw, Methods: mfaMethods(u),
		err: Errorf(CodeMFARequired, "The password is right; a second factor is needed to finish signing in.")}
}

// LoginMFA finishes a login with a second factor. The mfa_token works once,
// for MFATokenTTL, and for MaxMFAFailures codes; every code goes through the
// guarded path (the account's lockout, the address's limit). Every failure,
// whatever its kind (unknown, used or expired token, wrong or replayed
// code), is the one invalid_code answer.
func (s *Sessions) LoginMFA(ctx context.Context, in MFALoginInput) (*Tokens, error) {
	if in.Client != (Client{}) {
		ctx = WithClient(ctx, in.Client)
	}
	if err := oneCode(in.Code, in.RecoveryCode); err != nil {
		return nil, err
	}
	if in.Token == "" || len(in.Token) > 256 {
		return nil, Errorf(CodeInvalidRequest, "An mfa_token is required.")
	}
	hash, now := hashToken(in.Token), s.now()
	ch, err := s.store.MFAChallenge(ctx, hash)
	if err != nil && ErrorCode(err) != CodeNotFound {
		return nil, fmt.Errorf("login: %w", err)
	}
	secret := in.Code + in.RecoveryCode
	if err != nil || !ch.UsedAt.IsZero() || !now.Before(ch.ExpiresAt) || ch.Failures >= MaxMFAFailures {
		// A dead token: its own lockout key, so replaying one cannot lock the
		// account; the per-address limit and the padding still apply.
		return nil, s.checks.guarded(ctx, secretCheck{Kind: CheckMFAToken, Account: "mfa:" + hash, UserID: ch.UserID, Secret: secret,
			FailEvent: EventLoginFailed, Refusal: errInvalidCode, Check: func(context.Context) (checkOutcome, error) {
				return checkOutcome{Reason: "unknown, used or expired mfa_token"}, nil
			}})
	}
	u, err := s.store.User(ctx, ch.UserID)
	if err != nil {
		return nil, err
	}
	kind, method := CheckTOTP, MethodTOTP
	if in.RecoveryCode != "" {
		kind, method = CheckRecoveryCode, MethodRecoveryCode
	}
	err = s.checks.guarded(ctx, secretCheck{Kind: kind, Account: accountKey(u.ID), UserID: u.ID, Secret: secret, FailEvent: EventLoginFailed,
		Refusal: errInvalidCode, Check: func(ctx context.Context) (checkOutcome, error) {
			if out, err := s.chargeSecondStep(ctx, u, hash, now); out.Reason != "" || err != nil {
				return out, err
			}
			if in.RecoveryCode != "" {
				return s.factors.useRecoveryCode(ctx, u, in.RecoveryCode, hash, now)
			}
			return s.factors.useTOTP(ctx, u.ID, in.Code, hash, now)
		}})
	if err != nil {
		return nil, err
	}
	return s.finishMFALogin(ctx, u, ch, addAMR(ch.AMR, AMROTP), method)
}

// finishMFALogin starts the session of a challenge whose second factor was
// accepted (and the challenge marked used), if the password is still the
// one its first step verified.
func (s *issuer) finishMFALogin(ctx context.Context, u User, ch MFAChallenge, amr []string, method string) (*Tokens, error) {
	hash, err := s.store.PasswordHash(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if hashToken(hash) != ch.PasswordFingerprint {
		s.audit(ctx, EventLoginFailed, u.ID, "password changed during the login")
		return nil, errInvalidCode
	}
	tokens, err := s.startSession(ctx, u, hash, ch.Client, amr, "", ch.IDP)
	if errors.Is(err, ErrCredentialsChanged) {
		s.audit(ctx, EventLoginFailed, u.ID, "account changed during the login")
		return nil, errInvalidCode
	}
	if err != nil {
		return nil, err
	}
	s.audit(ctx, EventLoginSucceeded, u.ID, "session "+tokens.SessionID+"; second factor "+method)
	return tokens, nil
}

// chargeSecondStep counts one attempt of a login's second step against its
// challenge (hash): a challenge used up or expired, or an account disabled
// since the password, fails the check with that reason, whatever the
// factor presented.
func (s *issuer) chargeSecondStep(ctx context.Context, u User, hash string, now time.Time) (checkOutcome, error) {
	if _, err := s.store.ChargeMFAChallenge(ctx, hash, now, MaxMFAFailures); ErrorCode(err) == CodeNotFound {
		return checkOutcome{Reason: "mfa_token used up or expired"}, nil
	} else if err != nil {
		return checkOutcome{}, err
	}
	if u.Disabled {
		return checkOutcome{Reason: "disabled account"}, nil
	}
	return checkOutcome{}, nil
}
