package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

// Second factors: TOTP authenticators and recovery codes, the second step
// of a login (an mfa_token, then a code), re-authentication for sensitive
// actions, and the administrator's reset. Every code is checked through the
// guarded path (guarded.go), so it shares the per-address limit and the
// account lockout with passwords.
//
// A passkey plugs in the same way: User.MFA.Passkeys makes Login answer
// mfa_required, mfaMethods offers "passkey", and its ceremony finishes the
// challenge (Store.ChargeMFAChallenge, then a store write that marks the
// challenge used in the transaction that accepts the assertion) and calls
// finishMFALogin with AMR "hwk" (and "user" when verified).

// MFAStatus is what second factors a user has (the user object's "mfa").
type MFAStatus struct {
	TOTP     bool // a confirmed authenticator app
	Passkeys int  // registered passkeys
}

// Enabled reports whether logins of the user need a second step.
func (m MFAStatus) Enabled() bool { return m.TOTP || m.Passkeys > 0 }

// Authentication methods (RFC 8176) that tokens carry in "amr".
const (
	AMRPassword = "pwd"
	AMROTP      = "otp" // a TOTP code or a recovery code
	AMRHardware = "hwk" // a passkey
	AMRUser     = "user"
	AMRMFA      = "mfa" // two kinds of factor were proved
)

// Second-step methods a login's mfa_required answer offers.
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
)

// MFATokenTTL is how long an mfa_token lives; MaxMFAFailures how many wrong
// codes end it.
const (
	MFATokenTTL    = 5 * time.Minute
	MaxMFAFailures = 5
)

// DefaultReauthMaxAge is Config.ReauthMaxAge's default.
const DefaultReauthMaxAge = 10 * time.Minute

// PendingTOTPTTL is how long a TOTP enrolment waits for its first code.
const PendingTOTPTTL = 15 * time.Minute

// Sealer seals secrets at rest with the master key (internal/seal.Key):
// AES-GCM, aad binding each secret to what it belongs to.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Mailer renders the mails the Service sends (internal/mail.Templates).
type Mailer interface {
	Render(kind mail.Kind, to string, d mail.Data) (mail.Message, error)
}

// TOTPFactor is a user's authenticator as stored.
type TOTPFactor struct {
	UserID      string
	Sealed      []byte // the base32 secret, sealed with aad "totp:<user id>"
	SessionID   string // the session that started the enrolment ("" before sessions owned them)
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while the enrolment waits for its first code
	LastStep    int64     // the newest time step accepted; -1 for none
}

// MFAChallenge is the second step of a login, as stored: only the hash of
// its mfa_token.
type MFAChallenge struct {
	Hash   string
	UserID string
	AMR    []string // what the first step proved
	// PasswordFingerprint is the SHA-256 of the password hash the first
	// step verified: a password changed in between ends the challenge.
	PasswordFingerprint string
	Client              Client
	CreatedAt           time.Time
	ExpiresAt           time.Time
	Failures            int
	UsedAt              time.Time
}

// RecoveryUse spends a recovery code: in one transaction the code is marked
// used, the challenge of ChallengeHash (when set) is marked used, and the
// notice Mail renders (given the codes left) is enqueued.
type RecoveryUse struct {
	UserID, Hash  string
	ChallengeHash string
	Now           time.Time
	Mail          func(remaining int) ([]outbox.Message, error)
}

var (
	errInvalidCode = Errorf(CodeInvalidCode, "The code is not valid, or this sign-in has expired; if it keeps failing, start again.")
	errReauth      = Errorf(CodeReauthenticationRequired, "This action needs a recent sign-in: re-authenticate with POST /me/reauthenticate, then try again.")
	errNoSealer    = Errorf(CodeUnavailable, "Authenticator apps are not available: the server has no master key.")
	errSelfReset   = Errorf(CodeForbidden, "Administrators cannot reset their own second factors here; remove them from your security settings.")
	errVerifyFirst = Errorf(CodeEmailNotVerified, "Verify your email address before setting up a second factor: use the link mailed to it.")
)

