package auth

import (
	"log/slog"
	"sync"

	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
)

// Services are Gatehouse's use cases, one service per concern, sharing one
// core (clock, audit, revocation fan-out). New wires them together.
type Services struct {
	Accounts *Accounts
	Sessions *Sessions
	Recovery *Recovery
	Factors  *Factors
	Passkeys *Passkeys
	Feed     *Feed
	Checks   *Checks
}

// Checks is the guarded path every check of a secret takes (guarded.go,
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

// Accounts are the users: register, import, profile, delete, the admin's
// rules, and the audit log (accounts.go, audit.go).
type Accounts struct {
	*core
	store    accountsStore
	hasher   Hasher
	checks   *Checks
	recovery *Recovery // the verification mail a sign-up sends
}

// Sessions are logins and what follows them: the MFA step, refresh,
// logout, the sessions list, re-authentication, a password change that
// keeps the session, and the OpenID Connect clients' sessions.
type Sessions struct {
	*core
	*issuer
	store   sessionsStore
	hasher  Hasher
	checks  *Checks
	factors *Factors // the second step of a login
}

// issuer signs a session's access tokens and mints its refresh tokens.
type issuer struct {
	*core
	store  issuerStore
	signer Signer
}

// Factors are the second factors: authenticator apps and recovery codes
// (factors.go).
type Factors struct {
	*core
	store  factorsStore
	sealer Sealer
	checks *Checks
}

// Passkeys are WebAuthn credentials: registration, passwordless login and
// the passkey answer to a second step (passkeys.go).
type Passkeys struct {
	*core
	store    passkeysStore
	webauthn *webauthn.WebAuthn // nil: no passkeys
	checks   *Checks
	sessions *Sessions // a passkey login starts one
}

// Recovery are the mailed links: verification, password reset, email
// change, and their background queue (recovery.go).
type Recovery struct {
	*core
	store   recoveryStore
	hasher  Hasher
	rec     *recovery // links and their background queue
	checks  *Checks
	factors *Factors // a reset asks for the second factor
}

// Feed keeps this instance's revocation set and user cache current from
// the database's change feed and the other instances (feed.go), and serves
// the feed to guard's clients.
type Feed struct {
	*core
	store ChangeStore
	revMu sync.Mutex // serialises SyncChanges
	feed  feedState  // how far the change feed has been read
}

// New wires the services. Deps.Signer may be nil only where no token is
// issued: then Sessions and Passkeys (which issue them) are nil.
func New(cfg Config, d Deps) *Services {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Count == nil {
		d.Count = func(string) {}
	}
	if d.RateLimited == nil {
		d.RateLimited = func(string) {}
	}
	if cfg.MaxSessionsPerUser <= 0 {
		cfg.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if cfg.ReauthMaxAge <= 0 {
		cfg.ReauthMaxAge = DefaultReauthMaxAge
	}
	c := &core{store: d.Store, revocations: d.Revocations, count: d.Count, fanout: d.Fanout, mailer: d.Mailer,
		onMail: d.MailQueued, users: newUserCache(100_000), cfg: cfg, log: d.Log}
	checks := &Checks{core: c, store: d.Store, hasher: d.Hasher, lockout: d.Lockout, limiter: d.Limiter, checkLimit: d.CheckLimit,
		rateLimited: d.RateLimited, floor: newCheckFloor()}
	factors := &Factors{core: c, store: d.Store, sealer: d.Sealer, checks: checks}
	recovery := &Recovery{core: c, store: d.Store, hasher: d.Hasher, rec: newRecovery(cfg.Recovery), checks: checks, factors: factors}
	s := &Services{
		Accounts: &Accounts{core: c, store: d.Store, hasher: d.Hasher, checks: checks, recovery: recovery},
		Recovery: recovery,
		Factors:  factors,
		Feed:     &Feed{core: c, store: d.Store},
		Checks:   checks,
	}
	if d.Signer != nil {
		s.Sessions = &Sessions{core: c, store: d.Store, issuer: &issuer{core: c, store: d.Store, signer: d.Signer}, hasher: d.Hasher, checks: checks, factors: factors}
		wa, err := newWebAuthn(cfg.Passkeys)
		if err != nil { // app.New validates the config first
			d.Log.Error("passkeys disabled", "err", err)
		}
		s.Passkeys = &Passkeys{core: c, store: d.Store, webauthn: wa, checks: checks, sessions: s.Sessions}
	}
	return s
}

// Service is temporary: its promoted methods are the API of the single
// Service this package had, so that callers keep compiling while they move
// to the services one by one; then it goes. It declares no method.
type Service struct {
	*accountsAPI
	*sessionsAPI
	*recoveryAPI
	*factorsAPI
	*passkeysAPI
	*feedAPI
	*checksAPI
}

// The services under names that leave their methods Sessions and Passkeys
// promoted to Service (an embedded field would take the type's name).
type (
	accountsAPI = Accounts
	sessionsAPI = Sessions
	recoveryAPI = Recovery
	factorsAPI  = Factors
	passkeysAPI = Passkeys
	feedAPI     = Feed
	checksAPI   = Checks
)

// NewService wires the services and returns them as one (temporary: see
// Service).
func NewService(cfg Config, d Deps) *Service { return Forward(New(cfg, d)) }

// Forward is the one Service over s (temporary: see Service).
func Forward(s *Services) *Service {
	return &Service{s.Accounts, s.Sessions, s.Recovery, s.Factors, s.Passkeys, s.Feed, s.Checks}
}
