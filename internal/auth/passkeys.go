package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Passkeys are WebAuthn credentials: registration, passwordless login and
// the passkey answer to a second step (passkeys.go).
type Passkeys struct {
	*core
	store    passkeysStore
	webauthn *webauthn.WebAuthn // nil: no passkeys
	checks   *Checks
	sessions *Sessions // a passkey login starts one
}

// Passkeys (WebAuthn credentials, github.com/go-webauthn/webauthn): they
// are registered from a signed-in session (a recent login), sign in without
// a password (discoverable credentials, user verification required), and
// serve as the second factor after a password.
//
// A ceremony's begin stores the library's session data under the SHA-256 of
// its challenge, bound to a purpose and (but for a passwordless login) a
// user; the finish finds it again by the challenge in the clientDataJSON it
// was sent, and takes it in one statement, so each challenge works once,
// for PasskeyCeremonyTTL, and only for what it was begun for.
//
// What the library only reports, this file refuses: a signature counter
// that does not advance while the authenticator keeps one (CloneWarning: a
// possible cloned authenticator), and an assertion without user
// verification. Origins and the RP ID are the library's checks, against
// PasskeyConfig. Every assertion is checked through the guarded path
// (CheckPasskey): the per-address limit, the account's lockout when the
// account is known (the second step of a login), audit, one answer.

// PasskeyCeremonyTTL is how long a begun ceremony can be finished.
const PasskeyCeremonyTTL = 5 * time.Minute

// MethodPasskey is the second-step method of users with a passkey.
const MethodPasskey = "passkey"

// Ceremony purposes.
const (
	CeremonyRegistration = "registration"
	CeremonyLogin        = "login"
	CeremonyMFA          = "mfa"
)

// maxPasskeyName is the longest name of a passkey, in characters.
const maxPasskeyName = 64

// maxPasskeys is how many passkeys one user may register.
const maxPasskeys = 20

// PasskeyConfig is the relying party: its ID (a registrable domain, the
// public URL's host by default) and the origins its pages are served from.
// A zero RPID means no passkeys (503).
type PasskeyConfig struct {
	RPID        string
	Origins     []string
	DisplayName string // shown by authenticators; "" for "Gatehouse"
}

// PasskeyConfigFor is the relying party of a server reached at publicURL,
// with rpID overriding the URL's host when set.
func PasskeyConfigFor(publicURL, rpID string) (PasskeyConfig, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return PasskeyConfig{}, fmt.Errorf("passkeys: public URL %q is not an http(s) URL", publicURL)
	}
	host := u.Hostname()
	if rpID == "" {
		rpID = host
	}
	if rpID != host && !strings.HasSuffix(host, "."+rpID) {
		return PasskeyConfig{}, fmt.Errorf("passkeys: RP ID %q is neither the public URL's host %q nor a parent domain of it", rpID, host)
	}
	return PasskeyConfig{RPID: rpID, Origins: []string{u.Scheme + "://" + u.Host}}, nil
}

// Passkey is a registered WebAuthn credential, as stored.
type Passkey struct {
	ID             string
	UserID         string
	CredentialID   []byte
	PublicKey      []byte // COSE
	SignCount      uint32
	AAGUID         []byte
	Transports     []string
	Attestation    string // the attestation format
	BackupEligible bool
	BackupState    bool
	Name           string
	CreatedAt      time.Time
	LastUsedAt     time.Time // zero: never used to sign in
}