// mayEnrol refuses a second factor to an account whose address is not
// verified: until the owner of the mailbox has proved it, whoever signed up
// with the address must not be able to shut its owner out with a factor of
// theirs. An account without an address may enrol.
func mayEnrol(u User) error {
	if u.Email != "" && !u.EmailVerified {
		return errVerifyFirst
	}
	return nil
}

// MFARequired is Login's answer when the password was right and a second
// factor is needed: no session yet, only Token (the mfa_token) for POST
// /login/mfa. Its code is mfa_required.
type MFARequired struct {
	Token   string
	Methods []string
	err     *Error
}

func (e *MFARequired) Error() string { return e.err.Error() }
func (e *MFARequired) Unwrap() error { return e.err }

// mfaMethods are the second-step methods u has.
func mfaMethods(u User) []string {
	var m []string
	if u.MFA.TOTP {
		m = append(m, MethodTOTP, MethodRecoveryCode)
	}
	if u.MFA.Passkeys > 0 {
		m = append(m, MethodPasskey)
	}
	return m
}

// beginMFA starts the second step of a login whose password verified hash.
func (s *Sessions) beginMFA(ctx context.Context, u User, hash string, c Client) error {
	raw := newSecretToken()
	now := s.now()
	ch := MFAChallenge{Hash: hashToken(raw), UserID: u.ID, AMR: []string{AMRPassword}, PasswordFingerprint: hashToken(hash),
		Client: Client{UserAgent: truncate(c.UserAgent, 512), IP: c.IP}, CreatedAt: now, ExpiresAt: now.Add(MFATokenTTL)}
	if err := s.store.CreateMFAChallenge(ctx, ch); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	s.audit(ctx, EventMFAChallenge, u.ID, "password verified; second factor required")
	return &MFARequired{Token: raw, Methods: mfaMethods(u),
		err: Errorf(CodeMFARequired, "The password is right; a second factor is needed to finish signing in.")}
}

