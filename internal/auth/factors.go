package auth

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

// Factors are the second factors: authenticator apps and recovery codes
// (factors.go).
type Factors struct {
	*core
	store  factorsStore
	sealer Sealer
	checks *Checks
}

// Second factors: TOTP authenticators and recovery codes, the second step
// of a login (an mfa_token, then a code), re-authentication for sensitive
// actions, and the administrator's reset. Every code is checked through the
// guarded path (checks.go), so it shares the per-address limit and the
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
	AMRFed      = "fed" // an upstream identity provider vouched for the user
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

// Mailer renders the mails the services send (internal/mail.Templates).
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
	IDP                 string // the upstream provider of the first step, if any
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
	// errReauthPasswordless: an account with no password and no
	// authenticator app has nothing POST /me/reauthenticate checks.
	errReauthPasswordless = Errorf(CodeReauthenticationRequired, "This action needs a recent sign-in, and this account has no password or authenticator app to confirm it with: "+
		"confirm with a linked OpenID sign-in provider on the Security page (GitHub cannot confirm a fresh sign-in), "+
		"or set a password through \"Forgot password\" first, then try again.")
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

// MFALoginInput is the second step of a login: the mfa_token and either a
// TOTP code or a recovery code.
type MFALoginInput struct {
	Token        string
	Code         string
	RecoveryCode string
	Client       Client
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

// addAMR adds method to amr, and "mfa" once a first factor (pwd, or fed:
// an upstream provider's login) and a possession factor (otp, hwk) are both
// in it. The order is stable.
func addAMR(amr []string, method string) []string {
	set := map[string]bool{method: true}
	for _, m := range amr {
		set[m] = true
	}
	if (set[AMRPassword] || set[AMRFed]) && (set[AMROTP] || set[AMRHardware]) {
		set[AMRMFA] = true
	}
	var out []string
	for _, m := range []string{AMRPassword, AMRFed, AMROTP, AMRHardware, AMRUser, AMRMFA} {
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