// Ceremony is a begun WebAuthn ceremony, as stored.
type Ceremony struct {
	Hash          string // SHA-256 (hex) of the challenge, base64url as sent
	Purpose       string
	UserID        string // "" for a passwordless login
	ChallengeHash string // the mfa challenge (purpose mfa)
	Session       []byte // webauthn.SessionData, JSON
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// PasskeyUse accepts an assertion of a passkey: its counter moves from Old
// to New and its last use and backup state are recorded, if the counter is
// still Old (compare-and-set); with ChallengeHash the mfa challenge is
// marked used in the same transaction.
type PasskeyUse struct {
	ID, UserID    string
	Old, New      uint32
	BackupState   bool
	ChallengeHash string
	Now           time.Time
}

var (
	errNoPasskeys      = Errorf(CodeUnavailable, "Passkeys are not available on this server.")
	errPasskeyRefused  = Errorf(CodeInvalidCredentials, "The passkey could not be verified, or this sign-in has expired; start again.")
	errPasskeyRegister = Errorf(CodeInvalidRequest, "The new passkey could not be verified, or its setup has expired; start again.")
	errPasskeyName     = Errorf(CodeInvalidRequest, "Give the passkey a name of 1 to %d characters.", maxPasskeyName)
	errTooManyPasskeys = Errorf(CodeInvalidRequest, "You have %d passkeys, the most an account may have; remove one first.", maxPasskeys)
)

// Validate reports a relying party the library refuses (bad origins).
func (c PasskeyConfig) Validate() error {
	_, err := newWebAuthn(c)
	return err
}

// newWebAuthn builds the library's relying party from cfg; nil without an RP ID.
func newWebAuthn(cfg PasskeyConfig) (*webauthn.WebAuthn, error) {
	if cfg.RPID == "" {
		return nil, nil
	}
	name := cfg.DisplayName
	if name == "" {
		name = "Gatehouse"
	}
	return webauthn.New(&webauthn.Config{
		RPID: cfg.RPID, RPDisplayName: name, RPOrigins: cfg.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		// Expiry is the ceremony store's, on the injected clock; the
		// library's own would read the wall clock.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: PasskeyCeremonyTTL, TimeoutUVD: PasskeyCeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: PasskeyCeremonyTTL, TimeoutUVD: PasskeyCeremonyTTL},
		},
	})
}

// passkeyUser is a user as the library sees it: the user handle is the
// user's ID.
type passkeyUser struct {
	u     User
	creds []webauthn.Credential
}

func (p *passkeyUser) WebAuthnID() []byte   { return []byte(p.u.ID) }
func (p *passkeyUser) WebAuthnName() string { return accountName(p.u) }
func (p *passkeyUser) WebAuthnDisplayName() string {
	if p.u.Name != "" {
		return p.u.Name
	}
	return accountName(p.u)
}
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

func credentialOf(p Passkey) webauthn.Credential {
	tr := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		tr[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{ID: p.CredentialID, PublicKey: p.PublicKey, AttestationFormat: p.Attestation, Transport: tr,
		Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: true, BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount}}
}

// passkeyUserOf loads u's passkeys for the library.
func (s *Passkeys) passkeyUserOf(ctx context.Context, u User) (*passkeyUser, []Passkey, error) {
	keys, err := s.store.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	pu := &passkeyUser{u: u}
	for _, k := range keys {
		pu.creds = append(pu.creds, credentialOf(k))
	}
	return pu, keys, nil
}

func challengeKey(challenge string) string {
	sum := sha256.Sum256([]byte(challenge))
	return hex.EncodeToString(sum[:])
}

// saveCeremony stores a begun ceremony's session data.
func (s *Passkeys) saveCeremony(ctx context.Context, sd *webauthn.SessionData, purpose, userID, challengeHash string) error {
	sd.Expires = time.Time{} // the store's expires_at decides, on the injected clock
	raw, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	now := s.now()
	return s.store.CreateCeremony(ctx, Ceremony{Hash: challengeKey(sd.Challenge), Purpose: purpose, UserID: userID,
		ChallengeHash: challengeHash, Session: raw, CreatedAt: now, ExpiresAt: now.Add(PasskeyCeremonyTTL)})
}

// takeCeremony takes the live ceremony of purpose whose challenge is the
// one the client signed; ok is false when there is none.
func (s *Passkeys) takeCeremony(ctx context.Context, challenge, purpose string) (Ceremony, webauthn.SessionData, bool, error) {
	var sd webauthn.SessionData
	if challenge == "" {
		return Ceremony{}, sd, false, nil
	}
	c, err := s.store.TakeCeremony(ctx, challengeKey(challenge), purpose, s.now())
	if ErrorCode(err) == CodeNotFound {
		return Ceremony{}, sd, false, nil
	} else if err != nil {
		return Ceremony{}, sd, false, err
	}
	if err := json.Unmarshal(c.Session, &sd); err != nil {
		return Ceremony{}, sd, false, fmt.Errorf("passkey ceremony: %w", err)
	}
	return c, sd, true, nil
}