// MFALoginInput is the second step of a login: the mfa_token and either a
// TOTP code or a recovery code.
type MFALoginInput struct {
	Token        string
	Code         string
	RecoveryCode string
	Client       Client
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
func (s *Sessions) finishMFALogin(ctx context.Context, u User, ch MFAChallenge, amr []string, method string) (*Tokens, error) {
	hash, err := s.store.PasswordHash(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if hashToken(hash) != ch.PasswordFingerprint {
		s.audit(ctx, EventLoginFailed, u.ID, "password changed during the login")
		return nil, errInvalidCode
	}
	tokens, err := s.startSession(ctx, u, hash, ch.Client, amr)
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

// oneCode refuses a request with neither or both of a code and a recovery code.
func oneCode(code, recovery string) error {
	if (code == "") == (recovery == "") {
		return Errorf(CodeInvalidRequest, "Send either a code or a recovery_code.")
	}
	return nil
}

// useTOTP is the check of a TOTP code: the step it matches must be newer
// than the last one accepted, and accepting it is a compare-and-set in the
// database (with challengeHash: marking that challenge used too), so a code
// works once even when submitted in parallel or to several instances.
func (s *Factors) useTOTP(ctx context.Context, userID, code, challengeHash string, now time.Time) (checkOutcome, error) {
	f, err := s.store.TOTP(ctx, userID)
	if ErrorCode(err) == CodeNotFound || (err == nil && f.ConfirmedAt.IsZero()) {
		return checkOutcome{Reason: "no authenticator"}, nil
	} else if err != nil {
		return checkOutcome{}, err
	}
	secret, err := s.openTOTP(userID, f.Sealed)
	if err != nil {
		return checkOutcome{}, err
	}
	step, ok := mfa.Match(secret, code, now, f.LastStep)
	if !ok {
		return checkOutcome{Reason: "wrong, replayed or old code"}, nil
	}
	if ok, err = s.store.UseTOTPStep(ctx, userID, step, challengeHash, now); err != nil {
		return checkOutcome{}, err
	} else if !ok {
		return checkOutcome{Reason: "code already used"}, nil
	}
	return checkOutcome{OK: true}, nil
}

// useRecoveryCode is the check of a recovery code: spending it, auditing
// it and mailing the user are one transaction's work (with the challenge).
func (s *Factors) useRecoveryCode(ctx context.Context, u User, code, challengeHash string, now time.Time) (checkOutcome, error) {
	h := mfa.HashRecoveryCode(code)
	if h == "" {
		return checkOutcome{Reason: "malformed recovery code"}, nil
	}
	remaining, ok, err := s.store.UseRecoveryCode(ctx, RecoveryUse{UserID: u.ID, Hash: h, ChallengeHash: challengeHash, Now: now,
		Mail: func(remaining int) ([]outbox.Message, error) {
			return s.notice(u, mail.RecoveryCodeUsed, mail.Data{Name: mailName(u, u.Email), Remaining: remaining})
		}})
	if err != nil {
		return checkOutcome{}, err
	}
	if !ok {
		return checkOutcome{Reason: "wrong or used recovery code"}, nil
	}
	s.audit(ctx, EventRecoveryCodeUsed, u.ID, fmt.Sprintf("%d recovery codes left", remaining))
	s.mailQueued()
	return checkOutcome{OK: true}, nil
}

// notice renders a mail to u, or none when u has no email or the Service
// sends no mail.
func (s *core) notice(u User, kind mail.Kind, d mail.Data) ([]outbox.Message, error) {
	if u.Email == "" || s.mailer == nil {
		return nil, nil
	}
	m, err := s.mailer.Render(kind, u.Email, d)
	if err != nil {
		return nil, err
	}
	return []outbox.Message{m}, nil
}

func (s *core) mailQueued() {
	if s.onMail != nil {
		s.onMail()
	}
}

func totpAAD(userID string) []byte { return []byte("totp:" + userID) }

func (s *Factors) openTOTP(userID string, sealed []byte) (string, error) {
	if s.sealer == nil {
		return "", errNoSealer
	}
	plain, err := s.sealer.Open(sealed, totpAAD(userID))
	if err != nil {
		return "", fmt.Errorf("open totp secret: %w", err)
	}
	return string(plain), nil
}

// addAMR adds method to amr, and "mfa" once a knowledge factor (pwd) and a
// possession factor (otp, hwk) are both in it. The order is stable.
func addAMR(amr []string, method string) []string {
	set := map[string]bool{method: true}
	for _, m := range amr {
		set[m] = true
	}
	if set[AMRPassword] && (set[AMROTP] || set[AMRHardware]) {
		set[AMRMFA] = true
	}
	var out []string
	for _, m := range []string{AMRPassword, AMROTP, AMRHardware, AMRUser, AMRMFA} {
		if set[m] {
			out = append(out, m)
			delete(set, m)
		}
	}
	for m := range set { // a method this list does not know yet
		out = append(out, m)
	}
	slices.Sort(out[len(out)-len(set):])
	return out
}

// requireRecentAuth refuses, with reauthentication_required, an action of a
// session whose user last proved who they are more than --reauth-max-age
// ago. Enrolling or removing a factor, new recovery codes, account deletion
// and email change call it first.
func (s *core) requireRecentAuth(ctx context.Context, sessionID string) error {
	sess, err := s.store.LiveSession(ctx, sessionID)
	if ErrorCode(err) == CodeNotFound {
		return errReauth
	} else if err != nil {
		return err
	}
	if sess.AuthTime.IsZero() || s.now().Sub(sess.AuthTime) > s.cfg.ReauthMaxAge {
		return errReauth
	}
	return nil
}

// TOTPEnrolment is a new authenticator to scan or type in.
type TOTPEnrolment struct {
	Secret string
	URI    string
	QRSVG  string
}

// EnrolTOTP starts setting up an authenticator app (a recent login and a
// verified address, if any, are needed): a new secret, stored sealed and
// unconfirmed, owned by the session sessionID, until ConfirmTOTP gets a
// code from it from that session. Starting again replaces a pending
// enrolment; a confirmed authenticator must be removed first
// (already_exists).
func (s *Factors) EnrolTOTP(ctx context.Context, userID, sessionID string) (TOTPEnrolment, error) {
	if s.sealer == nil {
		return TOTPEnrolment{}, errNoSealer
	}
	if err := s.requireRecentAuth(ctx, sessionID); err != nil {
		return TOTPEnrolment{}, err
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if err := mayEnrol(u); err != nil {
		return TOTPEnrolment{}, err
	}
	if u.MFA.TOTP {
		return TOTPEnrolment{}, errTOTPExists
	}
	key, err := mfa.NewTOTP(accountName(u))
	if err != nil {
		return TOTPEnrolment{}, err
	}
	en, err := enrolment(key)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	sealed, err := s.sealer.Seal([]byte(key.Secret), totpAAD(u.ID))
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("seal totp secret: %w", err)
	}
	if err := s.store.PutPendingTOTP(ctx, u.ID, sessionID, sealed, s.now()); err != nil {
		return TOTPEnrolment{}, err
	}
	s.audit(ctx, EventTOTPEnrolStarted, u.ID, "")
	return en, nil
}

func enrolment(key mfa.TOTPKey) (TOTPEnrolment, error) {
	svg, err := mfa.QRSVG(key.URI)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{Secret: key.Secret, URI: key.URI, QRSVG: svg}, nil
}

// accountName is how authenticator apps label the account.
func accountName(u User) string {
	if u.Email != "" {
		return u.Email
	}
	return u.Username
}

// PendingTOTP returns the enrolment waiting for its first code, to show it
// again (the security page after a wrong code or a reload); ok is false
// when none waits for the session sessionID (see pendingTOTP), or when its
// sign-in is no longer recent: a secret is shown only to the session that
// asked for it, while it could still confirm it.
func (s *Factors) PendingTOTP(ctx context.Context, userID, sessionID string) (en TOTPEnrolment, ok bool, err error) {
	if err := s.requireRecentAuth(ctx, sessionID); ErrorCode(err) == CodeReauthenticationRequired {
		return TOTPEnrolment{}, false, nil
	} else if err != nil {
		return TOTPEnrolment{}, false, err
	}
	f, ok, err := s.pendingTOTP(ctx, userID, sessionID)
	if !ok || err != nil {
		return TOTPEnrolment{}, false, err
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return TOTPEnrolment{}, false, err
	}
	secret, err := s.openTOTP(userID, f.Sealed)
	if err != nil {
		return TOTPEnrolment{}, false, err
	}
	key, err := mfa.KeyFor(accountName(u), secret)
	if err != nil {
		return TOTPEnrolment{}, false, err
	}
	en, err = enrolment(key)
	return en, err == nil, err
}

// pendingTOTP returns the user's enrolment that waits for a code from the
// session sessionID: started by that session less than PendingTOTPTTL ago
// and not confirmed. ok is false for any other.
func (s *Factors) pendingTOTP(ctx context.Context, userID, sessionID string) (f TOTPFactor, ok bool, err error) {
	f, err = s.store.TOTP(ctx, userID)
	if ErrorCode(err) == CodeNotFound {
		return TOTPFactor{}, false, nil
	} else if err != nil {
		return TOTPFactor{}, false, err
	}
	ok = f.ConfirmedAt.IsZero() && f.SessionID != "" && f.SessionID == sessionID &&
		s.now().Before(f.CreatedAt.Add(PendingTOTPTTL))
	return f, ok, nil
}

var errTOTPExists = Errorf(CodeAlreadyExists, "An authenticator app is already set up; remove it first to set up another.")

// ConfirmTOTP completes an enrolment with a code from the new authenticator
// (through the guarded path) and returns the first set of recovery codes,
// which are shown this once and stored hashed. Only the session that
// started the enrolment confirms it, within PendingTOTPTTL, and, like
// starting it, with a recent login: another session, or an old one, must
// not complete it and take the recovery codes.
func (s *Factors) ConfirmTOTP(ctx context.Context, userID, sessionID, code string, c Client) ([]string, error) {
	if err := s.requireRecentAuth(ctx, sessionID); err != nil {
		return nil, err
	}
	f, ok, err := s.pendingTOTP(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, Errorf(CodeInvalidRequest, "No authenticator set up from this session is waiting for a code (an enrolment waits 15 minutes); start with POST /me/mfa/totp.")
	}
	codes := mfa.NewRecoveryCodes()
	hashes := hashCodes(codes)
	err = s.checks.guarded(ctx, secretCheck{Kind: CheckTOTPConfirm, Client: c, Account: accountKey(userID), UserID: userID, Secret: code,
		Refusal: errInvalidCode, Check: func(ctx context.Context) (checkOutcome, error) {
			secret, err := s.openTOTP(userID, f.Sealed)
			if err != nil {
				return checkOutcome{}, err
			}
			now := s.now()
			step, ok := mfa.Match(secret, code, now, f.LastStep)
			if !ok {
				return checkOutcome{Reason: "wrong code"}, nil
			}
			if ok, err := s.store.ConfirmTOTP(ctx, f, step, hashes, now); err != nil {
				return checkOutcome{}, err
			} else if !ok {
				return checkOutcome{Reason: "enrolment changed meanwhile, or code already used"}, nil
			}
			return checkOutcome{OK: true}, nil
		}})
	if err != nil {
		return nil, err
	}
	s.changedUser(ctx, userID)
	s.audit(ctx, EventTOTPEnabled, userID, fmt.Sprintf("%d recovery codes made", len(codes)))
	return codes, nil
}

func hashCodes(codes []string) []string {
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = mfa.HashRecoveryCode(c)
	}
	return hashes
}

// RemoveTOTP removes the authenticator and the recovery codes (a recent
// login is needed).
func (s *Factors) RemoveTOTP(ctx context.Context, userID, sessionID string) error {
	if err := s.requireRecentAuth(ctx, sessionID); err != nil {
		return err
	}
	removed, err := s.store.DeleteTOTP(ctx, userID, s.now())
	if err != nil {
		return err
	}
	if !removed {
		return Errorf(CodeNotFound, "No authenticator app is set up.")
	}
	s.changedUser(ctx, userID)
	s.audit(ctx, EventTOTPRemoved, userID, "recovery codes voided")
	return nil
}

// NewRecoveryCodes replaces the user's recovery codes (a recent login and a
// second factor are needed): the old set stops working at once.
func (s *Factors) NewRecoveryCodes(ctx context.Context, userID, sessionID string) ([]string, error) {
	if err := s.requireRecentAuth(ctx, sessionID); err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !u.MFA.Enabled() {
		return nil, Errorf(CodeInvalidRequest, "Recovery codes go with a second factor: set up an authenticator app first.")
	}
	codes := mfa.NewRecoveryCodes()
	if err := s.store.ReplaceRecoveryCodes(ctx, userID, hashCodes(codes), s.now()); err != nil {
		return nil, err
	}
	s.audit(ctx, EventRecoveryCodesNew, userID, fmt.Sprintf("%d recovery codes made; the old ones are void", len(codes)))
	return codes, nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Factors) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	return s.store.RecoveryCodesLeft(ctx, userID)
}

// ReauthInput is a signed-in user proving again who they are, with one of
// a password, a TOTP code or a recovery code.
type ReauthInput struct {
	UserID, SessionID string // the caller's, from its access token
	Password          string
	Code              string
	RecoveryCode      string
	Client            Client
}

// Reauthenticate checks one secret through the guarded path (the same
// limits as a login) and renews the session's auth_time; the method joins
// the session's amr (a password session re-authenticated with a code has
// proved two factors: mfa). The session goes on with new tokens.
func (s *Sessions) Reauthenticate(ctx context.Context, in ReauthInput) (*Tokens, error) {
	given := 0
	for _, v := range []string{in.Password, in.Code, in.RecoveryCode} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return nil, Errorf(CodeInvalidRequest, "Send one of password, code or recovery_code.")
	}
	if in.Client != (Client{}) {
		ctx = WithClient(ctx, in.Client)
	}
	sess, err := s.store.Session(ctx, in.SessionID, in.UserID)
	if err != nil {
		return nil, err
	}
	var u User
	method := AMRPassword
	if in.Password != "" {
		if u, err = s.checks.checkPassword(ctx, CheckReauth, in.UserID, in.Password, in.Client); err != nil {
			return nil, err
		}
	} else {
		if u, err = s.store.User(ctx, in.UserID); err != nil {
			return nil, err
		}
		method = AMROTP
		if err := s.factors.checkSecondFactor(ctx, u, in.Code, in.RecoveryCode, errInvalidCode); err != nil {
			return nil, err
		}
	}
	now := s.now()
	sess.AMR, sess.AuthTime = addAMR(sess.AMR, method), now
	raw, rt := s.newRefreshToken(sess, now)
	if err := s.store.Reauthenticate(ctx, sess.ID, sess.AMR, now, rt); err != nil {
		return nil, fmt.Errorf("reauthenticate: %w", err)
	}
	s.audit(ctx, EventReauthenticated, u.ID, "session "+sess.ID+" with "+method)
	return s.tokens(u, sess, raw, rt, now)
}

// checkSecondFactor checks a user's TOTP code, or recovery code, through
// the guarded path (the account's lockout, the per-address limit, audit);
// refusal is the one answer to a wrong one. A right code is spent.
func (s *Factors) checkSecondFactor(ctx context.Context, u User, code, recovery string, refusal error) error {
	kind := CheckTOTP
	if recovery != "" {
		kind = CheckRecoveryCode
	}
	return s.checks.guarded(ctx, secretCheck{Kind: kind, Account: accountKey(u.ID), UserID: u.ID, Secret: code + recovery,
		Refusal: refusal, Check: func(ctx context.Context) (checkOutcome, error) {
			if recovery != "" {
				return s.useRecoveryCode(ctx, u, recovery, "", s.now())
			}
			return s.useTOTP(ctx, u.ID, code, "", s.now())
		}})
}

// ResetMFA is actorID (an administrator, or "cli") removing every second
// factor of user id: its authenticator, recovery codes and pending login
// challenges go, every session ends, and the user is mailed, in one
// transaction. Administrators cannot reset their own.
func (s *Factors) ResetMFA(ctx context.Context, actorID, id string) error {
	if err := checkNotSelf(actorID, id, errSelfReset); err != nil {
		return err
	}
	ctx = WithActor(ctx, actorID)
	u, err := s.store.User(ctx, id)
	if err != nil {
		return err
	}
	msgs, err := s.notice(u, mail.MFAReset, mail.Data{Name: mailName(u, u.Email)})
	if err != nil {
		return err
	}
	now := s.now()
	removed, ended, err := s.store.RemoveFactors(ctx, id, now, s.liveUntil(now), msgs)
	if err != nil {
		return fmt.Errorf("reset mfa: %w", err)
	}
	s.ended(ctx, now, ended...)
	s.changedUser(ctx, id)
	if removed {
		s.mailQueued()
	}
	s.audit(ctx, EventMFAReset, id, fmt.Sprintf("factors removed: %t; %d sessions ended", removed, len(ended)))
	return nil
}

// chargeSecondStep counts one attempt of a login's second step against its
// challenge (hash): a challenge used up or expired, or an account disabled
// since the password, fails the check with that reason, whatever the
// factor presented.
func (s *Sessions) chargeSecondStep(ctx context.Context, u User, hash string, now time.Time) (checkOutcome, error) {
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