// PasskeyView is a passkey as the user sees it.
type PasskeyView struct {
	ID         string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

func viewOf(p Passkey) PasskeyView {
	return PasskeyView{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt}
}

// Passkeys lists the user's passkeys, oldest first.
func (s *Passkeys) Passkeys(ctx context.Context, userID string) ([]PasskeyView, error) {
	keys, err := s.store.Passkeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]PasskeyView, 0, len(keys))
	for _, k := range keys {
		out = append(out, viewOf(k))
	}
	return out, nil
}

// BeginPasskeyRegistration starts adding a passkey (a recent login and a
// verified address, if any, are needed): creation options for a discoverable credential with user
// verification required, excluding the user's passkeys. The answer is the
// JSON for navigator.credentials.create ({"publicKey": ...}).
func (s *Passkeys) BeginPasskeyRegistration(ctx context.Context, userID, sessionID string) (json.RawMessage, error) {
	if s.webauthn == nil {
		return nil, errNoPasskeys
	}
	if err := s.requireRecentAuth(ctx, sessionID); err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := mayEnrol(u); err != nil {
		return nil, err
	}
	pu, keys, err := s.passkeyUserOf(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(keys) >= maxPasskeys {
		return nil, errTooManyPasskeys
	}
	creation, sd, err := s.webauthn.BeginRegistration(pu,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	if err := s.saveCeremony(ctx, sd, CeremonyRegistration, u.ID, ""); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// FinishPasskeyRegistration verifies the authenticator's answer to a
// registration this user began (a recent login is still needed) and stores
// the passkey under name.
func (s *Passkeys) FinishPasskeyRegistration(ctx context.Context, userID, sessionID, name string, credential []byte) (PasskeyView, error) {
	if s.webauthn == nil {
		return PasskeyView{}, errNoPasskeys
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxPasskeyName || strings.ContainsFunc(name, isControl) {
		return PasskeyView{}, errPasskeyName
	}
	if err := s.requireRecentAuth(ctx, sessionID); err != nil {
		return PasskeyView{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		s.audit(ctx, EventPasskeyRefused, userID, "registration: malformed credential")
		return PasskeyView{}, errPasskeyRegister
	}
	c, sd, ok, err := s.takeCeremony(ctx, parsed.Response.CollectedClientData.Challenge, CeremonyRegistration)
	if err != nil {
		return PasskeyView{}, err
	}
	if !ok || c.UserID != userID {
		s.audit(ctx, EventPasskeyRefused, userID, "registration: unknown, used, expired or another user's ceremony")
		return PasskeyView{}, errPasskeyRegister
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return PasskeyView{}, err
	}
	if err := mayEnrol(u); err != nil {
		return PasskeyView{}, err
	}
	pu, _, err := s.passkeyUserOf(ctx, u)
	if err != nil {
		return PasskeyView{}, err
	}
	cred, err := s.webauthn.CreateCredential(pu, sd, parsed)
	if err == nil && !parsed.Response.AttestationObject.AuthData.Flags.HasUserVerified() {
		err = errors.New("user verification missing")
	}
	if err != nil {
		s.audit(ctx, EventPasskeyRefused, userID, "registration: "+libraryReason(err))
		return PasskeyView{}, errPasskeyRegister
	}
	tr := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		tr[i] = string(t)
	}
	p := Passkey{ID: newID(), UserID: userID, CredentialID: cred.ID, PublicKey: cred.PublicKey,
		SignCount: cred.Authenticator.SignCount, AAGUID: cred.Authenticator.AAGUID, Transports: tr,
		Attestation: cred.AttestationFormat, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		Name: name, CreatedAt: s.now()}
	if err := s.store.AddPasskey(ctx, p); err != nil {
		return PasskeyView{}, err
	}
	s.changedUser(ctx, userID)
	s.audit(ctx, EventPasskeyAdded, userID, fmt.Sprintf("passkey %s %q", p.ID, p.Name))
	return viewOf(p), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// libraryReason is the go-webauthn error's detail, for the audit log.
func libraryReason(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.DevInfo != "" {
			return pe.Details + ": " + pe.DevInfo
		}
		return pe.Details
	}
	return err.Error()
}

// RenamePasskey renames one of the user's passkeys.
func (s *Passkeys) RenamePasskey(ctx context.Context, userID, id, name string) (PasskeyView, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxPasskeyName || strings.ContainsFunc(name, isControl) {
		return PasskeyView{}, errPasskeyName
	}
	if err := s.store.RenamePasskey(ctx, userID, id, name); err != nil {
		return PasskeyView{}, err
	}
	s.audit(ctx, EventPasskeyRenamed, userID, fmt.Sprintf("passkey %s %q", id, name))
	keys, err := s.store.Passkeys(ctx, userID)
	if err != nil {
		return PasskeyView{}, err
	}
	for _, k := range keys {
		if k.ID == id {
			return viewOf(k), nil
		}
	}
	return PasskeyView{}, Errorf(CodeNotFound, "The passkey was not found.")
}

// RemovePasskey removes one of the user's passkeys (a recent login is needed).
func (s *Passkeys) RemovePasskey(ctx context.Context, userID, sessionID, id string) error {
	if err := s.requireRecentAuth(ctx, sessionID); err != nil {
		return err
	}
	if err := s.store.DeletePasskey(ctx, userID, id, s.now()); err != nil {
		return err
	}
	s.changedUser(ctx, userID)
	s.audit(ctx, EventPasskeyRemoved, userID, "passkey "+id)
	return nil
}

// BeginPasskeyLogin starts a passwordless login: request options for a
// discoverable credential, user verification required. Each begin takes a
// token from the address's bucket (it stores a ceremony).
func (s *Passkeys) BeginPasskeyLogin(ctx context.Context, c Client) (json.RawMessage, error) {
	if s.webauthn == nil {
		return nil, errNoPasskeys
	}
	if err := s.checks.limitAddress(ctx, c, addressAction, s.checks.checkLimit); err != nil {
		return nil, err
	}
	assertion, sd, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey login: %w", err)
	}
	if err := s.saveCeremony(ctx, sd, CeremonyLogin, "", ""); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// LoginPasskey finishes a passwordless login with the authenticator's
// assertion: the token response, amr ["hwk", "user", "mfa"] (a key held by
// the authenticator, the user verified by it with a PIN or biometric: a
// multi-factor cryptographic authenticator, NIST SP 800-63B 5.1.9).
func (s *Passkeys) LoginPasskey(ctx context.Context, credential []byte, c Client) (*Tokens, error) {
	if s.webauthn == nil {
		return nil, errNoPasskeys
	}
	var u User
	err := s.checks.guarded(ctx, secretCheck{Kind: CheckPasskey, Client: c, Secret: string(credential), Unpadded: true,
		FailEvent: EventLoginFailed, Refusal: errPasskeyRefused,
		Check: func(ctx context.Context) (checkOutcome, error) {
			parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
			if err != nil {
				return checkOutcome{Reason: "passkey: malformed assertion"}, nil
			}
			_, sd, ok, err := s.takeCeremony(ctx, parsed.Response.CollectedClientData.Challenge, CeremonyLogin)
			if err != nil || !ok {
				return checkOutcome{Reason: "passkey: unknown, used or expired ceremony"}, err
			}
			var key Passkey
			var found User
			handler := func(rawID, userHandle []byte) (webauthn.User, error) {
				k, err := s.store.PasskeyByCredential(ctx, rawID)
				if err != nil {
					return nil, err
				}
				if k.UserID != string(userHandle) {
					return nil, errors.New("the credential belongs to another user")
				}
				if found, err = s.store.User(ctx, k.UserID); err != nil {
					return nil, err
				}
				key = k
				return &passkeyUser{u: found, creds: []webauthn.Credential{credentialOf(k)}}, nil
			}
			_, cred, err := s.webauthn.ValidatePasskeyLogin(handler, sd, parsed)
			if err != nil {
				return checkOutcome{Reason: "passkey: " + libraryReason(err), UserID: key.UserID}, nil
			}
			out, err := s.acceptAssertion(ctx, key, parsed, cred, "")
			if err == nil && out.OK && found.Disabled {
				out = checkOutcome{Reason: "disabled account"}
			}
			out.UserID = key.UserID
			u = found
			return out, err
		}})
	if err != nil {
		return nil, err
	}
	hash, err := s.store.PasswordHash(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	tokens, err := s.sessions.startSession(ctx, u, hash, c, []string{AMRHardware, AMRUser, AMRMFA}, "", "")
	if errors.Is(err, ErrCredentialsChanged) {
		s.audit(ctx, EventLoginFailed, u.ID, "account changed during the login")
		return nil, errPasskeyRefused
	}
	if err != nil {
		return nil, err
	}
	s.audit(ctx, EventLoginSucceeded, u.ID, "session "+tokens.SessionID+"; passkey")
	return tokens, nil
}

// acceptAssertion applies what the library only reports, then records the
// use: refused when the authenticator did not verify the user, or when its
// signature counter did not advance (it keeps one: a counter is 0 only for
// authenticators that keep none), audited as a possible clone.
func (s *Passkeys) acceptAssertion(ctx context.Context, key Passkey, parsed *protocol.ParsedCredentialAssertionData, cred *webauthn.Credential, challengeHash string) (checkOutcome, error) {
	flags := parsed.Response.AuthenticatorData.Flags
	if !flags.HasUserVerified() {
		return checkOutcome{Reason: "passkey: user verification missing"}, nil
	}
	if cred.Authenticator.CloneWarning {
		s.log.Warn("security: passkey signature counter did not advance", "user", key.UserID, "passkey", key.ID)
		s.audit(ctx, EventPasskeyCloned, key.UserID, fmt.Sprintf("passkey %s: possible cloned authenticator (counter %d, stored %d)",
			key.ID, parsed.Response.AuthenticatorData.Counter, key.SignCount))
		return checkOutcome{Reason: "passkey: possible cloned authenticator"}, nil
	}
	if !bytes.Equal(cred.ID, key.CredentialID) {
		return checkOutcome{Reason: "passkey: credential mismatch"}, nil
	}
	ok, err := s.store.UsePasskey(ctx, PasskeyUse{ID: key.ID, UserID: key.UserID, Old: key.SignCount,
		New: cred.Authenticator.SignCount, BackupState: flags.HasBackupState(), ChallengeHash: challengeHash, Now: s.now()})
	if err != nil {
		return checkOutcome{}, err
	}
	if !ok {
		return checkOutcome{Reason: "passkey: counter moved meanwhile, or the sign-in ended"}, nil
	}
	return checkOutcome{OK: true}, nil
}

// BeginPasskeyMFA starts the passkey ceremony of a login's second step:
// request options for the user's passkeys, user verification required. The
// mfa_token is checked as POST /login/mfa checks it (the guarded path, one
// attempt of its five), and stays live for the finish.
func (s *Passkeys) BeginPasskeyMFA(ctx context.Context, mfaToken string, c Client) (json.RawMessage, error) {
	if s.webauthn == nil {
		return nil, errNoPasskeys
	}
	hash := hashToken(mfaToken)
	ch, err := s.store.MFAChallenge(ctx, hash)
	now := s.now()
	if mfaToken == "" || ErrorCode(err) == CodeNotFound || (err == nil && (!ch.UsedAt.IsZero() || !ch.ExpiresAt.After(now) || ch.Failures >= MaxMFAFailures)) {
		_ = s.checks.guarded(ctx, secretCheck{Kind: CheckMFAToken, Client: c, Secret: mfaToken, Unpadded: true, FailEvent: EventLoginFailed,
			Check: func(context.Context) (checkOutcome, error) {
				return checkOutcome{Reason: "passkey: unknown, used or expired mfa_token"}, nil
			}})
		return nil, errInvalidCode
	} else if err != nil {
		return nil, err
	}
	if err := s.checks.limitAddress(ctx, c, addressAction, s.checks.checkLimit); err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, ch.UserID)
	if err != nil {
		return nil, err
	}
	pu, keys, err := s.passkeyUserOf(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, Errorf(CodeInvalidRequest, "This account has no passkey; use a code from your authenticator app.")
	}
	assertion, sd, err := s.webauthn.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey mfa: %w", err)
	}
	if err := s.saveCeremony(ctx, sd, CeremonyMFA, u.ID, hash); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// LoginMFAPasskey finishes a login's second step with a passkey assertion:
// through the guarded path with the account's lockout; the challenge is
// charged one attempt, and marked used in the transaction that accepts the
// assertion. amr: pwd, hwk, user, mfa.
func (s *Passkeys) LoginMFAPasskey(ctx context.Context, mfaToken string, credential []byte, c Client) (*Tokens, error) {
	if s.webauthn == nil {
		return nil, errNoPasskeys
	}
	if c != (Client{}) {
		ctx = WithClient(ctx, c)
	}
	hash := hashToken(mfaToken)
	ch, err := s.store.MFAChallenge(ctx, hash)
	if mfaToken == "" || ErrorCode(err) == CodeNotFound {
		_ = s.checks.guarded(ctx, secretCheck{Kind: CheckMFAToken, Secret: mfaToken, Unpadded: true, FailEvent: EventLoginFailed,
			Check: func(context.Context) (checkOutcome, error) {
				return checkOutcome{Reason: "passkey: unknown mfa_token"}, nil
			}})
		return nil, errInvalidCode
	} else if err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, ch.UserID)
	if err != nil {
		return nil, err
	}
	err = s.checks.guarded(ctx, secretCheck{Kind: CheckPasskey, Account: accountKey(u.ID), UserID: u.ID, Secret: string(credential),
		Unpadded: true, FailEvent: EventLoginFailed, Refusal: errInvalidCode,
		Check: func(ctx context.Context) (checkOutcome, error) {
			now := s.now()
			if out, err := s.sessions.chargeSecondStep(ctx, u, hash, now); out.Reason != "" || err != nil {
				return out, err
			}
			parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
			if err != nil {
				return checkOutcome{Reason: "passkey: malformed assertion"}, nil
			}
			cer, sd, ok, err := s.takeCeremony(ctx, parsed.Response.CollectedClientData.Challenge, CeremonyMFA)
			if err != nil || !ok {
				return checkOutcome{Reason: "passkey: unknown, used or expired ceremony"}, err
			}
			if cer.UserID != u.ID || cer.ChallengeHash != hash {
				return checkOutcome{Reason: "passkey: the ceremony belongs to another sign-in"}, nil
			}
			key, err := s.store.PasskeyByCredential(ctx, parsed.RawID)
			if ErrorCode(err) == CodeNotFound || (err == nil && key.UserID != u.ID) {
				return checkOutcome{Reason: "passkey: not a passkey of this account"}, nil
			} else if err != nil {
				return checkOutcome{}, err
			}
			pu := &passkeyUser{u: u, creds: []webauthn.Credential{credentialOf(key)}}
			sd.AllowedCredentialIDs = [][]byte{key.CredentialID} // the one the user owns and used
			cred, err := s.webauthn.ValidateLogin(pu, sd, parsed)
			if err != nil {
				return checkOutcome{Reason: "passkey: " + libraryReason(err)}, nil
			}
			return s.acceptAssertion(ctx, key, parsed, cred, hash)
		}})
	if err != nil {
		return nil, err
	}
	return s.sessions.finishMFALogin(ctx, u, ch, addAMR(addAMR(ch.AMR, AMRHardware), AMRUser), MethodPasskey)
}

// PasskeysEnabled reports whether the server has a relying party.
func (s *Passkeys) PasskeysEnabled() bool { return s.webauthn != nil }

// MFAChallengeMethods are the second-step methods of the live challenge of
// mfaToken, for the second login page to offer; none when it is not live.
// It checks nothing: every method's finish checks the token again.
func (s *Passkeys) MFAChallengeMethods(ctx context.Context, mfaToken string) []string {
	if mfaToken == "" {
		return nil
	}
	ch, err := s.store.MFAChallenge(ctx, hashToken(mfaToken))
	if err != nil || !ch.UsedAt.IsZero() || !ch.ExpiresAt.After(s.now()) {
		return nil
	}
	u, err := s.store.User(ctx, ch.UserID)
	if err != nil {
		return nil
	}
	return mfaMethods(u)
}
